package seccomp

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// run emulates classic BPF over a seccomp_data, the way the kernel's action
// cache does (kernel/seccomp.c seccomp_cache_prepare_bitmap), and reports
// whether any instruction read the syscall arguments or the instruction
// pointer (offset >= 8).
func run(t *testing.T, prog []byte, arch uint32, nr int32, args [6]uint64) (ret uint32, readArgs bool) {
	t.Helper()
	data := make([]byte, 64)
	binary.LittleEndian.PutUint32(data[0:], uint32(nr))
	binary.LittleEndian.PutUint32(data[4:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[16+8*i:], a)
	}
	var A, X uint32
	var M [16]uint32
	n := len(prog) / 8
	for pc := 0; pc < n; pc++ {
		code := binary.LittleEndian.Uint16(prog[pc*8:])
		jt, jf := prog[pc*8+2], prog[pc*8+3]
		k := binary.LittleEndian.Uint32(prog[pc*8+4:])
		switch code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if k >= 8 {
				readArgs = true
			}
			A = binary.LittleEndian.Uint32(data[k:])
		case unix.BPF_LD | unix.BPF_MEM:
			A = M[k]
		case unix.BPF_LDX | unix.BPF_MEM:
			X = M[k]
		case unix.BPF_ST:
			M[k] = A
		case unix.BPF_STX:
			M[k] = X
		case unix.BPF_LD | unix.BPF_IMM:
			A = k
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			A &= k
		case unix.BPF_MISC | unix.BPF_TAX:
			X = A
		case unix.BPF_MISC | unix.BPF_TXA:
			A = X
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(k)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			var c bool
			switch code & 0xf0 {
			case unix.BPF_JEQ:
				c = A == k
			case unix.BPF_JGT:
				c = A > k
			case unix.BPF_JGE:
				c = A >= k
			case unix.BPF_JSET:
				c = A&k != 0
			}
			if c {
				pc += int(jt)
			} else {
				pc += int(jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return k, readArgs
		default:
			t.Fatalf("emulator: unhandled BPF opcode %#x at %d", code, pc)
		}
	}
	t.Fatal("emulator: fell off the program")
	return 0, false
}

func mustBuild(t *testing.T) *Filter {
	t.Helper()
	f, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Every syscall outside the table is allowed without the filter reading its
// arguments: the kernel's seccomp action cache then allows it without running
// the filter at all. This is what keeps crrun's untrapped overhead at the
// floor of any filter.
func TestUntrappedSyscallsAreConstantAllow(t *testing.T) {
	f := mustBuild(t)
	for _, a := range []struct {
		arch  uint32
		sarch libseccomp.ScmpArch
	}{{AuditArchX86_64, libseccomp.ArchAMD64}, {AuditArchI386, libseccomp.ArchX86}} {
		for nr := int32(0); nr < 470; nr++ {
			if _, rec := f.Recorded(a.arch, nr); f.Lookup(a.arch, nr) != nil || rec || f.IsAnswered(a.arch, nr) {
				continue
			}
			for _, args := range [][6]uint64{{}, {^uint64(0), 1, 2, 3, 4, 5}, {unix.AF_INET}} {
				ret, readArgs := run(t, f.BPF, a.arch, nr, args)
				if ret != unix.SECCOMP_RET_ALLOW || readArgs {
					name, _ := libseccomp.ScmpSyscall(nr).GetNameByArch(a.sarch)
					t.Fatalf("arch %#x syscall %d (%s): ret %#x, read args %v; want a constant allow", a.arch, nr, name, ret, readArgs)
				}
			}
		}
	}
}

func TestTrapConditions(t *testing.T) {
	f := mustBuild(t)
	nr := func(name string) int32 {
		sc, err := libseccomp.GetSyscallFromNameByArch(name, libseccomp.ArchAMD64)
		if err != nil {
			t.Fatal(err)
		}
		return int32(sc)
	}
	for _, tc := range []struct {
		arch uint32
		nr   int32
		args [6]uint64
		trap bool
	}{
		{AuditArchX86_64, nr("socket"), [6]uint64{unix.AF_INET}, true},
		{AuditArchX86_64, nr("socket"), [6]uint64{unix.AF_UNIX}, false},
		{AuditArchX86_64, nr("socketpair"), [6]uint64{unix.AF_UNIX}, false},
		{AuditArchX86_64, nr("io_uring_setup"), [6]uint64{}, true},
		{AuditArchX86_64, nr("clone"), [6]uint64{unix.CLONE_VM | unix.CLONE_THREAD}, false},
		{AuditArchX86_64, nr("clone"), [6]uint64{unix.CLONE_NEWNET | uint64(unix.SIGCHLD)}, true},
		{AuditArchX86_64, nr("clone"), [6]uint64{uint64(unix.SIGCHLD) | 0x80}, false}, // 0x80 is part of the exit signal byte
		{AuditArchX86_64, nr("unshare"), [6]uint64{unix.CLONE_NEWTIME}, true},
		{AuditArchX86_64, nr("unshare"), [6]uint64{unix.CLONE_FILES}, false},
		{AuditArchX86_64, nr("prctl"), [6]uint64{unix.PR_SET_NAME}, false},
		{AuditArchX86_64, nr("prctl"), [6]uint64{unix.PR_SET_SECCOMP}, true},
		{AuditArchX86_64, nr("personality"), [6]uint64{0xffffffff}, false},
		{AuditArchX86_64, nr("personality"), [6]uint64{0x40000}, true},
		{AuditArchX86_64, nr("ptrace"), [6]uint64{unix.PTRACE_PEEKDATA}, false},
		{AuditArchX86_64, nr("ptrace"), [6]uint64{unix.PTRACE_TRACEME}, true},
		{AuditArchX86_64, nr("modify_ldt"), [6]uint64{0}, false}, // read
		{AuditArchX86_64, nr("modify_ldt"), [6]uint64{1}, true},
		{AuditArchI386, 359, [6]uint64{unix.AF_INET}, true},         // socket
		{AuditArchI386, i386Socketcall, [6]uint64{sysSocket}, true}, // socketcall(SYS_SOCKET)
		{AuditArchI386, i386Socketcall, [6]uint64{3}, false},        // socketcall(SYS_CONNECT)
		{AuditArchI386, i386IPC, [6]uint64{ipcShmget}, true},
		{AuditArchI386, i386IPC, [6]uint64{1}, false}, // SEMOP
		{AuditArchI386, 20, [6]uint64{}, false},       // getpid
	} {
		ret, _ := run(t, f.BPF, tc.arch, tc.nr, tc.args)
		trapped := ret == unix.SECCOMP_RET_USER_NOTIF
		if trapped != tc.trap || (!trapped && ret != unix.SECCOMP_RET_ALLOW) {
			t.Errorf("arch %#x nr %d args %#x: ret %#x, want trap=%v", tc.arch, tc.nr, tc.args[0], ret, tc.trap)
		}
	}
}

func TestDecode(t *testing.T) {
	f := mustBuild(t)
	nr := func(name string) int32 {
		sc, _ := libseccomp.GetSyscallFromNameByArch(name, libseccomp.ArchAMD64)
		return int32(sc)
	}
	for _, tc := range []struct {
		n      Notif
		taint  bool
		reason string
	}{
		{Notif{Arch: AuditArchX86_64, Nr: nr("socket"), Args: [6]uint64{unix.AF_INET6, unix.SOCK_STREAM}}, false, ""},
		{Notif{Arch: AuditArchX86_64, Nr: nr("socket"), Args: [6]uint64{unix.AF_INET, unix.SOCK_DGRAM | unix.SOCK_CLOEXEC, unix.IPPROTO_UDP}}, false, ""},
		{Notif{Arch: AuditArchX86_64, Nr: nr("socket"), Args: [6]uint64{unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP}}, false, ""}, // checkpoint/raw.go
		{Notif{Arch: AuditArchX86_64, Nr: nr("socket"), Args: [6]uint64{unix.AF_INET, unix.SOCK_SEQPACKET, unix.IPPROTO_SCTP}}, true, "CR: socket(AF_INET, SCTP) not supported yet"},
		{Notif{Arch: AuditArchX86_64, Nr: nr("socket"), Args: [6]uint64{unix.AF_INET6, unix.SOCK_DGRAM, unix.IPPROTO_ICMPV6}}, false, ""}, // checkpoint/ping.go
		{Notif{Arch: AuditArchX86_64, Nr: nr("socket"), Args: [6]uint64{unix.AF_INET, unix.SOCK_DGRAM | unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP}}, false, ""},
		{Notif{Arch: AuditArchX86_64, Nr: nr("socket"), Args: [6]uint64{unix.AF_INET6, unix.SOCK_DGRAM, unix.IPPROTO_ICMP}}, true, "CR: socket(AF_INET6, ICMP ping) not supported yet"},
		{Notif{Arch: AuditArchX86_64, Nr: nr("socket"), Args: [6]uint64{unix.AF_PACKET, unix.SOCK_RAW, 0x0300}}, false, ""}, // checkpoint/packet.go
		{Notif{Arch: AuditArchX86_64, Nr: nr("socket"), Args: [6]uint64{unix.AF_PACKET, unix.SOCK_DGRAM | unix.SOCK_CLOEXEC, 0xb588}}, false, ""},
		{Notif{Arch: AuditArchX86_64, Nr: nr("socket"), Args: [6]uint64{unix.AF_PACKET, unix.SOCK_PACKET, 0x0300}}, true,
			"CR: socket(AF_PACKET, SOCK_PACKET) not supported yet (the obsolete interface: use SOCK_RAW or SOCK_DGRAM)"},
		{Notif{Arch: AuditArchX86_64, Nr: nr("setsockopt"), Args: [6]uint64{3, unix.SOL_PACKET, unix.PACKET_VERSION}}, false, ""}, // saved (image.PacketOptions)
		{Notif{Arch: AuditArchX86_64, Nr: nr("setsockopt"), Args: [6]uint64{3, unix.SOL_PACKET, unix.PACKET_RX_RING}}, true,
			"CR: setsockopt(SOL_PACKET, PACKET_RX_RING) sets up a receive ring, whose frames are shared with the app's memory: not supported yet"},
		{Notif{Arch: AuditArchX86_64, Nr: nr("socket"), Args: [6]uint64{unix.AF_NETLINK, unix.SOCK_RAW}}, false, ""}, // NETLINK_ROUTE: the checkpoint decides
		{Notif{Arch: AuditArchX86_64, Nr: nr("socket"), Args: [6]uint64{unix.AF_NETLINK, unix.SOCK_DGRAM | unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE}}, false, ""},
		{Notif{Arch: AuditArchX86_64, Nr: nr("socket"), Args: [6]uint64{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_KOBJECT_UEVENT}}, true, "CR: socket(AF_NETLINK, NETLINK_KOBJECT_UEVENT) not supported yet"},
		{Notif{Arch: AuditArchX86_64, Nr: nr("setsockopt"), Args: [6]uint64{3, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP}}, false, ""}, // saved (checkpoint/mcast.go)
		{Notif{Arch: AuditArchX86_64, Nr: nr("setsockopt"), Args: [6]uint64{3, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, 0x1000, 4}}, false, ""},
		{Notif{Arch: AuditArchX86_64, Nr: nr("setsockopt"), Args: [6]uint64{3, unix.IPPROTO_IPV6, unix.IPV6_JOIN_ANYCAST, 0x1000, 20}}, true,
			"CR: an IPv6 anycast address joined by a socket (IPV6_JOIN_ANYCAST: no interface shows a socket's) not supported yet"},
		{Notif{Arch: AuditArchX86_64, Nr: nr("setsockopt"), Args: [6]uint64{3, unix.SOL_SOCKET, unix.SO_ATTACH_BPF}}, true, "CR: an eBPF socket filter (setsockopt SO_ATTACH_BPF) not supported yet"},
		{Notif{Arch: AuditArchX86_64, Nr: nr("setsockopt"), Args: [6]uint64{3, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF}}, true, "CR: a SO_REUSEPORT group's program (setsockopt SO_ATTACH_REUSEPORT_CBPF/EBPF) not supported yet"},
		{Notif{Arch: AuditArchX86_64, Nr: nr("setsockopt"), Args: [6]uint64{3, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER}}, false, ""}, // read back at checkpoint
		{Notif{Arch: AuditArchX86_64, Nr: nr("socket"), Args: [6]uint64{unix.AF_UNIX}}, false, ""},
		{Notif{Arch: AuditArchX86_64, Nr: nr("socket"), Args: [6]uint64{99}}, true, "CR: socket(family 99) not supported yet"},
		{Notif{Arch: AuditArchX86_64, Nr: nr("personality"), Args: [6]uint64{0}}, false, ""},
		{Notif{Arch: AuditArchX86_64, Nr: nr("personality"), Args: [6]uint64{0x0440000}}, false, ""}, // flags restore sets back
		{Notif{Arch: AuditArchX86_64, Nr: nr("personality"), Args: [6]uint64{0x0008}}, false, ""},    // PER_LINUX32
		{Notif{Arch: AuditArchX86_64, Nr: nr("personality"), Args: [6]uint64{0x0040005}}, true,
			"CR: personality(execution domain 0x5|ADDR_NO_RANDOMIZE: a non-Linux execution domain or unknown flags) not supported yet"},
		{Notif{Arch: AuditArchX86_64, Nr: nr("unshare"), Args: [6]uint64{unix.CLONE_NEWNS | unix.CLONE_NEWUSER}}, true, "CR: new namespaces (CLONE_NEWNS|CLONE_NEWUSER) not supported yet"},
		{Notif{Arch: AuditArchX86_64, Nr: nr("prctl"), Args: [6]uint64{unix.PR_SET_MM}}, true, "CR: prctl(PR_SET_MM) not supported"},
		{Notif{Arch: AuditArchI386, Nr: i386IPC, Args: [6]uint64{ipcMsgget}}, true, "CR: SysV message queues not supported yet"},
		{Notif{Arch: AuditArchI386, Nr: 359, Args: [6]uint64{unix.AF_UNIX}}, false, ""},
	} {
		d := f.Decode(&tc.n, nil)
		if d.Taint != tc.taint || d.Reason != tc.reason {
			t.Errorf("%+v: got taint=%v %q, want %v %q", tc.n, d.Taint, d.Reason, tc.taint, tc.reason)
		}
	}
	// IP_MULTICAST_IF with a struct ip_mreqn: by index taints, by address not
	for _, tc := range []struct {
		ifindex byte
		taint   bool
	}{{0, false}, {2, true}} {
		n := Notif{Arch: AuditArchX86_64, Nr: nr("setsockopt"), Args: [6]uint64{3, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, 0x1000, 12}}
		d := f.Decode(&n, func(addr uint64, b []byte) error {
			b[8] = tc.ifindex
			return nil
		})
		if d.Taint != tc.taint || (tc.taint && d.Reason != "CR: IP_MULTICAST_IF by interface index (struct ip_mreqn: getsockopt shows only the address) not supported yet") {
			t.Errorf("IP_MULTICAST_IF ifindex %d: %+v", tc.ifindex, d)
		}
	}
	// socketcall reads the family from the task's memory
	n := Notif{Arch: AuditArchI386, Nr: i386Socketcall, Args: [6]uint64{sysSocket, 0x1000}}
	d := f.Decode(&n, func(addr uint64, b []byte) error {
		if addr != 0x1000 {
			return fmt.Errorf("addr %#x", addr)
		}
		binary.LittleEndian.PutUint32(b, unix.AF_PACKET)
		return nil
	})
	if !d.Taint || d.Reason != "CR: socket(AF_PACKET) not supported yet" {
		t.Errorf("socketcall: %+v", d)
	}
}

// Every table row is well formed: one reason form, a deny errno, a known scope.
func TestTableRows(t *testing.T) {
	for _, e := range Table {
		if e.Reason == nil || e.DenyErrno == 0 || e.Kind == "" || e.Why == "" {
			t.Errorf("%s: incomplete row", e.Syscall)
			continue
		}
		var args [6]uint64
		if len(e.Rules) > 0 {
			for _, c := range e.Rules[0] {
				switch c.Op {
				case OpEq:
					args[c.Arg] = c.Val
				case OpNe:
					args[c.Arg] = c.Val + 2
				case OpMaskedEq:
					args[c.Arg] = c.Val
				}
			}
		}
		r, ok := e.Reason(args)
		if !ok || !strings.HasPrefix(r, "CR: ") || !(strings.HasSuffix(r, " not supported yet") ||
			strings.HasSuffix(r, " not supported") || strings.HasSuffix(r, " cannot be read")) {
			t.Errorf("%s: reason %q (ok=%v) is not of the form 'CR: <what> not supported yet'", e.Syscall, r, ok)
		}
	}
}

// The path recorders trap every call, without reading arguments (the
// supervisor reads the path), and Decode never makes a taint of them.
func TestPathRecordersTrap(t *testing.T) {
	f := mustBuild(t)
	for _, name := range PathRecorders {
		sc, err := libseccomp.GetSyscallFromNameByArch(name, libseccomp.ArchAMD64)
		if err != nil {
			t.Fatal(err)
		}
		if ret, _ := run(t, f.BPF, AuditArchX86_64, int32(sc), [6]uint64{3, 0x1000, 0x100}); ret != unix.SECCOMP_RET_USER_NOTIF {
			t.Errorf("%s: ret %#x, want USER_NOTIF", name, ret)
		}
		if got, ok := f.Recorded(AuditArchX86_64, int32(sc)); !ok || got != name {
			t.Errorf("%s: Recorded = %q, %v", name, got, ok)
		}
		if f.Lookup(AuditArchX86_64, int32(sc)) != nil {
			t.Errorf("%s is also a NOCR row", name)
		}
	}
}

// getsockopt traps for SO_PEERPIDFD alone (the supervisor answers it for
// restored sockets); every other option runs without a notification.
func TestAnsweredPeerPidfd(t *testing.T) {
	f := mustBuild(t)
	if ret, _ := run(t, f.BPF, AuditArchX86_64, unix.SYS_GETSOCKOPT, [6]uint64{3, unix.SOL_SOCKET, SoPeerPidfd}); ret != unix.SECCOMP_RET_USER_NOTIF {
		t.Errorf("getsockopt(SO_PEERPIDFD): ret %#x, want a notification", ret)
	}
	for _, opt := range []uint64{unix.SO_ERROR, unix.SO_PEERCRED, unix.SO_RCVBUF} {
		if ret, _ := run(t, f.BPF, AuditArchX86_64, unix.SYS_GETSOCKOPT, [6]uint64{3, unix.SOL_SOCKET, opt}); ret != unix.SECCOMP_RET_ALLOW {
			t.Errorf("getsockopt(SOL_SOCKET, %d): ret %#x, want allow", opt, ret)
		}
	}
	if f.Lookup(AuditArchX86_64, unix.SYS_GETSOCKOPT) != nil {
		t.Error("getsockopt is in the NOCR index: it must never taint")
	}
}

// setsockopt: the options a checkpoint keeps go on untainted, any other
// taints naming it.
func TestSockoptGate(t *testing.T) {
	for _, c := range []struct {
		level, opt int
		taint      bool
	}{
		{unix.IPPROTO_TCP, unix.TCP_NODELAY, false},
		{unix.SOL_SOCKET, unix.SO_REUSEADDR, false},
		{unix.SOL_SOCKET, unix.SO_PASSCRED, false},
		{unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, false},
		{unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, false},
		{unix.SOL_SOCKET, unix.SO_ZEROCOPY, true},
		{unix.IPPROTO_UDP, unix.UDP_CORK, true},
		{unix.SOL_SOCKET, unix.SO_ATTACH_BPF, true},
	} {
		r, taint := multicastReason([6]uint64{3, uint64(c.level), uint64(c.opt)})
		if taint != c.taint || taint && !strings.HasPrefix(r, "CR: ") {
			t.Errorf("setsockopt(%d, %d): taint %v %q, want taint %v", c.level, c.opt, taint, r, c.taint)
		}
	}
}

// sendto, sendmsg and sendmmsg trap with MSG_OOB alone (the supervisor
// notes the socket: supervisor/urgent.go); never a taint.
func TestAnsweredUrgentSend(t *testing.T) {
	f := mustBuild(t)
	for _, c := range []struct {
		nr   int32
		flag int
	}{{unix.SYS_SENDTO, 3}, {unix.SYS_SENDMSG, 2}, {unix.SYS_SENDMMSG, 3}} {
		var args [6]uint64
		args[0] = 3
		args[c.flag] = unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL
		if ret, _ := run(t, f.BPF, AuditArchX86_64, c.nr, args); ret != unix.SECCOMP_RET_ALLOW {
			t.Errorf("%s without MSG_OOB: ret %#x, want allow", SyscallName(AuditArchX86_64, c.nr), ret)
		}
		if UrgentSend(AuditArchX86_64, c.nr, args) {
			t.Errorf("%s without MSG_OOB taken for an urgent send", SyscallName(AuditArchX86_64, c.nr))
		}
		args[c.flag] |= unix.MSG_OOB
		if ret, _ := run(t, f.BPF, AuditArchX86_64, c.nr, args); ret != unix.SECCOMP_RET_USER_NOTIF {
			t.Errorf("%s with MSG_OOB: ret %#x, want a notification", SyscallName(AuditArchX86_64, c.nr), ret)
		}
		if !UrgentSend(AuditArchX86_64, c.nr, args) || !f.IsAnswered(AuditArchX86_64, c.nr) {
			t.Errorf("%s with MSG_OOB not an answered urgent send", SyscallName(AuditArchX86_64, c.nr))
		}
		if f.Lookup(AuditArchX86_64, c.nr) != nil {
			t.Errorf("%s is in the NOCR index: it must never taint", SyscallName(AuditArchX86_64, c.nr))
		}
	}
}
