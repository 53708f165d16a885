package checkpoint

import (
	"fmt"

	"github.com/crrun/crrun/internal/inetsock"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// Socket filters. A classic filter (SO_ATTACH_FILTER) is read back with
// SO_GET_FILTER and saved with a TCP, UDP or netlink socket (inetMore,
// dumper.netlink); the trap table lets the call through. The gate refuses a
// filter on a unix socket (not saved with it yet) by asking each one; an
// eBPF filter stays a sticky trap taint (nothing reads it back).

// filterRefusals refuses a filter, or a filter lock, on the app's unix
// sockets.
func filterRefusals(socks []sockFd) []seccomp.Finding {
	var out []seccomp.Finding
	for _, s := range socks {
		c, err := ptrace.CopyFd(s.host, s.fd)
		if err != nil {
			continue // gone
		}
		f, err := inetsock.ReadFilter(c)
		unix.Close(c)
		if err == nil && f == nil {
			continue
		}
		what := "a socket filter (SO_ATTACH_FILTER) or filter lock (SO_LOCK_FILTER)"
		if err != nil {
			what = err.Error()
		}
		out = append(out, seccomp.Finding{Pid: s.host, Kind: "sockopt", Fd: s.fd,
			Reason: fmt.Sprintf("CR: %s on a unix socket not supported yet (pid %d fd %d)", what, nsPid(s.host), s.fd)})
	}
	return out
}
