package inventory

import (
	"encoding/hex"
	"fmt"
	"os"

	"github.com/crrun/crrun/internal/inetsock"

	"golang.org/x/sys/unix"
)

// netOf says whose network namespace a process is in: "host" when it is
// the observer's own (crrun runs in the host's), "private" otherwise (the
// app's own, --net=private). Inode numbers differ across restores; which of
// the two it is does not.
func netOf(nsLink string) string {
	mine, err1 := os.Readlink("/proc/self/ns/net")
	its, err2 := os.Readlink(nsLink)
	switch {
	case err1 != nil || err2 != nil:
		return "unknown"
	case mine == its:
		return "host"
	}
	return "private"
}

// inet observes a TCP or UDP socket through crrun's copy c: its kind,
// state and addresses ("fd N inet") and each option of
// image.InetOptions ("fd N sockopt NAME", getsockopt's bytes in hex).
func (o *observer) inet(pre string, c int) {
	in, err := inetsock.Read(c)
	if err != nil || (in.Family != unix.AF_INET && in.Family != unix.AF_INET6) {
		return
	}
	if in.Protocol != unix.IPPROTO_TCP && in.Protocol != unix.IPPROTO_UDP {
		o.f[pre+" inet"] = fmt.Sprintf("family %d type %d protocol %d", in.Family, in.Type, in.Protocol)
		return
	}
	v := in.ProtoName()
	if in.Protocol == unix.IPPROTO_TCP {
		v += " " + inetsock.TCPStateName(in.TCPState)
	}
	if in.Bound() {
		v += " " + in.Local.String()
	}
	if in.Peer.IsValid() {
		v += " -> " + in.Peer.String()
	}
	o.f[pre+" inet"] = v
	for _, so := range inetsock.Options(c, in) {
		if in.Protocol == unix.IPPROTO_TCP && inetsock.Connected(in.TCPState) && inetsock.ConnIgnored(so.Name) {
			continue
		}
		if in.Protocol == unix.IPPROTO_TCP && inetsock.Connected(in.TCPState) && inetsock.Autotuned(c, so.Name) {
			// The kernel's tuning of a connection's buffer, not the
			// app's choice: it moves as bytes flow.
			o.f[pre+" sockopt "+so.Name] = "autotuned"
			continue
		}
		o.f[pre+" sockopt "+so.Name] = hex.EncodeToString(so.Value)
	}
	// Multicast memberships, with their interfaces and source filters.
	if cands, err := inetsock.McastCandidates(o.p.Host); err == nil && in.Protocol == unix.IPPROTO_UDP {
		if ms, err := inetsock.Memberships(c, in.Family, cands); err == nil && len(ms) > 0 {
			o.f[pre+" inet mcast"] = inetsock.McastString(ms)
		}
	}
	if f, err := inetsock.ReadFilter(c); err == nil && f != nil {
		o.f[pre+" inet filter"] = inetsock.FilterString(f)
	}
	// A connection's queues are not compared here: the kernel moves
	// bytes between the two ends of a connection in repair mode while
	// the tree is saved; the checkpoint checks that the two ends' saved
	// sequence numbers leave no byte out (checkpoint/inet.go, checkConns)
	// and the restore reads each queue back.
}
