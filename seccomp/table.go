package seccomp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// Scope says how long a taint lasts and who decides whether it is still there.
type Scope int

const (
	// ScanDecided: the state lives in an fd, a mapping or a /proc-visible
	// attribute; the checkpoint-time scan (Scan) is the authority, and the trap
	// record only tells who caused it. Closing the fd clears it.
	ScanDecided Scope = iota
	// Sticky: the kernel keeps no trace crrun can read back (keyrings, LDT
	// entries, ...): the taint lasts for the life of the process.
	Sticky
	// SysVDecided: SysV IPC objects live in the IPC namespace (the host's,
	// shared with the app), not in the process: the taint outlives the
	// process that made the call, and lasts while /proc/sysvipc shows an
	// object that is, or may be, the app's (SysVHeld).
	SysVDecided
)

func (s Scope) String() string {
	switch s {
	case Sticky:
		return "sticky"
	case SysVDecided:
		return "while /proc/sysvipc shows it"
	}
	return "fd/scan"
}

// Cond is one argument condition of a trap rule. A rule traps when all its
// conditions hold; an entry with no rules traps every call. Conditions live only
// inside the trapped syscall's branch of the filter, so every syscall outside the
// table stays constant-allow for the kernel's seccomp action cache.
type Cond struct {
	Arg  uint   // argument index 0..5
	Op   CmpOp  // comparison
	Val  uint64 // value
	Mask uint64 // for OpMaskedEq
}

// CmpOp is an argument comparison understood by libseccomp.
type CmpOp int

// Argument comparisons.
const (
	OpEq CmpOp = iota
	OpNe
	OpMaskedEq // (arg & Mask) == Val
)

// Entry is one row of the NOCR table: a syscall crrun cannot follow yet, when it
// traps, what it means and what --on-nocr=deny answers.
type Entry struct {
	Syscall string   // name as libseccomp knows it
	Kind    string   // what state it creates; scan findings use the same Kind
	Rules   [][]Cond // OR of AND-ed conditions; nil = always trap
	Scope   Scope
	// DenyErrno is the errno --on-nocr=deny returns: the one applications
	// handle best for this call (they fall back, or treat the feature as absent).
	DenyErrno unix.Errno
	// Reason renders the reason for decoded arguments. ok=false means this call
	// creates no NOCR state after all (e.g. personality(PER_LINUX)), and it is
	// answered CONTINUE without a taint.
	Reason func(args [6]uint64) (reason string, ok bool)
	// Why documents DenyErrno for docs/nocr.md.
	Why string
	// NewFds is how many fds the call creates (lowest free numbers first):
	// the supervisor notes which, so that `crrun status` names the call that
	// made the fd a scan finds, and no other.
	NewFds int
	// HostIPC: the row traps only when the app shares the host's IPC
	// namespace (--ipc=host); in its own, crrun saves what the call makes.
	HostIPC bool
	// MemReason, when set, decides instead of Reason with the trapped
	// task's memory (arguments passed by pointer); mem may fail, and the
	// call is then judged by what could not be read.
	MemReason func(args [6]uint64, mem MemReader) (reason string, ok bool)
	// StickyFor, when set, makes the taint of the calls it holds for
	// Sticky whatever Scope says (one row per syscall: prctl's options
	// differ), and Lasts says so in docs/nocr.md.
	StickyFor func(args [6]uint64) bool
	Lasts     string
}

// fixed returns a Reason func that always gives r.
func fixed(r string) func([6]uint64) (string, bool) {
	return func([6]uint64) (string, bool) { return r, true }
}

