package inventory

// OutOfScope are the kinds of state this crrun does not save at all: each is
// refused, with its reason, before a checkpoint could lose it — by the trap
// table and the scan (seccomp.Table, seccomp.Scan: from the moment the app
// creates it, in `crrun status` too) or by the dump. docs/nocr.md lists them
// under the saved kinds; the NOCR table below it gives each trap's reason.
var OutOfScope = []struct {
	Name, Refused, Why string
}{
	{"network sockets (AF_INET, AF_INET6, netlink, packet, raw)",
		"`CR: socket(AF_INET) not supported yet` (trap and scan)",
		"TCP_REPAIR, queues and firewall holds are planned work (issue 10)"},
	{"unix sockets: files in flight (SCM_RIGHTS) on a stream socket, connections in a backlog with bytes in them or whose connecting end closed, peers outside the app, the credentials of a sender that has exited of bytes queued for a reader with SO_PASSCRED, datagrams restore cannot send again from their sender",
		"by the dump, naming the fd (status sees what sock_diag and fdinfo show)",
		"a peek cannot tell which stream bytes carry the files; a backlog connection's bytes cannot be read without accepting it; a sender's pid can be named again only while it lives (issue 10)"},
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
