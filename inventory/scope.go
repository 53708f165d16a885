package inventory

// OutOfScope are the kinds of state this crrun does not save at all: each is
// refused, with its reason, before a checkpoint could lose it — by the trap
// table and the scan (seccomp.Table, seccomp.Scan: from the moment the app
// creates it, in `crrun status` too) or by the dump. docs/nocr.md lists them
// under the saved kinds; the NOCR table below it gives each trap's reason.
var OutOfScope = []struct {
	Name, Refused, Why string
}{
	{"netlink sockets other than NETLINK_ROUTE, SCTP, UDP-Lite and MPTCP sockets; packet sockets with a ring, a fanout group or a membership (promiscuous, multicast), SOCK_PACKET; ping, raw and packet sockets with packets queued (after 1 s of retries); TCP connections to peers outside the app for an ordinary user or on another host, connections that have ended, connecting ones; eBPF socket filters and SO_REUSEPORT programs, IP_MULTICAST_IF by interface index; any socket option no checkpoint saves (setsockopt of an option outside the option tables)",
		"`CR: socket(AF_NETLINK, NETLINK_KOBJECT_UEVENT) not supported yet` (trap and gate), `CR: socket(AF_INET, SCTP) not supported yet` (trap and scan); `CR: setsockopt(SOL_PACKET, PACKET_RX_RING) sets up a receive ring, whose frames are shared with the app's memory: not supported yet` (sticky trap); SOCK_PACKET, a fanout group and queued packets by the gate or the dump, naming the socket; the connections by the checkpoint's gate, naming the fd and both addresses (status too); eBPF filters, IP_MULTICAST_IF by index and options outside the tables by a sticky trap naming the option",
		"a peer outside the app needs its traffic held with the firewall (root; a peer on another host runs on: a job across nodes); the other states and kinds are planned work (issue 10)"},
	{"unix sockets: files in flight (SCM_RIGHTS) on a stream socket whose peer has closed (or is outside the app), that is shut down (the reader for reading, its peer for writing), or whose reader has SO_PASSCRED/SO_PASSPIDFD when crrun is not root, connections in a backlog with bytes in them or whose connecting end closed, peers outside the app, the credentials of a sender that has exited of bytes queued for a reader with SO_PASSCRED, datagrams restore cannot send again from their sender",
		"by the dump, naming the fd (status sees what sock_diag and fdinfo show)",
		"a peek cannot tell where the stream bytes that carry the files start: the dump reads the queue and sends it again from the peer, which must be there and may send, naming the senders again (root) for a reader that passes credentials; a backlog connection's bytes cannot be read without accepting it; a sender's pid can be named again only while it lives (issue 10)"},
	{"SysV IPC with --ipc=host (the host's IPC namespace)",
		"trap and scan, for as long as /proc/sysvipc shows the object",
		"objects in the host's namespace cannot be told apart from other programs'; in the app's own namespace (the default) they are saved (the SysV IPC kind)"},
	{"SysV semaphore undo lists (semop with SEM_UNDO) with --ipc=host, shared between processes (clone or clone3 with CLONE_SYSVSEM without CLONE_THREAD), or not shared by every thread of a process",
		"trap (sticky), naming the call: `CR: semtimedop(semid 0, semaphore 0, op 1, SEM_UNDO): the undo adjustment cannot be saved (not supported yet)` (--ipc=host); by the dump, naming the processes or threads",
		"the kernel's undo list has no interface: crrun reads one process's list through its own operations (the app's own namespace: the SysV IPC kind), which cannot see another process's share; a restore makes every thread share its process's list"},
	{"POSIX message queues with --ipc=host; in the app's own namespace, a queue removed while open, a full queue, mq_notify registrations",
		"`CR: POSIX message queues not supported yet` (trap and scan, --ipc=host); by the scan and the dump naming the fd or queue; `CR: POSIX message queue notifications (mq_notify) not supported yet` (trap, sticky)",
		"a removed queue cannot be reached by name; reading a full queue would let a blocked sender's message in; a registration is made by its process and cannot be made again for it"},
	{"io_uring, Linux AIO, userfaultfd, perf_event, bpf objects, fanotify, memfd_secret",
		"trap and scan (the fd or mapping)",
		"kernel objects with in-flight state no interface reads back"},
	{"namespaces the app creates, mount and chroot changes, ptrace inside the app, kernel keyrings, LDT, I/O ports, Landlock, protection keys",
		"trap (sticky: nothing the scan could read)",
		"not rebuilt by the restore"},
	{"bytes in flight through a pty the app created",
		"by the dump after 3 s of retries (further and further apart: the app reads them meanwhile)",
		"a pty's buffers take back less than they held"},
	{"a vfork child that has not exec'd, CLONE_VM or CLONE_FILES sharing between processes, a main thread gone by pthread_exit",
		"by the dump (and status), naming the processes",
		"the restore rebuilds each process's memory and fd table on its own"},
	{"a POSIX timer overrun count other than 0 (what timer_getoverrun says of the last signal)",
		"by the dump, naming the timer (an injected timer_getoverrun per timer)",
		"no interface sets it: a restored timer would say 0"},
	{"urgent (out-of-band) data the app sent on a TCP connection, while bytes of its send queue are not acknowledged",
		"by the gate, naming the connection and the send (status too): sends with MSG_OOB are trapped, never a taint, and the socket noted",
		"no interface reads a connection's urgent pointer: a restore would send the urgent byte as an ordinary one"},
	{"the configuration of the app's own network namespace (--net=private) as root: interfaces, addresses and routes the app added or removed",
		"by the gate (status too): what /proc/PID/net shows (interfaces, IPv6 addresses, IPv4 and IPv6 routes, the IPv4 FIB) against a new namespace with lo up, made once by crrun",
		"a restore makes a new namespace with lo up and nothing else; sysctls other than ping_group_range, lo's MTU, neighbours and traffic control are not compared (documented)"},
	{"NUMA memory policies: a thread's (set_mempolicy, or inherited from crrun: numactl … crrun) and a mapping's (mbind)",
		"by the dump: get_mempolicy of each main thread (in its batch of queries), of every thread of a process seen calling set_mempolicy, and numa_maps of one seen calling mbind (both trapped, never a taint: a probe that sets a policy and resets it, as hwloc's in Open MPI, leaves nothing); status sees one inherited from crrun; a restore run under a policy is refused",
		"a restore would not set them again: the app would run with the default placement"},
	{"a file held by path that the process's own credentials no longer allow it to open as it is open (made read-only or 000 after the open, a directory closed to it since)",
		"by the dump, naming the fd or mapping, the path and the access (the access checks the restore makes, run at checkpoint time: internal/access)",
		"a restore opens files again by path with the app's credentials; root's apps pass any mode"},
	{"32-bit (ia32) programs, and threads running 32-bit code",
		"by the gate (the executable's ELF class; status too) and the dump (each thread's code segment, read before anything is injected)",
		"the engine injects and restores x86_64 code only, and the filter does not follow 32-bit setsockopt and sends"},
}