// Namespace flags. CLONE_NEWTIME (0x80) only means a namespace for unshare and
// clone3; in clone(2)'s first argument the low byte is the exit signal.
var nsFlags = []struct {
	bit  uint64
	name string
}{
	{unix.CLONE_NEWNS, "CLONE_NEWNS"},
	{unix.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
	{unix.CLONE_NEWUTS, "CLONE_NEWUTS"},
	{unix.CLONE_NEWIPC, "CLONE_NEWIPC"},
	{unix.CLONE_NEWUSER, "CLONE_NEWUSER"},
	{unix.CLONE_NEWPID, "CLONE_NEWPID"},
	{unix.CLONE_NEWNET, "CLONE_NEWNET"},
	{unix.CLONE_NEWTIME, "CLONE_NEWTIME"},
}

func nsRules(withTime bool) [][]Cond {
	var rules [][]Cond
	for _, f := range nsFlags {
		if f.bit == unix.CLONE_NEWTIME && !withTime {
			continue
		}
		rules = append(rules, []Cond{{Arg: 0, Op: OpMaskedEq, Mask: f.bit, Val: f.bit}})
	}
	return rules
}

func nsReason(withTime bool) func([6]uint64) (string, bool) {
	return func(a [6]uint64) (string, bool) {
		var names []string
		for _, f := range nsFlags {
			if f.bit == unix.CLONE_NEWTIME && !withTime {
				continue
			}
			if a[0]&f.bit != 0 {
				names = append(names, f.name)
			}
		}
		if len(names) == 0 {
			return "", false
		}
		return "CR: new namespaces (" + strings.Join(names, "|") + ") not supported yet", true
	}
}

// FamilyName names an address family the way users read it in the reason.
func FamilyName(f uint64) string {
	names := map[uint64]string{
		unix.AF_UNIX: "AF_UNIX", unix.AF_INET: "AF_INET", unix.AF_INET6: "AF_INET6",
		unix.AF_NETLINK: "AF_NETLINK", unix.AF_PACKET: "AF_PACKET", unix.AF_ALG: "AF_ALG",
		unix.AF_VSOCK: "AF_VSOCK", unix.AF_BLUETOOTH: "AF_BLUETOOTH", unix.AF_KEY: "AF_KEY",
		unix.AF_XDP: "AF_XDP", unix.AF_CAN: "AF_CAN", unix.AF_TIPC: "AF_TIPC",
		unix.AF_RDS: "AF_RDS", unix.AF_IB: "AF_IB", unix.AF_MPLS: "AF_MPLS",
		unix.AF_APPLETALK: "AF_APPLETALK", unix.AF_X25: "AF_X25", unix.AF_IPX: "AF_IPX",
	}
	if n, ok := names[f&0xffffffff]; ok {
		return n
	}
	return fmt.Sprintf("family %d", f&0xffffffff)
}

func socketReason(call string) func([6]uint64) (string, bool) {
	return func(a [6]uint64) (string, bool) {
		fam := a[0] & 0xffffffff
		if fam == unix.AF_UNIX {
			return "", false
		}
		if call == "socket" && (fam == unix.AF_INET || fam == unix.AF_INET6) {
			typ, proto := a[1]&0xf, a[2]&0xffffffff
			if (typ == unix.SOCK_STREAM || typ == unix.SOCK_DGRAM) && inetProtoSaved(proto) {
				return "", false // TCP and UDP: the checkpoint decides (checkpoint/inet.go)
			}
			if typ == unix.SOCK_RAW {
				return "", false // raw IP: the checkpoint decides (checkpoint/raw.go)
			}
			if typ == unix.SOCK_DGRAM && ((fam == unix.AF_INET && proto == unix.IPPROTO_ICMP) || (fam == unix.AF_INET6 && proto == unix.IPPROTO_ICMPV6)) {
				return "", false // ICMP ping: the checkpoint decides (checkpoint/ping.go)
			}
			return fmt.Sprintf("CR: %s(%s, %s) not supported yet", call, FamilyName(fam), InetKindName(typ, proto)), true
		}
		if call == "socket" && fam == unix.AF_NETLINK {
			typ, proto := a[1]&0xf, int(a[2]&0xffffffff)
			if _, ok := image.NetlinkSaved[proto]; ok && (typ == unix.SOCK_RAW || typ == unix.SOCK_DGRAM) {
				return "", false // NETLINK_ROUTE: the checkpoint decides (checkpoint/netlink.go)
			}
			return fmt.Sprintf("CR: %s(%s, %s) not supported yet", call, FamilyName(fam), image.NetlinkProtoName(proto)), true
		}
		if call == "socket" && fam == unix.AF_PACKET {
			switch a[1] & 0xf {
			case unix.SOCK_RAW, unix.SOCK_DGRAM:
				return "", false // the checkpoint decides (checkpoint/packet.go)
			case unix.SOCK_PACKET:
				return fmt.Sprintf("CR: %s(AF_PACKET, SOCK_PACKET) not supported yet (the obsolete interface: use SOCK_RAW or SOCK_DGRAM)", call), true
			}
		}
		return fmt.Sprintf("CR: %s(%s) not supported yet", call, FamilyName(a[0])), true
	}
}

// semUndoReason taints a semop that asks for SEM_UNDO with a non-zero
// sem_op in the host's IPC namespace (--ipc=host), where the semaphores
// are not saved at all. In the app's own namespace the adjustment is
// saved (checkpoint/semundo.go): the supervisor records which process made
// one (SemUndo), and only a call whose operations cannot be read taints.
// (A call that then fails made none; it is refused all the same.)
func semUndoReason(call string) func([6]uint64, MemReader) (string, bool) {
	return func(a [6]uint64, mem MemReader) (string, bool) {
		undo, num, op, err := semUndoFirst(a, mem)
		switch {
		case err != nil:
			return fmt.Sprintf("CR: %s(%d, ...) whose operations could not be read (SEM_UNDO?) not supported yet", call, int32(a[0])), true
		case undo:
			return fmt.Sprintf("CR: %s(semid %d, semaphore %d, op %d, SEM_UNDO): the undo adjustment cannot be saved (not supported yet)",
				call, int32(a[0]), num, op), true
		}
		return "", false
	}
}

// semUnreadableReason decides a semop in the app's own IPC namespace: its
// SEM_UNDO adjustments are saved, so only a call whose sembufs cannot be
// read (nobody can tell whether it makes one) taints.
func semUnreadableReason(call string) func([6]uint64, MemReader) (string, bool) {
	return func(a [6]uint64, mem MemReader) (string, bool) {
		if _, _, _, err := semUndoFirst(a, mem); err != nil {
			return fmt.Sprintf("CR: %s(%d, ...) whose operations could not be read (SEM_UNDO?) not supported yet", call, int32(a[0])), true
		}
		return "", false
	}
}

// SemUndo reads a trapped semop or semtimedop's operations (args: semid,
// sops, nsops) from the caller's memory and reports whether one asks for
// SEM_UNDO with a non-zero sem_op: that call (if it succeeds) leaves an
// adjustment in the caller's undo list. err is non-nil when the
// operations could not be read.
func SemUndo(a [6]uint64, mem MemReader) (undo bool, err error) {
	undo, _, _, err = semUndoFirst(a, mem)
	return undo, err
}

func semUndoFirst(a [6]uint64, mem MemReader) (undo bool, num uint16, op int16, err error) {
	const semUndo = 0x1000
	n := a[2]
	if n == 0 || n > 4096 { // the kernel fails it (E2BIG, EINVAL): nothing done
		return false, 0, 0, nil
	}
	buf := make([]byte, 6*n) // struct sembuf { u16 sem_num; s16 sem_op; s16 sem_flg; }
	if mem == nil {
		return false, 0, 0, errors.New("no memory reader")
	}
	if err := mem(a[1], buf); err != nil {
		return false, 0, 0, err
	}
	for i := uint64(0); i < n; i++ {
		b := buf[6*i:]
		op := int16(uint16(b[2]) | uint16(b[3])<<8)
		flg := uint16(b[4]) | uint16(b[5])<<8
		if flg&semUndo != 0 && op != 0 {
			return true, uint16(b[0]) | uint16(b[1])<<8, op, nil
		}
	}
	return false, 0, 0, nil
}

// inetProtoSaved: the protocols of AF_INET/AF_INET6 sockets the checkpoint
// saves (0: the type's default, TCP or UDP).
func inetProtoSaved(p uint64) bool {
	return p == 0 || p == unix.IPPROTO_TCP || p == unix.IPPROTO_UDP
}

// InetKindName names an AF_INET/AF_INET6 socket type and protocol for a
// reason: "SOCK_RAW", "ICMP ping", "SCTP"...
func InetKindName(typ, proto uint64) string {
	switch proto {
	case unix.IPPROTO_ICMP, unix.IPPROTO_ICMPV6:
		if typ == unix.SOCK_DGRAM {
			return "ICMP ping"
		}
	case unix.IPPROTO_SCTP:
		return "SCTP"
	case unix.IPPROTO_UDPLITE:
		return "UDP-Lite"
	case unix.IPPROTO_MPTCP:
		return "MPTCP"
	}
	switch typ {
	case unix.SOCK_RAW:
		return "SOCK_RAW"
	case unix.SOCK_SEQPACKET:
		return "SOCK_SEQPACKET"
	case unix.SOCK_RDM:
		return "SOCK_RDM"
	case unix.SOCK_DCCP:
		return "SOCK_DCCP"
	case unix.SOCK_PACKET:
		return "SOCK_PACKET"
	}
	return fmt.Sprintf("type %d protocol %d", typ, proto)
}

// notUnix traps socket families other than AF_UNIX. glibc's NSS opens an
// AF_UNIX socket to nscd in most programs: trapping those would be noise.
// TCP and UDP sockets trap too (one filter rule cannot tell them apart from
// raw or ping ones), and socketReason lets them go on untainted.
var notUnix = [][]Cond{{{Arg: 0, Op: OpNe, Val: unix.AF_UNIX}}}

// multicastReason judges the setsockopt calls that taint whatever their
// socket: attaching an eBPF socket filter or a SO_REUSEPORT group's program
// (the kernel shows those programs not at all), IPV6_JOIN_ANYCAST (a
// socket's anycast list: nothing reads it); IP_MULTICAST_IF is decided by
// multicastMemReason (its interface index is not shown: getsockopt gives
// only the address). A classic filter (SO_ATTACH_FILTER) is read back with
// SO_GET_FILTER (checkpoint/sockfilter.go); multicast joins are saved (the
// checkpoint reads a UDP socket's memberships, getsockopt MCAST_MSFILTER
// for each group its network's interfaces have joined, and refuses any
// other socket's: checkpoint/mcast.go). Every other option: sockoptReason.
func multicastReason(a [6]uint64) (string, bool) {
	level, opt := a[1]&0xffffffff, a[2]&0xffffffff
	switch {
	case level == unix.IPPROTO_IPV6 && opt == unix.IPV6_JOIN_ANYCAST:
		return "CR: an IPv6 anycast address joined by a socket (IPV6_JOIN_ANYCAST: no interface shows a socket's) not supported yet", true
	case level == unix.SOL_SOCKET && opt == unix.SO_ATTACH_BPF:
		return "CR: an eBPF socket filter (setsockopt SO_ATTACH_BPF) not supported yet", true
	case level == unix.SOL_SOCKET && (opt == unix.SO_ATTACH_REUSEPORT_CBPF || opt == unix.SO_ATTACH_REUSEPORT_EBPF):
		return "CR: a SO_REUSEPORT group's program (setsockopt SO_ATTACH_REUSEPORT_CBPF/EBPF) not supported yet", true
	case level == unix.IPPROTO_IP && opt == unix.IP_MULTICAST_IF:
		return "", false // by address: saved (image.InetOptions); by index: multicastMemReason
	}
	return sockoptReason(a)
}

// multicastMemReason reads IP_MULTICAST_IF's argument: an interface chosen
// by index (struct ip_mreqn with imr_ifindex) taints, as getsockopt gives
// back only the address; one chosen by address is an option the
// checkpoint saves (image.InetOptions).
func multicastMemReason(a [6]uint64, mem MemReader) (string, bool) {
	if a[1]&0xffffffff != unix.IPPROTO_IP || a[2]&0xffffffff != unix.IP_MULTICAST_IF {
		return multicastReason(a)
	}
	if int32(a[4]) < 12 { // struct in_addr or ip_mreq: by address
		return "", false
	}
	var b [12]byte
	if mem == nil || mem(a[3], b[:]) != nil {
		return "CR: setsockopt(IP_MULTICAST_IF) whose argument could not be read not supported yet", true
	}
	if b[8]|b[9]|b[10]|b[11] != 0 {
		return "CR: IP_MULTICAST_IF by interface index (struct ip_mreqn: getsockopt shows only the address) not supported yet", true
	}
	return "", false
}

const personalityQuery = 0xffffffff

// prctl options golang.org/x/sys may not name.
const (
	prSetSyscallUserDispatch = 59
	prSetMDWE                = 65
)

// SoPeerPidfd is SO_PEERPIDFD (Linux 6.5): getsockopt of a pidfd of the peer.
const SoPeerPidfd = 77

// Answered are calls trapped (x86_64) that never taint: the supervisor
// answers some of them itself and lets the others run. getsockopt
// SO_PEERPIDFD: for a restored unix socket made by a stand-in, the kernel
// would give a pidfd of the stand-in, which has exited; the supervisor
// gives one of the live process SO_PEERCRED names (supervisor/peerpidfd.go).
// sendto, sendmsg and sendmmsg with MSG_OOB: the supervisor notes the
// socket, whose urgent pointer nothing reads back (supervisor/urgent.go);
// the checkpoint refuses it while bytes wait in its send queue.
var Answered = []Entry{
	{Syscall: "getsockopt", Kind: "peerpidfd", Rules: [][]Cond{{{Arg: 1, Op: OpEq, Val: unix.SOL_SOCKET}, {Arg: 2, Op: OpEq, Val: SoPeerPidfd}}}},
	{Syscall: "sendto", Kind: "urgent", Rules: oobFlag(3)},
	{Syscall: "sendmsg", Kind: "urgent", Rules: oobFlag(2)},
	{Syscall: "sendmmsg", Kind: "urgent", Rules: oobFlag(3)},
	// NUMA memory policies (checkpoint/mempolicy.go): a process that set
	// a thread policy other than MPOL_DEFAULT, or bound an area, is noted;
	// its checkpoint asks every thread, or reads numa_maps.
	{Syscall: "set_mempolicy", Kind: "mempolicy", Rules: [][]Cond{{{Arg: 0, Op: OpNe, Val: 0}}}},
	{Syscall: "mbind", Kind: "mempolicy"},
}

// MempolicyCall says whether a notification is a set_mempolicy or mbind
// (an Answered row), and which.
func MempolicyCall(arch uint32, nr int32) (mbind, ok bool) {
	if arch != AuditArchX86_64 {
		return false, false
	}
	switch nr {
	case unix.SYS_SET_MEMPOLICY:
		return false, true
	case unix.SYS_MBIND:
		return true, true
	}
	return false, false
}

// oobFlag traps a send whose flags (argument i) include MSG_OOB.
func oobFlag(i uint) [][]Cond {
	return [][]Cond{{{Arg: i, Op: OpMaskedEq, Mask: unix.MSG_OOB, Val: unix.MSG_OOB}}}
}

// UrgentSend reports whether a notification is a send with MSG_OOB (an
// Answered row): the socket is args[0].
func UrgentSend(arch uint32, nr int32, args [6]uint64) bool {
	if arch != AuditArchX86_64 {
		return false
	}
	switch nr {
	case unix.SYS_SENDTO, unix.SYS_SENDMMSG:
		return args[3]&unix.MSG_OOB != 0
	case unix.SYS_SENDMSG:
		return args[2]&unix.MSG_OOB != 0
	}
	return false
}

// Table is the NOCR table: every syscall (and argument condition) that creates
// state crrun cannot checkpoint yet. When the engine learns to save a kind of
// state, its row leaves the table, and its kind leaves Scan, in the same change.
var Table = []Entry{
	{Syscall: "socket", NewFds: 1, Kind: "socket", Rules: notUnix, DenyErrno: unix.EACCES,
		Reason: socketReason("socket"), Why: "EACCES: what a sandbox that forbids the family returns; clients report it and fall back"},
	{Syscall: "socketpair", NewFds: 2, Kind: "socket", Rules: notUnix, DenyErrno: unix.EACCES,
		Reason: socketReason("socketpair"), Why: "as socket"},
	{Syscall: "setsockopt", Kind: "sockopt", DenyErrno: unix.ENOPROTOOPT, Scope: Sticky,
		Reason: multicastReason, MemReason: multicastMemReason, Why: "ENOPROTOOPT: what a kernel answers for an option it does not know; callers report it or do without"},
	{Syscall: "io_uring_setup", NewFds: 1, Kind: "io_uring", DenyErrno: unix.ENOSYS,
		Reason: fixed("CR: io_uring not supported yet"), Why: "ENOSYS: liburing users fall back to epoll/threads when io_uring is absent"},
	{Syscall: "io_setup", Kind: "aio", DenyErrno: unix.ENOSYS,
		Reason: fixed("CR: Linux AIO not supported yet"), Why: "ENOSYS: libaio users (and glibc's POSIX AIO) fall back to threads"},
	{Syscall: "userfaultfd", NewFds: 1, Kind: "userfaultfd", DenyErrno: unix.EPERM,
		Reason: fixed("CR: userfaultfd not supported yet"), Why: "EPERM: what unprivileged callers get when vm.unprivileged_userfaultfd=0"},
	{Syscall: "perf_event_open", NewFds: 1, Kind: "perf_event", DenyErrno: unix.EACCES,
		Reason: fixed("CR: perf_event_open not supported yet"), Why: "EACCES: what perf_event_paranoid gives; profilers report it and go on"},
	{Syscall: "bpf", Kind: "bpf", DenyErrno: unix.EPERM,
		Reason: fixed("CR: bpf maps/programs not supported yet"), Why: "EPERM: what unprivileged bpf() returns on most systems"},
	{Syscall: "shmget", HostIPC: true, Kind: "sysv_shm", DenyErrno: unix.ENOSYS, Scope: SysVDecided,
		Reason: fixed("CR: SysV shared memory not supported yet"), Why: "ENOSYS: as a kernel without CONFIG_SYSVIPC; callers fall back to mmap"},
	{Syscall: "shmat", HostIPC: true, Kind: "sysv_shm", DenyErrno: unix.ENOSYS,
		Reason: fixed("CR: SysV shared memory not supported yet"), Why: "as shmget"},
	{Syscall: "semget", HostIPC: true, Kind: "sysv_sem", DenyErrno: unix.ENOSYS, Scope: SysVDecided,
		Reason: fixed("CR: SysV semaphores not supported yet"), Why: "ENOSYS: as a kernel without CONFIG_SYSVIPC"},
	{Syscall: "msgget", HostIPC: true, Kind: "sysv_msg", DenyErrno: unix.ENOSYS, Scope: SysVDecided,
		Reason: fixed("CR: SysV message queues not supported yet"), Why: "ENOSYS: as a kernel without CONFIG_SYSVIPC"},
	{Syscall: "semop", Kind: "sem_undo", DenyErrno: unix.EINVAL, Scope: Sticky,
		Reason: fixed("CR: semop with SEM_UNDO not supported yet"), MemReason: semUndoReason("semop"),
		Why: "EINVAL: as for a bad sembuf; callers report it (only calls with SEM_UNDO are failed: with --ipc=host, or whose sembufs cannot be read; in the app's own IPC namespace the supervisor records the caller and the adjustment is saved)"},
	{Syscall: "semtimedop", Kind: "sem_undo", DenyErrno: unix.EINVAL, Scope: Sticky,
		Reason: fixed("CR: semtimedop with SEM_UNDO not supported yet"), MemReason: semUndoReason("semtimedop"),
		Why: "as semop"},
	{Syscall: "mq_open", HostIPC: true, NewFds: 1, Kind: "mqueue", DenyErrno: unix.ENOSYS,
		Reason: fixed("CR: POSIX message queues not supported yet"), Why: "ENOSYS: as a kernel without CONFIG_POSIX_MQUEUE"},
	{Syscall: "mq_notify", Kind: "mqueue_notify", DenyErrno: unix.ENOSYS, Scope: Sticky,
		Rules:  [][]Cond{{{Arg: 1, Op: OpNe, Val: 0}}},
		Reason: fixed("CR: POSIX message queue notifications (mq_notify) not supported yet"),
		Why:    "ENOSYS: as a kernel without CONFIG_POSIX_MQUEUE"},
	{Syscall: "fanotify_init", NewFds: 1, Kind: "fanotify", DenyErrno: unix.EPERM,
		Reason: fixed("CR: fanotify not supported yet"), Why: "EPERM: what unprivileged callers get"},
	{Syscall: "memfd_secret", NewFds: 1, Kind: "memfd_secret", DenyErrno: unix.ENOSYS,
		Reason: fixed("CR: memfd_secret memory cannot be read"), Why: "ENOSYS: as a kernel booted without secretmem"},
	{Syscall: "clone", Kind: "namespace", Rules: nsRules(false), DenyErrno: unix.EPERM,
		Reason: nsReason(false), Why: "EPERM: what an unprivileged caller gets; sandboxing code goes on without"},
	{Syscall: "unshare", Kind: "namespace", Rules: nsRules(true), DenyErrno: unix.EPERM,
		Reason: nsReason(true), Why: "as clone"},
	{Syscall: "setns", Kind: "namespace", DenyErrno: unix.EPERM,
		Reason: fixed("CR: joining other namespaces (setns) not supported yet"), Why: "as clone"},
	{Syscall: "keyctl", Kind: "keyring", DenyErrno: unix.ENOSYS, Scope: Sticky,
		Reason: fixed("CR: kernel keyrings not supported yet"), Why: "ENOSYS: as a kernel without CONFIG_KEYS; keyutils users fall back"},
	{Syscall: "add_key", Kind: "keyring", DenyErrno: unix.ENOSYS, Scope: Sticky,
		Reason: fixed("CR: kernel keyrings not supported yet"), Why: "as keyctl"},
	{Syscall: "request_key", Kind: "keyring", DenyErrno: unix.ENOSYS, Scope: Sticky,
		Reason: fixed("CR: kernel keyrings not supported yet"), Why: "as keyctl"},
	{Syscall: "ptrace", Kind: "ptrace", DenyErrno: unix.EPERM,
		Rules:  [][]Cond{{{Arg: 0, Op: OpEq, Val: unix.PTRACE_TRACEME}}, {{Arg: 0, Op: OpEq, Val: unix.PTRACE_ATTACH}}, {{Arg: 0, Op: OpEq, Val: unix.PTRACE_SEIZE}}},
		Reason: fixed("CR: ptrace inside the app not supported yet"), Why: "EPERM: what Yama or a missing capability gives; debuggers report it"},
	{Syscall: "seccomp", Kind: "seccomp", DenyErrno: unix.EINVAL,
		Rules: [][]Cond{{{Arg: 0, Op: OpEq, Val: unix.SECCOMP_SET_MODE_STRICT}}, {{Arg: 0, Op: OpEq, Val: unix.SECCOMP_SET_MODE_FILTER}}},
		Reason: func(a [6]uint64) (string, bool) {
			if a[0] == unix.SECCOMP_SET_MODE_FILTER {
				return filterReason(a[1])
			}
			return "CR: the app's own seccomp filter in strict mode not supported yet", true
		}, Why: "EINVAL: what a kernel without seccomp filters returns; sandboxes treat it as unavailable"},
	{Syscall: "prctl", Kind: "seccomp", DenyErrno: unix.EINVAL,
		Rules: [][]Cond{{{Arg: 0, Op: OpEq, Val: unix.PR_SET_MM}}, {{Arg: 0, Op: OpEq, Val: unix.PR_SET_SECCOMP}},
			{{Arg: 0, Op: OpEq, Val: prSetMDWE}}, {{Arg: 0, Op: OpEq, Val: prSetSyscallUserDispatch}, {Arg: 1, Op: OpNe, Val: 0}},
			{{Arg: 0, Op: OpEq, Val: unix.PR_SET_TSC}, {Arg: 1, Op: OpEq, Val: unix.PR_TSC_SIGSEGV}},
			{{Arg: 0, Op: OpEq, Val: unix.PR_MCE_KILL}, {Arg: 1, Op: OpEq, Val: unix.PR_MCE_KILL_SET}}},
		// Only PR_SET_SECCOMP makes state a scan sees (the filter count).
		StickyFor: func(a [6]uint64) bool { return a[0] != unix.PR_SET_SECCOMP },
		Lasts:     "fd/scan (PR_SET_SECCOMP); sticky (the others)",
		Reason: func(a [6]uint64) (string, bool) {
			switch a[0] {
			case prSetMDWE:
				if a[1] == 0 {
					return "", false // clears nothing: MDWE cannot be turned off
				}
				return "CR: prctl(PR_SET_MDWE) (memory-deny-write-execute: the checkpoint maps executable scratch memory into each process) not supported yet", true
			case unix.PR_SET_TSC:
				return "CR: prctl(PR_SET_TSC, PR_TSC_SIGSEGV) (a thread's rdtsc faulting: a restored thread would read the TSC) not supported yet", true
			case unix.PR_MCE_KILL:
				return "CR: prctl(PR_MCE_KILL) (a thread's machine-check kill policy: a restored thread would have the default) not supported yet", true
			case prSetSyscallUserDispatch:
				return "CR: syscall user dispatch (prctl PR_SET_SYSCALL_USER_DISPATCH: a restored thread would run without it) not supported yet", true
			case unix.PR_SET_SECCOMP:
				switch a[1] {
				case unix.SECCOMP_MODE_FILTER:
					return filterReason(0)
				case unix.SECCOMP_MODE_STRICT:
					return "CR: the app's own seccomp filter in strict mode not supported yet", true
				}
				return "", false // an invalid mode: EINVAL, nothing made
			case unix.PR_SET_MM:
				return "CR: prctl(PR_SET_MM) not supported", true
			}
			return "", false
		}, Why: "EINVAL for PR_SET_SECCOMP (as seccomp); PR_SET_MM, PR_SET_MDWE, syscall user dispatch, PR_SET_TSC and PR_MCE_KILL are refused the same way (what a kernel without them returns)"},
	{Syscall: "fcntl", Kind: "dnotify", DenyErrno: unix.EINVAL, Scope: Sticky,
		Rules:  [][]Cond{{{Arg: 1, Op: OpEq, Val: unix.F_NOTIFY}, {Arg: 2, Op: OpNe, Val: 0}}},
		Reason: fixed("CR: directory notifications (fcntl F_NOTIFY, dnotify: nothing shows a registration, a restored fd would have none) not supported yet"),
		Why:    "EINVAL: what a kernel without CONFIG_DNOTIFY returns"},
	{Syscall: "mlockall", Kind: "mlock_future", DenyErrno: unix.EPERM, Scope: Sticky,
		Rules:  [][]Cond{{{Arg: 0, Op: OpMaskedEq, Mask: unix.MCL_FUTURE, Val: unix.MCL_FUTURE}}},
		Reason: fixed("CR: mlockall(MCL_FUTURE) (nothing shows that future mappings are to be locked, a restore would not lock them) not supported yet"),
		Why:    "EPERM: what a caller without CAP_IPC_LOCK and a zero RLIMIT_MEMLOCK gets; callers report it and run unlocked"},
	{Syscall: "landlock_restrict_self", Kind: "landlock", DenyErrno: unix.ENOSYS, Scope: Sticky,
		Reason: fixed("CR: Landlock rulesets not supported"), Why: "ENOSYS: Landlock users treat it as best-effort and go on"},
	{Syscall: "pkey_alloc", Kind: "pkey", DenyErrno: unix.ENOSPC, Scope: Sticky,
		Reason: fixed("CR: memory protection keys not supported"), Why: "ENOSPC: 'no key available', which pkey users must handle anyway"},
	{Syscall: "modify_ldt", Kind: "ldt", DenyErrno: unix.ENOSYS, Scope: Sticky,
		Rules:  [][]Cond{{{Arg: 0, Op: OpEq, Val: 1}}, {{Arg: 0, Op: OpEq, Val: 0x11}}},
		Reason: fixed("CR: LDT entries (modify_ldt) not supported"), Why: "ENOSYS: as a kernel without CONFIG_MODIFY_LDT_SYSCALL"},
	{Syscall: "iopl", Kind: "ioport", DenyErrno: unix.EPERM, Scope: Sticky,
		Reason: fixed("CR: I/O port access (iopl) not supported"), Why: "EPERM: what a caller without CAP_SYS_RAWIO gets"},
	{Syscall: "ioperm", Kind: "ioport", DenyErrno: unix.EPERM, Scope: Sticky,
		Reason: fixed("CR: I/O port access (ioperm) not supported"), Why: "as iopl"},
	{Syscall: "personality", Kind: "personality", DenyErrno: unix.EINVAL,
		Rules: [][]Cond{{{Arg: 0, Op: OpNe, Val: personalityQuery}}},
		Reason: func(a [6]uint64) (string, bool) {
			p := a[0] & 0xffffffff
			if p == personalityQuery {
				return "", false
			}
			return PersonalityReason(p)
		}, Why: "EINVAL: what the kernel returns for a persona it does not know"},
}

func init() {
	for _, call := range []string{"mount", "umount2", "pivot_root", "chroot", "fsopen", "open_tree", "move_mount", "mount_setattr"} {
		Table = append(Table, Entry{Syscall: call, Kind: "mount", DenyErrno: unix.EPERM, Scope: Sticky,
			Reason: fixed("CR: mount/chroot changes (" + call + ") not supported yet"),
			Why:    "EPERM: what a caller without CAP_SYS_ADMIN gets"})
	}
}

// personalityFlags are the personality(2) flags restore sets back as they
// were (the value is saved and set again with personality(2); the flags
// that act at exec or mmap time have acted already and the mappings are
// restored as they are).
const personalityFlags = 0x0040000 | 0x0400000 | 0x0800000 | 0x0200000 | 0x1000000 |
	0x4000000 | 0x2000000 | 0x8000000 | 0x0100000 | 0x0020000

// Linux execution domains (PER_MASK, the low byte): PER_LINUX and
// PER_LINUX32. The others are no longer implemented by the kernel, which
// accepts and records them; crrun refuses them rather than vouch for them.
const (
	perMask    = 0xff
	perLinux   = 0x00
	perLinux32 = 0x08
)

// PersonalityReason says whether a personality value is state crrun cannot
// restore: only a non-Linux execution domain or unknown flag bits are.
func PersonalityReason(p uint64) (string, bool) {
	p &= 0xffffffff
	if d := p & perMask; (d == perLinux || d == perLinux32) && p&^(perMask|personalityFlags) == 0 {
		return "", false
	}
	return "CR: personality(" + PersonalityName(p) + ": a non-Linux execution domain or unknown flags) not supported yet", true
}

// CanSaveFilters says whether this crrun can save and restore an app's own
// seccomp filters: it needs CAP_SYS_ADMIN in the initial user namespace
// (PTRACE_SECCOMP_GET_FILTER, PTRACE_O_SUSPEND_SECCOMP), so root.
var CanSaveFilters = canSaveFilters()

func canSaveFilters() bool {
	if unix.Geteuid() != 0 {
		return false
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if unix.Capget(&hdr, &data[0]) != nil {
		return false
	}
	return data[0].Effective&(1<<unix.CAP_SYS_ADMIN) != 0
}

// seccomp filter flags restore can give a filter again (TSYNC acts at
// install time only; LOG is kept by the kernel and read back).
const savableFilterFlags = unix.SECCOMP_FILTER_FLAG_TSYNC | unix.SECCOMP_FILTER_FLAG_LOG | 1<<4 /* TSYNC_ESRCH */

func filterReason(flags uint64) (string, bool) {
	if !CanSaveFilters {
		return "CR: the app's own seccomp filter not supported yet", true // only root's crrun can save it
	}
	if flags&^savableFilterFlags != 0 {
		return fmt.Sprintf("CR: the app's own seccomp filter with flags %#x (a listener, SPEC_ALLOW…) not supported yet", flags), true
	}
	return "", false
}

// PersonalityName renders a personality value: ADDR_NO_RANDOMIZE|READ_IMPLIES_EXEC.
func PersonalityName(p uint64) string {
	flags := []struct {
		bit  uint64
		name string
	}{
		{0x0040000, "ADDR_NO_RANDOMIZE"}, {0x0400000, "READ_IMPLIES_EXEC"},
		{0x0800000, "ADDR_LIMIT_32BIT"}, {0x0200000, "MMAP_PAGE_ZERO"},
		{0x1000000, "SHORT_INODE"}, {0x4000000, "WHOLE_SECONDS"},
		{0x2000000, "STICKY_TIMEOUTS"}, {0x8000000, "ADDR_LIMIT_3GB"},
		{0x0100000, "UNAME26"}, {0x0020000, "FDPIC_FUNCPTRS"},
	}
	var names []string
	rest := p
	switch d := p & perMask; d {
	case perLinux:
	case perLinux32:
		names = append(names, "PER_LINUX32")
		rest &^= perMask
	default:
		names = append(names, fmt.Sprintf("execution domain %#x", d))
		rest &^= perMask
	}
	for _, f := range flags {
		if p&f.bit != 0 {
			names = append(names, f.name)
			rest &^= f.bit
		}
	}
	if rest != 0 || len(names) == 0 {
		names = append(names, fmt.Sprintf("%#x", rest))
	}
	return strings.Join(names, "|")
}
