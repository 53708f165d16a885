// Package nfhold holds the traffic of TCP connections with the kernel's
// firewall (nf_tables, through github.com/google/nftables) while crrun
// saves them and, after checkpoint --exit, until their restore: a
// connection whose socket is gone would otherwise answer its peer's next
// segment with a RST. Every packet of a held connection is dropped: from
// its peer to it (input hook) and from it to its peer (output hook), at the
// raw priority (before conntrack).
//
// The rules live in one table, "inet crrun_hold", each with a comment
// naming its owner:
//
//	live <pid> <start> <id>   held by the crrun process pid (its start time
//	                          in clock ticks) during a checkpoint, removed
//	                          when the app runs on or is killed
//	image <id>                held for the image of checkpoint <id> (an
//	                          image's held connections name it), removed by
//	                          the restore of that image, whether it succeeds
//	                          or fails
//
// A crrun that dies during a checkpoint leaves its live rules: the next
// hold or release of any crrun removes live rules whose process is gone
// (Sweep). `nft delete table inet crrun_hold` removes every hold by hand.
package nfhold

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/crrun/crrun/internal/procfs"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// TableName is the nf_tables table of the holds (family inet).
const TableName = "crrun_hold"

// Conn is one connection: its local end and its peer.
type Conn struct{ Local, Peer netip.AddrPort }

var table = &nftables.Table{Family: nftables.TableFamilyINet, Name: TableName}

// LiveTag is the owner tag of this process's holds for checkpoint id.
func LiveTag(id string) string {
	st, err := procfs.Stat(os.Getpid())
	var start uint64
	if err == nil {
		start = st.StartTime
	}
	return fmt.Sprintf("live %d %d %s", os.Getpid(), start, id)
}

// ImageTag is the owner tag of the holds of the image of checkpoint id.
func ImageTag(id string) string { return "image " + id }

// setup makes the table and its two chains (an existing one is kept).
func setup(c *nftables.Conn) (in, out *nftables.Chain) {
	accept := nftables.ChainPolicyAccept
	c.AddTable(table)
	in = c.AddChain(&nftables.Chain{Name: "input", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityRaw, Policy: &accept})
	out = c.AddChain(&nftables.Chain{Name: "output", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityRaw, Policy: &accept})
	return in, out
}

// Probe says whether holds work here (nf_tables, CAP_NET_ADMIN): it makes
// the table and its chains, as a hold does, and sweeps.
func Probe() error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	setup(c)
	if err := c.Flush(); err != nil {
		return err
	}
	return Sweep()
}

// match is the expressions matching packets from src to dst (TCP).
func match(src, dst netip.AddrPort) []expr.Any {
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	proto, soff, doff := byte(unix.NFPROTO_IPV4), uint32(12), uint32(16)
	if s.Is6() {
		proto, soff, doff = unix.NFPROTO_IPV6, 8, 24
	}
	port := func(p uint16) []byte { return binary.BigEndian.AppendUint16(nil, p) }
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: soff, Len: uint32(len(s.AsSlice()))},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: s.AsSlice()},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: doff, Len: uint32(len(d.AsSlice()))},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: d.AsSlice()},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: port(src.Port())},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: port(dst.Port())},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

// Hold drops every packet of conns, the rules tagged tag, in one
// transaction.
func Hold(tag string, conns []Conn) error {
	if len(conns) == 0 {
		return nil
	}
	_ = Sweep()
	c, err := nftables.New()
	if err != nil {
		return err
	}
	in, out := setup(c)
	ud := userdata.AppendString(nil, userdata.TypeComment, tag)
	for _, k := range conns {
		c.AddRule(&nftables.Rule{Table: table, Chain: in, Exprs: match(k.Peer, k.Local), UserData: ud})
		c.AddRule(&nftables.Rule{Table: table, Chain: out, Exprs: match(k.Local, k.Peer), UserData: ud})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nf_tables: hold %d connections: %w", len(conns), err)
	}
	return nil
}

// Release removes the rules whose tag keep does not keep (nil: every rule
// tagged tag).
func release(keep func(tag string) bool) (int, error) {
	c, err := nftables.New()
	if err != nil {
		return 0, err
	}
	if _, err := c.ListTableOfFamily(TableName, nftables.TableFamilyINet); err != nil {
		return 0, nil // no table: nothing held
	}
	n := 0
	for _, name := range []string{"input", "output"} {
		ch := &nftables.Chain{Name: name, Table: table}
		rules, err := c.GetRules(table, ch)
		if err != nil {
			continue
		}
		for _, r := range rules {
			tag, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			if !keep(tag) {
				if err := c.DelRule(r); err != nil {
					return n, err
				}
				n++
			}
		}
	}
	if n == 0 {
		return 0, nil
	}
	if err := c.Flush(); err != nil {
		return 0, fmt.Errorf("nf_tables: release: %w", err)
	}
	return n, nil
}

// Release removes the rules tagged tag.
func Release(tag string) error {
	_, err := release(func(t string) bool { return t != tag })
	return err
}

// Sweep removes the live rules of crrun processes that are gone.
func Sweep() error {
	_, err := release(func(tag string) bool {
		f := strings.Fields(tag)
		if len(f) != 4 || f[0] != "live" {
			return true
		}
		pid, err1 := strconv.Atoi(f[1])
		start, err2 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return true
		}
		st, err := procfs.Stat(pid)
		return err == nil && st.StartTime == start
	})
	return err
}

// Tags lists the owner tags of the rules held now, one per rule.
func Tags() ([]string, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	if _, err := c.ListTableOfFamily(TableName, nftables.TableFamilyINet); err != nil {
		return nil, nil
	}
	var out []string
	for _, name := range []string{"input", "output"} {
		rules, err := c.GetRules(table, &nftables.Chain{Name: name, Table: table})
		if err != nil {
			continue
		}
		for _, r := range rules {
			t, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			out = append(out, t)
		}
	}
	return out, nil
}
