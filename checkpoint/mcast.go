package checkpoint

import (
	"fmt"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/inetsock"

	"golang.org/x/sys/unix"
)

// inetMore saves what an inet socket holds besides its addresses and
// options: its multicast memberships and its socket filter.
func (d *dumper) inetMore(c int, in *inetsock.Info, st *image.Inet, refuse func(string) error) error {
	f, err := inetsock.ReadFilter(c)
	if err != nil {
		return refuse(fmt.Sprintf("%s socket %s: %v: not supported yet", in.ProtoName(), in.Local, err))
	}
	st.Filter = f
	if f != nil {
		d.w.RequireFeature("socket-filter")
	}
	return d.mcast(c, in, st, refuse)
}

// mcast saves the multicast memberships of inet socket c (in: what
// inetsock.Read saw) into st: each group joined on each interface of the
// app's network namespace is asked about (inetsock.Memberships). A UDP
// socket's are saved; a TCP socket has none (setsockopt fails with EPROTO:
// measured), and is not asked.
func (d *dumper) mcast(c int, in *inetsock.Info, st *image.Inet, refuse func(string) error) error {
	if in.Protocol == unix.IPPROTO_TCP {
		return nil // the kernel refuses a TCP socket's joins (EPROTO)
	}
	cands, err := inetsock.McastCandidates(d.pid)
	if err != nil {
		return fmt.Errorf("pid %d: the multicast groups of its network: %w", d.pid, err)
	}
	ms, err := inetsock.Memberships(c, in.Family, cands)
	if err != nil {
		return refuse(fmt.Sprintf("%s socket %s: its multicast memberships cannot be read (%v)", in.ProtoName(), in.Local, err))
	}
	if len(ms) > 0 && in.Protocol != unix.IPPROTO_UDP {
		return refuse(fmt.Sprintf("%s socket %s is a member of multicast groups (%s): not supported yet", in.ProtoName(), in.Local, inetsock.McastString(ms)))
	}
	st.Memberships = ms
	if len(ms) > 0 {
		d.w.RequireFeature("inet-multicast")
	}
	return nil
}
