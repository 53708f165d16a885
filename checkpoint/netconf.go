package checkpoint

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// The configuration of the app's own network namespace (--net=private).
// A restore makes a new namespace with lo up, nothing else; what the app
// configured there (as root: interfaces, addresses, routes) would be gone.
// So the gate compares what the namespace shows in /proc/PID/net with what
// a new namespace with lo up shows on this kernel, made once by crrun (a
// thread that unshares its network namespace, then ends), and refuses any
// difference. An ordinary user's app has no capability over its namespace
// and cannot change it. Not compared (not shown there): sysctls other than
// ping_group_range (saved), lo's MTU and flags, neighbour entries,
// traffic-control and nf_tables state (NETLINK_NETFILTER sockets and
// iptables' setsockopts are refused by the trap table).

// netConfig reads the configuration shown in dir (a /proc/.../net):
// interface names, IPv6 addresses, IPv4 main-table and IPv6 routes (without
// their use counters) and the IPv4 FIB with its local addresses.
func netConfig(dir string) ([]string, error) {
	var out []string
	read := func(name string, keep func(fields []string) string) error {
		b, err := os.ReadFile(dir + "/" + name)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			if k := keep(f); k != "" {
				out = append(out, name+": "+k)
			}
		}
		return nil
	}
	if err := read("dev", func(f []string) string {
		if n, ok := strings.CutSuffix(f[0], ":"); ok {
			return "interface " + n
		}
		return ""
	}); err != nil {
		return nil, err
	}
	if err := read("if_inet6", func(f []string) string { return strings.Join(f, " ") }); err != nil {
		return nil, err
	}
	if err := read("route", func(f []string) string {
		if len(f) < 11 || f[0] == "Iface" {
			return ""
		}
		return strings.Join(append(f[:4:4], f[6:]...), " ") // without RefCnt, Use
	}); err != nil {
		return nil, err
	}
	if err := read("ipv6_route", func(f []string) string {
		if len(f) < 10 {
			return strings.Join(f, " ")
		}
		return strings.Join(append(f[:6:6], f[8:]...), " ") // without refcnt, use
	}); err != nil {
		return nil, err
	}
	if err := read("fib_trie", func(f []string) string { return strings.Join(f, " ") }); err != nil {
		return nil, err
	}
	return out, nil
}

var freshNet struct {
	once sync.Once
	conf []string
	err  error
}

// freshNetConfig is netConfig of a new network namespace with lo up.
func freshNetConfig() ([]string, error) {
	freshNet.once.Do(func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			// Never unlocked: the thread ends with the goroutine, and
			// its namespace with it.
			runtime.LockOSThread()
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				freshNet.err = fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
				return
			}
			if err := loUp(); err != nil {
				freshNet.err = fmt.Errorf("lo up in a new network namespace: %w", err)
				return
			}
			freshNet.conf, freshNet.err = netConfig("/proc/thread-self/net")
		}()
		<-done
	})
	return freshNet.conf, freshNet.err
}

// loUp sets IFF_UP on lo in the caller's network namespace.
func loUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// netConfRefusal is why the gate refuses the app's own network namespace,
// seen through process init ("" if it is as a restore makes one).
func netConfRefusal(init int) string {
	ref, err := freshNetConfig()
	if err != nil {
		return "" // no reference (not root): the app cannot have changed it either
	}
	app, err := netConfig(fmt.Sprintf("/proc/%d/net", init))
	if err != nil {
		return ""
	}
	in := map[string]int{} // lines repeat (fib_trie's main and local tables)
	for _, l := range ref {
		in[l]++
	}
	var extra []string
	for _, l := range app {
		if in[l] == 0 {
			extra = append(extra, l)
			continue
		}
		in[l]--
	}
	for _, l := range ref {
		if in[l] > 0 {
			extra = append(extra, "gone: "+l)
			in[l]--
		}
	}
	if len(extra) == 0 {
		return ""
	}
	return fmt.Sprintf("CR: the app's network namespace (--net=private) is not as a restore makes it (lo up, nothing else): %s: "+
		"the interfaces, addresses and routes an app configures are not saved: not supported yet", strings.Join(extra, "; "))
}
