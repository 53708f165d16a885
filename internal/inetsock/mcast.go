package inetsock

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// Multicast memberships. The kernel lists no socket's memberships, but
// getsockopt(MCAST_MSFILTER) answers, for one group on one interface,
// whether the socket is a member (EADDRNOTAVAIL: it is not) with its
// source filter (mode and sources). Every membership of a socket also
// counts in its interface's group list (/proc/PID/net/igmp, igmp6): those
// pairs are the candidates asked about.

// McastCandidate is a group joined on an interface of a network namespace.
type McastCandidate struct {
	Group   netip.Addr
	Ifindex int
	Dev     string
}

// McastCandidates reads the groups joined on each interface of pid's
// network namespace.
func McastCandidates(pid int) ([]McastCandidate, error) {
	var out []McastCandidate
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/igmp", pid))
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(f)
	idx, dev := 0, ""
	for sc.Scan() {
		line := sc.Text()
		fs := strings.Fields(line)
		if len(fs) == 0 || fs[0] == "Idx" {
			continue
		}
		if !strings.HasPrefix(line, "\t") {
			idx, _ = strconv.Atoi(fs[0])
			dev = fs[1]
			continue
		}
		v, err := strconv.ParseUint(fs[0], 16, 32)
		if err != nil || idx == 0 {
			continue
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(v)) // the kernel prints the __be32 as a host number
		out = append(out, McastCandidate{Group: netip.AddrFrom4(b), Ifindex: idx, Dev: dev})
	}
	f.Close()
	if err := sc.Err(); err != nil {
		return nil, err
	}
	f, err = os.Open(fmt.Sprintf("/proc/%d/net/igmp6", pid))
	if errors.Is(err, os.ErrNotExist) {
		return out, nil // no IPv6
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc = bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 || len(fs[2]) != 32 {
			continue
		}
		idx, err1 := strconv.Atoi(fs[0])
		b, err2 := hex.DecodeString(fs[2])
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, McastCandidate{Group: netip.AddrFrom16([16]byte(b)), Ifindex: idx, Dev: fs[1]})
	}
	return out, sc.Err()
}

// group_filter's layout on x86_64 (linux/in.h): gf_interface, then
// sockaddr_storage gf_group at 8, gf_fmode at 136, gf_numsrc at 140, the
// sources (128 bytes each) from 144.
const (
	gfGroup  = 8
	gfFmode  = 136
	gfNumsrc = 140
	gfSlist  = 144
	ssSize   = 128
)

func putStorage(b []byte, a netip.Addr) {
	if a.Is4() {
		binary.LittleEndian.PutUint16(b, unix.AF_INET)
		copy(b[4:8], a.AsSlice())
		return
	}
	binary.LittleEndian.PutUint16(b, unix.AF_INET6)
	copy(b[8:24], a.AsSlice())
}

func getStorage(b []byte) netip.Addr {
	switch binary.LittleEndian.Uint16(b) {
	case unix.AF_INET:
		return netip.AddrFrom4([4]byte(b[4:8]))
	case unix.AF_INET6:
		return netip.AddrFrom16([16]byte(b[8:24]))
	}
	return netip.Addr{}
}

func mcastLevel(group netip.Addr) int {
	if group.Is4() {
		return unix.IPPROTO_IP
	}
	return unix.IPPROTO_IPV6
}

// msfilter asks fd for its filter on group at ifindex; ok=false: not a
// member.
func msfilter(fd int, group netip.Addr, ifindex int) (m image.McastMembership, ok bool, err error) {
	for n := 16; ; n *= 16 {
		b := make([]byte, gfSlist+n*ssSize)
		binary.LittleEndian.PutUint32(b, uint32(ifindex))
		putStorage(b[gfGroup:], group)
		binary.LittleEndian.PutUint32(b[gfNumsrc:], uint32(n))
		if _, err := getsockopt(fd, mcastLevel(group), unix.MCAST_MSFILTER, b); err != nil {
			if errors.Is(err, unix.EADDRNOTAVAIL) {
				return m, false, nil
			}
			return m, false, fmt.Errorf("getsockopt(MCAST_MSFILTER, %s on interface %d): %w", group, ifindex, err)
		}
		count := int(binary.LittleEndian.Uint32(b[gfNumsrc:]))
		if count > n {
			if n >= 4096 {
				return m, false, fmt.Errorf("group %s on interface %d: %d sources", group, ifindex, count)
			}
			continue
		}
		m = image.McastMembership{Group: group.String(), Ifindex: ifindex, Exclude: binary.LittleEndian.Uint32(b[gfFmode:]) == unix.MCAST_EXCLUDE}
		for i := 0; i < count; i++ {
			m.Sources = append(m.Sources, getStorage(b[gfSlist+i*ssSize:]).String())
		}
		return m, true, nil
	}
}

