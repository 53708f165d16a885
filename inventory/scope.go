package inventory

// OutOfScope are the kinds of state this crrun does not save at all: each is
// refused, with its reason, before a checkpoint could lose it — by the trap
// table and the scan (seccomp.Table, seccomp.Scan: from the moment the app
// creates it, in `crrun status` too) or by the dump. docs/nocr.md lists them
// under the saved kinds; the NOCR table below it gives each trap's reason.
var OutOfScope = []struct {
	Name, Refused, Why string
}{
	{"netlink, packet, raw, ICMP ping, SCTP, UDP-Lite and MPTCP sockets; TCP connections to peers outside the app, half-closed or closing ones, connections not accepted yet; multicast memberships and socket filters",
		"`CR: socket(AF_NETLINK) not supported yet`, `CR: socket(AF_INET, SOCK_RAW) not supported yet` (trap and scan); the connections by the checkpoint's gate, naming the fd and both addresses (status too); multicast and filters by a sticky trap",
		"a peer outside the app needs its traffic held (root, the firewall); the other states and kinds are planned work (issue 10)"},
	{"unix sockets: datagram queues, connections not accepted yet, fds in flight, peers outside the app",
		"by the dump, naming the fd (status sees what fdinfo shows)",
		"each needs the queue read without loss and written back with its sender (issue 10)"},
	{"SysV IPC (shared memory, semaphores, message queues), POSIX message queues",
		"trap and scan, for as long as /proc/sysvipc shows the object",
		"the app shares the host's IPC namespace; an IPC namespace of its own is planned (issue 10)"},
	{"io_uring, Linux AIO, userfaultfd, perf_event, bpf objects, fanotify, memfd_secret",
		"trap and scan (the fd or mapping)",
		"kernel objects with in-flight state no interface reads back"},
	{"namespaces the app creates, mount and chroot changes, ptrace inside the app, kernel keyrings, LDT, I/O ports, Landlock, protection keys",
		"trap (sticky: nothing the scan could read)",
		"not rebuilt by the restore"},
	{"bytes in flight through a pty the app created",
		"by the dump after 1 s of retries",
		"a pty's buffers take back less than they held"},
	{"a vfork child that has not exec'd, CLONE_VM or CLONE_FILES sharing between processes, a main thread gone by pthread_exit",
		"by the dump (and status), naming the processes",
		"the restore rebuilds each process's memory and fd table on its own"},
	{"POSIX timer overrun counts",
		"not refused: the count of the last delivered signal is not kept (documented in docs/design.md)",
		"no interface sets it; reading it takes an injection per timer"},
}