// Memberships lists the multicast memberships of inet socket fd of family
// among the candidates (an IPv6 socket may hold IPv4 ones too).
func Memberships(fd, family int, cands []McastCandidate) ([]image.McastMembership, error) {
	var out []image.McastMembership
	seen := map[McastCandidate]bool{}
	for _, c := range cands {
		if (c.Group.Is6() && family != unix.AF_INET6) || seen[c] {
			continue
		}
		seen[c] = true
		m, ok, err := msfilter(fd, c.Group, c.Ifindex)
		if err != nil && c.Group.Is4() && family == unix.AF_INET6 && errors.Is(err, unix.ENOPROTOOPT) {
			continue // a raw IPv6 socket has no IPv4 memberships (SOL_IP is not its)
		}
		if err != nil {
			return nil, err
		}
		if ok {
			m.Dev = c.Dev
			out = append(out, m)
		}
	}
	return out, nil
}

// Join makes fd a member of each group again, on the same interface (its
// index, checked to be the same device by name in the socket's network
// namespace), with its source filter, then reads the memberships back.
func Join(fd, family int, ms []image.McastMembership) error {
	var cands []McastCandidate
	// In reverse: each join goes to the head of its interface's list
	// (/proc/net/igmp), which Memberships read from the head.
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		g, err := netip.ParseAddr(m.Group)
		if err != nil || !g.IsMulticast() {
			return fmt.Errorf("multicast group %q", m.Group)
		}
		ifr, err := unix.NewIfreq(m.Dev)
		if err != nil {
			return fmt.Errorf("group %s: interface %q: %w", g, m.Dev, err)
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil || int(ifr.Uint32()) != m.Ifindex {
			return fmt.Errorf("group %s on interface %s (index %d): this network has no %s at index %d (%v)", g, m.Dev, m.Ifindex, m.Dev, m.Ifindex, err)
		}
		req := make([]byte, gfGroup+ssSize)
		binary.LittleEndian.PutUint32(req, uint32(m.Ifindex))
		putStorage(req[gfGroup:], g)
		if err := setsockopt(fd, mcastLevel(g), unix.MCAST_JOIN_GROUP, req); err != nil {
			return fmt.Errorf("join group %s on %s: %w", g, m.Dev, err)
		}
		if !m.Exclude || len(m.Sources) > 0 {
			b := make([]byte, gfSlist+len(m.Sources)*ssSize)
			binary.LittleEndian.PutUint32(b, uint32(m.Ifindex))
			putStorage(b[gfGroup:], g)
			if m.Exclude {
				binary.LittleEndian.PutUint32(b[gfFmode:], unix.MCAST_EXCLUDE)
			} else {
				binary.LittleEndian.PutUint32(b[gfFmode:], unix.MCAST_INCLUDE)
			}
			binary.LittleEndian.PutUint32(b[gfNumsrc:], uint32(len(m.Sources)))
			for i, s := range m.Sources {
				a, err := netip.ParseAddr(s)
				if err != nil || a.Is4() != g.Is4() {
					return fmt.Errorf("group %s: source %q", g, s)
				}
				putStorage(b[gfSlist+i*ssSize:], a)
			}
			if err := setsockopt(fd, mcastLevel(g), unix.MCAST_MSFILTER, b); err != nil {
				return fmt.Errorf("group %s on %s: its source filter: %w", g, m.Dev, err)
			}
		}
		cands = append(cands, McastCandidate{Group: g, Ifindex: m.Ifindex, Dev: m.Dev})
	}
	got, err := Memberships(fd, family, cands)
	if err != nil {
		return err
	}
	if a, b := McastString(got), McastString(ms); a != b {
		return fmt.Errorf("memberships %q after joining, want %q", a, b)
	}
	return nil
}

// McastString renders memberships for a comparison or a reason, sorted:
// "239.1.2.3%lo(1) exclude{}; ...".
func McastString(ms []image.McastMembership) string {
	var parts []string
	for _, m := range ms {
		mode := "include"
		if m.Exclude {
			mode = "exclude"
		}
		parts = append(parts, fmt.Sprintf("%s%%%s(%d) %s{%s}", m.Group, m.Dev, m.Ifindex, mode, strings.Join(m.Sources, ",")))
	}
	sort.Strings(parts) // a socket's own list has no order anyone can see
	return strings.Join(parts, "; ")
}
