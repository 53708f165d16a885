package inventory

import (
	"fmt"

	"github.com/crrun/crrun/image"
	"sort"
	"strconv"
	"strings"
)

// Kind is one kind of process state: how crrun saves it, restores it,
// compares it after a restore, and when a checkpoint refuses it.
type Kind struct {
	Name string
	// Fields are the prefixes of the observed fields that belong to this
	// kind; "thread " fields are per thread ("thread 123 SigBlk" matches
	// "thread SigBlk").
	Fields   []string
	Saved    string // how the checkpoint saves it
	Restored string // how the restore sets it back
	Compared string // what the verifier compares (the fields, in words)
	Refused  string // when a checkpoint refuses it ("" never)
	// Refuse returns the NOCR reasons for an observation taken at
	// checkpoint time: values this crrun cannot restore.
	Refuse func(f Fields) []string
	// Inherited are the field prefixes the restore does not set: a
	// restored process has the restorer's value. The checkpoint refuses an
	// app whose value differs from crrun's own (Baseline).
	Inherited []string
}

// Kinds is the inventory, in the order docs/nocr.md lists it.
var Kinds = []Kind{
	{
		Name:     "credentials",
		Fields:   []string{"status Uid", "status Gid", "status Groups", "status Cap", "status NoNewPrivs", "thread Uid", "thread Gid", "thread Groups", "thread Cap"},
		Saved:    "/proc/PID/task/TID/status (real/effective/saved/fs uids and gids, groups, the five capability sets, no_new_privs) and the securebits (injected PR_GET_SECUREBITS), per thread where a thread's differ from the main thread's (checkpoint/attrs.go)",
		Restored: "in every thread, last (restore/attrs.go): bounding drops (PR_CAPBSET_DROP), setgroups, setresgid, setfsgid, setresuid and setfsuid under SECBIT_NO_SETUID_FIXUP, inheritable set and PR_CAP_AMBIENT_RAISE, securebits, capset; each read back (securebits by injection); PR_SET_DUMPABLE after the verification. What the restorer may not set (an ordinary user: other ids or groups; a bounding capability it lacks) fails the restore naming the ids",
		Compared: "every uid/gid set, the supplementary groups, each thread's capability sets, no_new_privs",
		Refused:  "no_new_privs off (crrun's filter needs it on)",
	},
	{
		Name:     "seccomp",
		Fields:   []string{"status Seccomp", "thread Seccomp_filters"},
		Saved:    "root: each thread's own filters above those it had at launch (PTRACE_SECCOMP_GET_FILTER and _GET_METADATA, the tree frozen with PTRACE_O_SUSPEND_SECCOMP)",
		Restored: "the NOCR filter, installed in the blank main process and inherited; the app's own filters in each thread, oldest first, as the last injections (PTRACE_O_SUSPEND_SECCOMP from then on); their number read back",
		Compared: "seccomp mode and the number of filters, per thread",
		Refused:  "an app's own filter for an ordinary user (reading it needs CAP_SYS_ADMIN), strict mode, a filter with a listener or SPEC_ALLOW",
	},
	{
		Name:     "signals",
		Fields:   []string{"status SigIgn", "status SigCgt", "status ShdPnd", "thread SigBlk", "thread SigPnd", "sigaction ", "prctl pdeathsig"},
		Saved:    "dispositions by injected rt_sigaction; masks and pending signals by ptrace (PTRACE_PEEKSIGINFO)",
		Restored: "rt_sigaction, PTRACE_SETSIGMASK, rt_(tg)sigqueueinfo from inside",
		Compared: "ignored and caught sets, each caught or ignored signal's handler, flags, restorer and mask (read back by an injected rt_sigaction), each thread's blocked and pending sets, the shared pending set (less signals a job-end checkpoint drops on purpose), the parent-death signal",
	},
	{
		Name:      "scheduling",
		Fields:    []string{"stat priority", "stat nice", "stat rt_priority", "stat policy", "thread Cpus_allowed_list", "status Mems_allowed_list", "proc timerslack_ns"},
		Saved:     "per thread: sched_getattr (policy, SCHED_FLAG_RESET_ON_FORK, real-time priority), getpriority (nice, which sched_getattr hides for real-time threads), sched_getaffinity, ioprio_get (the I/O priority, ionice), injected PR_GET_TIMERSLACK (checkpoint/attrs.go)",
		Restored:  "per thread by injection, each read back (restore/attrs.go): PR_SET_TIMERSLACK, sched_setattr (under SCHED_OTHER first where the policy ignores nice), sched_setaffinity (not for a thread whose affinity was its environment's, crrun's init's: it keeps the restore's environment's, so a batch job requeued onto other cores runs in its new allocation), ioprio_set (always: a thread would otherwise keep the restorer's); CPUs this host (or its cpuset) lacks for an affinity a thread set, or a real-time I/O class the restorer may not set, fail the restore. Memory nodes are the restorer's",
		Inherited: []string{"status Mems_allowed_list"},
		Compared:  "policy, real-time priority, nice, each thread's CPU affinity (the restore environment's where the thread had its environment's), memory nodes, timer slack; the I/O priority is read back by the restore itself (ioprio_get: /proc does not show it)",
		Refused:   "SCHED_DEADLINE, utilization clamps; memory nodes other than crrun's own",
		Refuse: func(f Fields) []string {
			if p := f["stat policy"]; p != "" && p != "0" && p != "1" && p != "2" && p != "3" && p != "5" {
				return []string{fmt.Sprintf("CR: scheduling policy %s not supported yet", policyName(p))}
			}
			return nil
		},
	},
	{
		Name:     "process tree",
		Fields:   []string{"stat ppid", "stat pgrp", "stat session", "stat exit_signal", "threads", "thread comm", "proc comm", "prctl child_subreaper"},
		Saved:    "/proc/PID/stat and the tree walk from crrun's init; names from comm; a main process that has exited while others run on, by its exit status (image main_exit)",
		Restored: "clone3 with set_tid from the blank parent (orphans of a gone main process from a blank stand-in, with CLONE_PARENT), setsid/setpgid, PR_SET_NAME; crrun mirrors a gone main process's status",
		Compared: "parent, process group and session (as the app sees them: NSpgid, NSsid, even with their leader gone), exit signal, the number of threads and their names, child-subreaper",
	},
	{
		Name:     "memory layout",
		Fields:   []string{"stat start_", "stat end_", "stat arg_", "stat env_", "map "},
		Saved:    "smaps, pagemap and the pages themselves (read through /proc/PID/mem, which leaves copy-on-write sharing alone); pages a forked child shares with its parent (same PFN as root, same bytes otherwise) as inherited; mm fields from /proc/PID/stat; memfds mapped without an fd by /proc/PID/map_files (root)",
		Restored: "a parent's memory before its children that inherit pages are cloned (they keep them copy-on-write); mmap/mremap per mapping (writable first only where the kernel accounted it, \"ac\"; a shared file mapping from an O_RDWR fd where it may be made writable, \"mw\"; a memfd as a memfd), process_vm_writev or /proc/PID/mem, mprotect, the VmFlags hints (madvise sr rr dc wf dd hg nh mg, guard regions, mlock, mlock2 MLOCK_ONFAULT, mseal), PR_SET_MM_MAP; a vdso/vvar the app unmapped is unmapped",
		Compared: "every mapping's range, protection, sharing, offset, backing file (by path and inode class) and all its smaps VmFlags (adjacent anonymous mappings the kernel may merge are merged on both sides); the mm fields",
		Refused:  "a mapping showing a VmFlag restore does not reproduce (pf io mm de: device and driver mappings; ht: hugetlb; um uw ui: userfaultfd; ss: shadow stack; dp: MAP_DROPPABLE; sf: MAP_SYNC; any flag this crrun does not know), a memory protection key, KSM for the whole process (PR_SET_MEMORY_MERGE), a memfd on hugetlbfs, present pages /proc/PID/mem cannot read; as an ordinary user, a deleted file or memfd mapped with no fd open on it",
		Refuse: func(f Fields) []string {
			var out []string
			for k, v := range f {
				r, ok := strings.CutSuffix(k, " vmflags")
				if !ok || !strings.HasPrefix(k, "map ") {
					continue
				}
				if d := f[r]; strings.Contains(d, "[vdso]") || strings.Contains(d, "[vvar") || strings.Contains(d, "[vsyscall]") {
					continue // the kernel's own
				}
				for _, fl := range strings.Fields(v) {
					if why := image.VMFlagRefusal(fl); why != "" {
						out = append(out, fmt.Sprintf("CR: %s: %s", r, why))
					}
				}
			}
			return out
		},
	},
	{
		Name:     "deleted files",
		Saved:    "what an fd, a mapping or the working directory holds after its name was removed: mode, owner, atime and mtime, size and the data runs of a regular file (SEEK_DATA/SEEK_HOLE), the device number of a device node; a file handle (name_to_handle_at) when the inode still has another name",
		Restored: "recreated under its deleted name when that is free (else in the restore's temporary directory) — file with its holes, directory, FIFO, device node (mknod) — opened, mapped or entered by the app, given its owner, mode and times, then unlinked again; an inode with another name is reopened by its handle (open_by_handle_at, a temporary hard link), the same inode, not a copy",
		Compared: "as any fd or mapping: kind, flags, offset, mode, owner and size (the path as \"a deleted file\"); the working directory",
		Refused:  "a deleted name of an inode with other links when crrun is not root (open_by_handle_at needs CAP_DAC_READ_SEARCH); a deleted device node held by an ordinary user; a deleted socket or other special file",
	},
	{
		Name: "clocks",
		// No observed field: the values move with time. The restore checks
		// them itself (supervisor/clocks.go, verifyClocks).
		Saved:    "the app's CLOCK_MONOTONIC and CLOCK_BOOTTIME as it sees them (crrun's clocks and both time namespaces' offsets) and the wall clock, last, the tree frozen (image.json clocks)",
		Restored: "a time namespace of the app's own from launch; at restore its offsets make the clocks go on from the saved values (the downtime hidden), written by the init before it forks the stub",
		Compared: "not a field (the values move): before the tree runs, every restored process's clocks must read no less than the saved ones, or the tree is killed",
		Refused:  "at checkpoint, a tree in more than one time namespace; at restore, on a kernel without time namespaces, clocks that would go back",
	},
	{
		Name:     "resource limits",
		Fields:   []string{"limit "},
		Saved:    "injected prlimit64 (from outside it needs the app's uids or CAP_SYS_RESOURCE)",
		Restored: "prlimit from outside, read back: a limit that cannot be set (a higher hard limit without CAP_SYS_RESOURCE) fails the restore naming it",
		Compared: "soft and hard value of every limit (/proc/PID/limits)",
	},
	{
		Name:      "process attributes",
		Fields:    []string{"status Umask", "proc cwd", "proc root", "proc exe", "proc personality", "proc oom_score_adj", "proc loginuid", "status THP_enabled", "status Speculation", "status untag_mask"},
		Saved:     "/proc/PID/status, cwd, root, exe; personality (injected personality(0xffffffff)); oom_score_adj, loginuid; injected PR_GET_THP_DISABLE, PR_GET_DUMPABLE, MEMBARRIER_CMD_GET_REGISTRATIONS (checkpoint/attrs.go)",
		Restored:  "umask, chdir, personality injected; exe by PR_SET_MM_MAP (exe_fd); oom_score_adj written by crrun (lowering needs CAP_SYS_RESOURCE), loginuid by each thread (/proc/thread-self/loginuid, CAP_AUDIT_CONTROL), PR_SET_THP_DISABLE, each MEMBARRIER_CMD_REGISTER_* again, PR_SET_DUMPABLE after the verification; each read back, one the restorer may not set fails the restore. Speculation controls and LAM are the restorer's",
		Inherited: []string{"status untag_mask"},
		Compared:  "umask, cwd, root, executable, personality, oom_score_adj, loginuid, THP, speculation controls, LAM untag mask; before the restore, the executable and every mapped file by identity (size, mtime, SHA-256; device, inode and ctime on the same host: restore.Check)",
		Refused:   "a per-task speculation control set by prctl (not restored yet); LAM other than crrun's own; a personality with a non-Linux execution domain or unknown flags (the trap table); dumpable mode 2; membarrier registrations on a kernel before 6.3 (they cannot be read)",
		Refuse: func(f Fields) []string {
			var out []string
			for _, k := range []string{"status Speculation_Store_Bypass", "status SpeculationIndirectBranch"} {
				if v := f[k]; strings.HasPrefix(v, "thread") {
					out = append(out, fmt.Sprintf("CR: speculation control set by prctl (%s: %s) not supported yet", strings.TrimPrefix(k, "status "), v))
				}
			}
			return out
		},
	},
	{
		Name: "stopped processes",
		// No observed field: restored processes are all traced (state t)
		// when they are observed. The restore checks the stops itself.
		Saved:    "the freeze's ptrace group-stop (PTRACE_EVENT_STOP with a stop signal) and the signal; whether the parent already saw it, by a waitid(WSTOPPED|WNOWAIT|WNOHANG) injected into the frozen parent (checkpoint/attrs.go)",
		Restored: "before pending signals: the stop signal sent, each thread resumed with its pc on an int3 of the scratch area until its group-stop trap (a discarded signal traps there and fails the restore); the parent's SIGCHLD consumed and, if the stop had been reported, the stop too (injected waitid); after release (children first), state T is awaited before the parent runs (restore/attrs.go)",
		Compared: "not a field: every thread reached its group stop, the parent's waitid found the stop it must not see again, state T after release",
		Refused:  "a process caught between stops (some threads stopped, others not: checkpoint again)",
	},
	{
		Name:     "file locks",
		Fields:   []string{"fd lock"},
		Saved:    "the lock: lines of each fd's fdinfo (checkpoint/locks.go): POSIX locks with their owner and range, OFD locks, flock locks and leases with the description they belong to and who took them",
		Restored: "before anything runs, once every fd table is final (restore/locks.go): POSIX locks by an injected fcntl(F_SETLK) in their owner on the fd they show under; OFD locks through a copy of the description in crrun; flock locks and leases injected in the process that took them (a flock whose taker is gone through crrun's copy); never waiting: a lock another process holds now fails the restore naming it",
		Compared: "every lock: line of each fd's fdinfo (class, mode, access, owner pid in the app's namespace, range)",
		Refused:  "a lease being broken, an NFS delegation, a mandatory or unknown lock; a lease whose taker is no running process of the app, a flock lock taken by a zombie or by a process that no longer holds the file",
		// The checkpoint refuses these while saving the fds
		// (checkpoint/locks.go); the same values seen here say so too.
		Refuse: func(f Fields) []string {
			var out []string
			for k, v := range f {
				if !strings.Contains(k, " lock ") {
					continue
				}
				w := strings.Fields(v)
				if len(w) < 2 || w[0] == "->" {
					continue
				}
				if r := LockRefusal(w[0], w[1]); r != "" {
					out = append(out, fmt.Sprintf("CR: file lock (%s: %s) not supported yet: %s", strings.Split(k, " lock ")[0], v, r))
				}
			}
			return out
		},
	},
	{
		Name:     "signal-driven I/O",
		Fields:   []string{"fd owner_ex", "fd sig"},
		Saved:    "F_GETOWN_EX and F_GETSIG through a pidfd_getfd copy of each fd, the owner mapped into the app's namespace; O_ASYNC in the fd's flags",
		Restored: "after the credentials, once per description, injected in a holder: F_SETFL without then with O_ASYNC (so SIGIO's si_fd is the app's fd number), F_SETOWN_EX, F_SETSIG",
		Compared: "F_GETOWN_EX (type, owner in the app's namespace) and F_GETSIG of each open file description",
		Refused:  "an owner that is no running process or process group of the app",
		Refuse: func(f Fields) []string {
			var out []string
			for k, v := range f {
				if strings.HasSuffix(k, " owner_ex") && strings.HasSuffix(v, "outside the app") {
					out = append(out, fmt.Sprintf("CR: signal-driven I/O owner (%s: %s) not supported: %s", k, v, OwnerOutside))
				}
			}
			return out
		},
	},
	{
		Name:     "socket queues",
		Fields:   []string{"fd inq", "fd passcred", "fd sockopts", "fd sockname", "fd scm_fds", "fd scm_ends"},
		Saved:    "the bytes queued at each end of a unix socket (MSG_PEEK walking SO_PEEK_OFF, which is set back to the app's value); a datagram or seqpacket socket's messages one by one with their sizes and senders' addresses; for a reader with SO_PASSCRED, each message's (each stream run's) sender credentials; the connecting sockets of the connections waiting in a listener's backlog; the files in flight with a datagram or seqpacket message (SCM_RIGHTS, received by the peek: saved as the app's fds are, sharing their descriptions); on a stream socket, each run of bytes that carries files in flight, with its files (a peek finds where each run ends, never where it starts: the queue is read, one byte at a time up to each run, and sent again at once from the peer, then peeked again and compared); the socket options (SO_PASSCRED, SO_PASSSEC, SO_PASSPIDFD, SO_PEEK_OFF, buffer sizes, SO_RCVLOWAT, timeouts, SO_KEEPALIVE, SO_PRIORITY, SO_MARK, timestamps); the datagrams queued on a UDP socket (see network sockets)",
		Restored: "a stream's bytes written into the peer by crrun after the connection is made again; each message sent again by injection, in order, from its sender (the peer, the socket of the app bound to its address, or a temporary socket bound to an abstract address of a closed sender); files in flight opened (or the app's description) and sent with their message (on a stream socket, each carrying run by one sendmsg from the peer); for a SO_PASSCRED reader, each message or run of bytes sent with SCM_CREDENTIALS naming its sender (pid in the app, uid, gid) once every process exists; backlog connections connected again to the listener; options by setsockopt (SO_PASS* once the queues are filled), read back; UDP datagrams sent again from their source",
		Compared: "the bytes (or the next datagram's size) queued for reading (SIOCINQ), the number of files in flight in the queue (fdinfo scm_fds) and, on a stream socket, where each run of bytes that carries some ends (a peek walk), the options, the bound name (getsockname)",
		Refused:  "by the dump's socket walk (docs/design.md): bytes queued for a reader with SO_PASSCRED whose senders' credentials cannot be named again — a sender that is no live process of the app (SCM_CREDENTIALS can name only a live process: measured), another process's pid or other ids when crrun is not root (CAP_SYS_ADMIN, CAP_SETUID/CAP_SETGID), a reader whose peer has closed; files in flight on a stream socket whose peer has closed or is no socket of the app, or that is shut down (the reader for reading, its peer for writing), whose reader has SO_PASSCRED or SO_PASSPIDFD when crrun is not root, or SO_PASSPIDFD without SO_PASSCRED; a byte sent out of band (MSG_OOB) waiting at a stream socket (a peek with MSG_OOB finds it; reads skip it)",
	},
	{
		Name:     "socket peer credentials",
		Fields:   []string{"fd peercred"},
		Saved:    "SO_PEERCRED of every unix socket fd, by a getsockopt injected in its process (the pid in the app's namespace, even of a creator that has exited, and the uid and gid the app sees)",
		Restored: "each socket made by a process with that pid and those effective ids (restore/peercred.go): the pair made (socketpair), the listener listening, the connection's client connecting as the ones SO_PEERCRED names — the main process itself, or a stand-in cloned with the pid (clone3 set_tid, sharing the main process's fd table) while the pid is free, before the tree is built, its effective ids set for the call",
		Compared: "each unix socket fd's SO_PEERCRED (pid, uid, gid), read back by an injected getsockopt",
		Refused:  "a creator outside the app's pid namespace (pid 0 there) or crrun's init; ids that no process of the app has (a restore would mint them)",
	},
	{
		Name:     "inotify",
		Fields:   []string{"fd queued"},
		Saved:    "the watches, by path, with their descriptors (docs/design.md, Checkpoint step 7)",
		Restored: "inotify_add_watch of each path, gaps in the descriptors skipped",
		Compared: "the watches (fdinfo) and the bytes of queued events (FIONREAD through a pidfd_getfd copy)",
		Refused:  "events queued and not read yet: the kernel gives no way to queue them again",
		Refuse: func(f Fields) []string {
			var out []string
			for k, v := range f {
				if strings.HasSuffix(k, " queued") && v != "0" {
					out = append(out, fmt.Sprintf("CR: inotify %s: %s bytes of events not read yet, which a restore cannot queue again: not supported yet (checkpoint again once the app has read them)", strings.TrimSuffix(k, " queued"), v))
				}
			}
			return out
		},
	},
	{
		Name:     "network sockets",
		Fields:   []string{"fd inet", "fd sockopt"},
		Saved:    "TCP and UDP sockets (AF_INET, AF_INET6) through a pidfd_getfd copy (checkpoint/inet.go): family, type, protocol, getsockname/getpeername, the TCP state (TCP_INFO), an established, half-closed or closing connection in repair mode (its queues, sequence numbers, negotiated options and window; its FINs sent and received and the app's shutdown(SHUT_RD), the FINs out of the sequence numbers), a listener's backlog and waiting connections (sock_diag, through crrun's init under --net=private), with checkpoint --exit the connections waiting to be accepted whose client is in the app (accepted by crrun in repair mode: their addresses and received bytes), a connection with a peer outside the app on this host as root (its traffic held by nf_tables rules for its 4-tuple, table inet crrun_hold, from before it is read until the app runs on, or until the image's restore), the options of image.InetOptions (SO_REUSEADDR/PORT, SO_KEEPALIVE, SO_LINGER, buffer sizes and SO_BUF_LOCK, SO_BINDTODEVICE, timeouts, TCP_NODELAY, keepalive timers, TCP_CONGESTION, IP_TOS/TTL, IPV6_V6ONLY/TCLASS...), a UDP socket's queued datagrams with their sources (MSG_PEEK walking SO_PEEK_OFF), a UDP socket's multicast memberships (IPv4 and IPv6, any-source and source-specific, with their source filters: getsockopt MCAST_MSFILTER for each group joined on each interface of the app's network, /proc/PID/net/igmp and igmp6) and the multicast options (IP_MULTICAST_IF by address, TTL, LOOP, ALL; IPV6_MULTICAST_IF, HOPS, LOOP, ALL)",
		Restored: "socket(2) injected in the blank main process (the app's network namespace), then through crrun's copy: each option a new socket does not have already, bind to the saved address, listen with the backlog (read back through sock_diag), connect (UDP); queued datagrams sent again from their source (the app's socket bound there, or one bound for the purpose) and read back; a port taken on this host fails the restore naming it. Multicast memberships joined again on the same interface (MCAST_JOIN_GROUP, then MCAST_MSFILTER for a source filter; the index must name the same device in the app's network, else the restore fails naming it) and read back. An established connection inside the app in repair mode (TCP_REPAIR, as CRIU's libsoccr: sequence numbers, window scale, SACK, timestamps, MSS, window, the receive queue and the sent-unacknowledged bytes), out of repair mode once the tree is verified, its unsent bytes sent then, then the shutdowns of a half-closed or closing one replayed in their order; a connection waiting to be accepted made again by its client's real handshake to the listener, in queue order, then the bytes the server end had and the client's unacknowledged ones sent; the firewall holds of outside peers removed just before repair mode ends, or when the restore fails (docs/design.md, Network)",
		Compared: "kind, TCP state, local and peer address, every option's value (getsockopt's bytes), the multicast memberships with their interfaces and source filters; a connection's queues are checked at checkpoint (its two ends leave no byte out) and when refilled, not by the verifier (the kernel moves them while the tree is saved); a half-closed or closing connection is verified established, its state read back after the shutdowns are replayed (2 s); a buffer size the kernel tunes as \"autotuned\"; a listener's waiting connections read back (inet_diag) with the handshake's negotiated options",
		Refused:  "a TCP connection to a peer outside the app for an ordinary user, on another host, or without nf_tables; for an ordinary user on the host's network a connection inside the app (TCP_REPAIR needs CAP_NET_ADMIN: use --net=private); the connecting states; a FIN in flight at the checkpoint (checkpoint again); a listener with connections not accepted yet in a checkpoint that leaves the app running, or whose clients are not all in the app; a TCP socket whose connection has ended (time-wait: both ends closed); an error pending (SO_ERROR) or queued (IP_RECVERR's error queue: poll's POLLERR, read without taking it), urgent (MSG_OOB) data not read yet (POLLPRI), a reader at the urgent mark (SIOCATMARK) or before a mark whose byte it read (SIOCINQ short of inet_diag's rqueue); SCTP, UDP-Lite and MPTCP sockets (raw, ping and packet sockets: see their rows); IP_MULTICAST_IF chosen by interface index (struct ip_mreqn: getsockopt shows only the address), an IPv6 anycast address a socket joined (IPV6_JOIN_ANYCAST), eBPF socket filters and SO_REUSEPORT programs, socket options no checkpoint saves (the trap table: sticky); a classic filter on a unix socket (the gate)",
	},
	{
		Name:     "raw sockets",
		Fields:   []string{"fd raw"},
		Saved:    "raw IP sockets (SOCK_RAW of AF_INET and AF_INET6: root, or the app's own network namespace) through a pidfd_getfd copy (checkpoint/raw.go): family, protocol, the address bound (getsockname) and connected to (/proc/PID/net/raw and raw6: rem_address of a socket in state 1; getpeername does not show a raw socket's peer), the options of image.RawOptionsOf (IP_HDRINCL, ICMP_FILTER, IP_NODEFRAG, IP_ROUTER_ALERT, IPV6_HDRINCL, IPV6_CHECKSUM, ICMPV6_FILTER, IPV6_ROUTER_ALERT, with the socket- and IP-level options a UDP socket has), a classic filter; the freeze retries for up to 1 s while a raw socket of the app has packets queued",
		Restored: "socket(2) injected in the blank main process (the app's network namespace: the restorer needs CAP_NET_RAW there), then through crrun's copy: the options, bind and connect to the saved addresses, the filter, each read back",
		Compared: "local address and peer, every option's value (getsockopt's bytes), the filter (\"fd N inet\" gives family, type and protocol)",
		Refused:  "packets or an error queued and not read after 1 s of retries (from the network or the kernel: nothing can queue them again as they were); multicast memberships of a raw socket; at restore, a raw socket in a foreign image (--trust-image) owned by another user than root",
	},
	{
		Name:     "ping sockets",
		Fields:   []string{"fd ping"},
		Saved:    "ICMP ping sockets (SOCK_DGRAM of AF_INET with IPPROTO_ICMP, AF_INET6 with IPPROTO_ICMPV6: any group net.ipv4.ping_group_range allows) through a pidfd_getfd copy (checkpoint/ping.go): family, the address bound and the echo identifier (getsockname's port), the peer (/proc/PID/net/icmp and icmp6: getpeername does not show it), the options of image.PingOptionsOf (the socket- and IP-level options a UDP socket has: IP_TTL, IP_RECVERR, buffer sizes...), a classic filter; with --net=private as root, the namespace's net.ipv4.ping_group_range (image.json ping_group_range: the app, root there, may change it; crrun's init gives a new namespace the host's, narrowed to an ordinary user's own group, so no app may ping where the host would not let it); the freeze retries for up to 1 s while a ping socket of the app has replies queued",
		Restored: "socket(2) injected in the blank main process (the app's network namespace, whose ping_group_range the init set first under --net=private: the saved one, or the host's), then through crrun's copy: the options, bind to the same address and identifier (one another socket holds fails the restore naming it), connect, the filter, each read back",
		Compared: "local address, identifier and peer, every option's value (getsockopt's bytes), the filter (\"fd N inet\" gives family, type and protocol)",
		Refused:  "replies or an error queued and not read after 1 s of retries (the kernel's ICMP made them: nothing can queue them again as they were); multicast memberships; at restore, a network whose ping_group_range does not let the restorer's group make one",
	},
	{
		Name:     "packet sockets",
		Fields:   []string{"fd packet"},
		Saved:    "AF_PACKET sockets of SOCK_RAW and SOCK_DGRAM (CAP_NET_RAW in the network namespace's owner: root; an ordinary user's app has no capability in crrun's user namespace) through a pidfd_getfd copy (checkpoint/packet.go): type, socket()'s protocol, the protocol and interface bound (getsockname) with the interface's name, the options of image.PacketOptions (PACKET_VERSION, RESERVE, AUXDATA, ORIGDEV, VNET_HDR, VNET_HDR_SZ, LOSS, TIMESTAMP, TX_HAS_OFF, QDISC_BYPASS, IGNORE_OUTGOING, with the socket-level options), a classic filter; the freeze retries for up to 1 s while a packet socket of the app has frames queued",
		Restored: "socket(2) injected in the blank main process (the restorer needs CAP_NET_RAW in the app's network namespace), then through crrun's copy: the options, bind to the same protocol and interface index once SIOCGIFNAME shows the index names the same interface there (else the restore fails naming it), the filter, each read back",
		Compared: "type, protocols, interface index and name, fanout, every option's value (getsockopt's bytes), the filter; not PACKET_STATISTICS (reading it resets the counters: a restored socket counts from zero)",
		Refused:  "SOCK_PACKET (the obsolete interface, trap); rings (PACKET_RX_RING, PACKET_TX_RING), fanout groups, memberships (PACKET_ADD_MEMBERSHIP: promiscuous, multicast; no getsockopt reads them back) and PACKET_COPY_THRESH (trap, naming the option); a fanout group (getsockopt(PACKET_FANOUT), the dump); frames or an error queued and not read after 1 s of retries (they came from an interface); an interface gone; an interface other than lo of the app's own network namespace (--net=private: a restore makes lo only); at restore, an interface index that names another interface or none, a packet socket in a foreign image (--trust-image) owned by another user than root",
	},
	{
		Name:     "netlink sockets",
		Fields:   []string{"fd netlink"},
		Saved:    "AF_NETLINK sockets of NETLINK_ROUTE (glibc's getaddrinfo and if_nameindex, Go's net package, iproute2's library) through a pidfd_getfd copy (checkpoint/netlink.go): type, protocol, the port id (getsockname's nl_pid, autobound or not), the multicast groups (NETLINK_LIST_MEMBERSHIPS), the options of image.NetlinkOptions (buffer sizes and SO_BUF_LOCK, SO_PASSCRED, timeouts, timestamps, SO_PRIORITY, SO_RCVLOWAT, NETLINK_PKTINFO, NETLINK_BROADCAST_ERROR, NETLINK_NO_ENOBUFS, NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK); the freeze retries for up to 1 s while a netlink queue of the app holds messages (SO_MEMINFO) or an error (POLLERR)",
		Restored: "socket(2) injected in the blank main process (the app's network namespace), then through crrun's copy: each option a new socket does not have already, bind to the same port id (one another socket holds in this namespace fails the restore naming it: with the host's network a process outside the app may hold it), NETLINK_ADD_MEMBERSHIP of each group; port id and groups read back",
		Compared: "protocol, type, port id, groups, peer, every option's value (getsockopt's bytes); not the queue (empty at checkpoint; the kernel may queue a group's event at any moment)",
		Refused:  "the other netlink protocols (uevents, audit, generic netlink, sock_diag, netfilter...: `CR: socket(AF_NETLINK, NETLINK_KOBJECT_UEVENT) not supported yet`, trap and gate); messages or an error queued and not read after 1 s of retries (the kernel's replies and events come from port id 0, which nothing else can send from); a socket connected to a peer (connect); a group only a process with CAP_NET_ADMIN may join (RTNLGRP_IPV4_MROUTE_R, RTNLGRP_IPV6_MROUTE_R) and NETLINK_LISTEN_ALL_NSID (CAP_NET_BROADCAST): the restore would give them with crrun's privileges",
	},
	{
		Name:     "network namespace",
		Fields:   []string{"proc net"},
		Saved:    "crrun's own choice, --net (image.json net): the host's network, or a namespace of the app's own with only a loopback (--net=private)",
		Restored: "the same: with --net=private the init is cloned into a new network namespace (CLONE_NEWNET, owned by crrun's user namespace for an ordinary user) and brings lo up before the stub starts (supervisor/netns.go)",
		Compared: "whether each process is in crrun's network namespace (host) or another (private)",
		Refused:  "a process of the app in a network namespace of its own making (unshare/clone CLONE_NEWNET, setns: the trap table)",
	},
	{
		Name:     "file descriptors",
		Fields:   []string{"fd "},
		Saved:    "readlink, fdinfo and fstat of each fd; kind-specific state (see docs/design.md, Checkpoint step 7)",
		Restored: "each open file description created once, then dup3 into every fd that shares it",
		Compared: "kind and target (inodes as classes: the same sharing of pipes, sockets and files), open flags with close-on-exec, offset, mode, owner and size of the file, and the kind-specific fdinfo lines (eventfd count, epoll interest lists, timerfd clock, interval and ticks, signalfd mask, inotify watches); before the restore, each file opened by path by identity (size, mtime, SHA-256 up to 1 MiB; device, inode and ctime on the same host) and, for an image not the restorer's own, by access with the process's credentials (restore.Check)",
		Refused:  "an fd opened with O_TMPFILE, named since or not (F_GETFL shows the flag, which no open by path gives; an unnamed one may or may not be linkable, which nothing shows); an EPOLLONESHOT entry that has fired and is not re-armed (an entry cannot be added disarmed)",
		Refuse: func(f Fields) []string {
			var out []string
			for k, v := range f {
				if i := strings.Index(k, " epoll "); i > 0 && strings.HasPrefix(v, "events:") {
					ev, err := strconv.ParseUint(strings.Fields(strings.TrimPrefix(v, "events:"))[0], 16, 32)
					if err == nil && ev&^epollPrivate == 0 {
						out = append(out, fmt.Sprintf("CR: %s's epoll entry for fd %s (%s) is an EPOLLONESHOT one that has fired and is not re-armed yet: "+
							"an epoll entry cannot be added disarmed: not supported yet (checkpoint again once the app re-arms it with EPOLL_CTL_MOD)", k[:i], k[i+len(" epoll "):], v))
					}
					continue
				}
				fd, ok := strings.CutSuffix(k, " flags")
				if !ok || strings.Count(fd, " ") != 1 {
					continue
				}
				if fl, err := strconv.ParseUint(v, 8, 64); err == nil && fl&oTmpfile != 0 {
					out = append(out, fmt.Sprintf("CR: %s was opened with O_TMPFILE (flags %s): no restore can open a file with that flag again, "+
						"and an O_TMPFILE file not linked yet may or may not be linkable (the kernel shows neither): not supported yet "+
						"(checkpoint once the file is linked and its fd closed)", fd, v))
				}
			}
			return out
		},
	},
	{
		Name:     "SysV IPC and POSIX message queues",
		Fields:   []string{"sysvipc "},
		Saved:    "in the app's own IPC namespace (the default; not with --ipc=host), by crrun's init, which lives in it, the tree frozen: /proc/sysvipc/{shm,sem,msg} for ids, keys, owners, creators, modes and attach counts; each segment's bytes through the init's own read-only attachment (shmat) and its creation key from that mapping's name; semaphore values (semctl GETALL); each queue's room (msg_qbytes) and messages with their types, oldest first (msgrcv MSG_COPY, which leaves them queued); the namespace's kernel.shm*/msg*/sem and fs.mqueue.* tunables; each POSIX message queue (listed through a mount of the namespace's mqueue file system attached nowhere: fsopen, fsmount) with its mode, owner, limits and messages with their priorities, received and sent back in the same order while the app is frozen. A process's attachment is a mapping of kind sysv_shm naming the shmid (its inode number); a queue's fd is saved by name (kind mqueue). Each SEM_UNDO list (image sem_undo) of a process the supervisor saw make a SEM_UNDO operation (every semop traps), read without changing anything by semops injected in it: a SEM_UNDO semop that would take an adjustment out of [-32768, 32767] fails with ERANGE having done nothing, so one that adds k+32768 units and takes them back succeeds iff the adjustment is at least k (a check for 0 per chunk of semaphores, then doubling steps and bisection); with several threads, each checked to share it",
		Restored: "by crrun's init in the new namespace before any process is rebuilt: the tunables that differ, then each object with its id (kernel.{shm,sem,msg}_next_id, which needs CAP_CHECKPOINT_RESTORE over the namespace: the init has it, as root and in an ordinary user's user namespace), key, mode and creator (the init's thread takes the creator's ids), owner (IPC_SET); segments filled through the init's attachment, a segment that was removed while attached created with its old key and removed again at once (it lives while attached); semaphore values (SETALL); messages sent again in order; POSIX queues by mq_open(O_CREAT|O_EXCL) with their limits, fchown, fchmod and their messages; each process's attachment by an injected shmat at its address (SHM_RDONLY where it could never be written), then its protection; a queue's fd by an injected mq_open of its name with its access mode and O_NONBLOCK; each undo adjustment a by one injected semop in its process whose SEM_UNDO operations add up to -a while operations without it keep the value as it is, the threads sharing the list (cloned with CLONE_SYSVSEM)",
		Compared: "per object: id, key, mode (with SHM_DEST, SHM_LOCKED), owner and creator ids; a segment's size, attach count, creation key and content SHA-256; a set's values; a queue's room, messages (type and size, in order) and their texts' SHA-256; a POSIX queue's mode, owner, limits, messages (priority and size, in order) and texts' SHA-256; the tunables (a queue's fd is compared as any fd: target, flags, mode, owner). each process's undo adjustments, read back exactly from each of its threads by semops that change nothing (one succeeds iff the adjustment is the image's, through the range check). Not kept: times, the creator's and last user's pids, semaphores' last pids",
		Refused:  "with --ipc=host, any object that is or may be the app's (seccomp table, SysVDecided); with --ipc=host, a semop or semtimedop with SEM_UNDO (a sticky taint naming the call); a thread that does not share its process's undo list (cloned without CLONE_SYSVSEM), processes sharing one list (clone or clone3 with CLONE_SYSVSEM without CLONE_THREAD: found through the list, each process asked whether it sees an adjustment pushed through another); an attachment mapping only part of its segment (after mprotect or munmap of part of it); a segment on huge pages; a POSIX queue removed (mq_unlink) while open, a full one (a sender may be blocked on it), a notification registration (mq_notify: a sticky taint)",
	},
}

// KindOf returns the kind a field belongs to (the last, catch-all kind for
// an fd field that none claims more precisely).
func KindOf(field string) *Kind {
	f := normField(field)
	var best *Kind
	bestLen := -1
	for i := range Kinds {
		for _, p := range Kinds[i].Fields {
			if strings.HasPrefix(f, p) && len(p) > bestLen {
				best, bestLen = &Kinds[i], len(p)
			}
		}
	}
	if best == nil {
		return &Kind{Name: "other"}
	}
	return best
}

// normField drops the numbers that identify a thread or fd: "thread 12
// SigBlk" → "thread SigBlk", "fd 3 lock 0" → "fd lock", "fd 3 flags" → "fd flags".
// It runs for every field of every process at each checkpoint and restore
// (KindOf, InheritedRefusals): by hand, not with regular expressions,
// which made the checkpoint's refusal checks 0.5 ms a process (7 ms of the
// pause of a tree of 16).
func normField(f string) string {
	if rest, ok := strings.CutPrefix(f, "thread "); ok {
		if n := leadingDigits(rest); n > 0 && n < len(rest) && rest[n] == ' ' {
			return "thread " + rest[n+1:]
		}
		return f
	}
	rest, ok := strings.CutPrefix(f, "fd ")
	if !ok {
		return f
	}
	n := leadingDigits(rest)
	if n == 0 || n == len(rest) || rest[n] != ' ' {
		return f
	}
	rest = rest[n+1:]
	for _, k := range [...]string{"lock", "epoll", "inotify"} {
		if tail, ok := strings.CutPrefix(rest, k+" "); ok {
			if m := leadingDigits(tail); m > 0 && m == len(tail) {
				return "fd " + k
			}
		}
	}
	return "fd " + rest
}

// leadingDigits is how many ASCII digits s starts with.
func leadingDigits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// Refusals returns the NOCR reasons for an observation taken at checkpoint
// time, one per kind and value.
func Refusals(f Fields) []string {
	var out []string
	for _, k := range Kinds {
		if k.Refuse != nil {
			out = append(out, k.Refuse(f)...)
		}
	}
	sort.Strings(out)
	return out
}

func policyName(p string) string {
	n, _ := strconv.Atoi(p)
	names := map[int]string{0: "SCHED_OTHER", 1: "SCHED_FIFO", 2: "SCHED_RR", 3: "SCHED_BATCH", 5: "SCHED_IDLE", 6: "SCHED_DEADLINE"}
	if s, ok := names[n]; ok {
		return s
	}
	return "policy " + p
}

// Injected fields: what only the process itself can tell (an injected
// syscall), saved by the checkpoint's dumper into the image and read back
// the same way by the restore before the restorer's scratch area goes.

// SigactionField is the field of one caught or ignored signal's disposition.
func SigactionField(sig int, handler, flags, restorer, mask uint64) (string, string) {
	return fmt.Sprintf("sigaction %d", sig), fmt.Sprintf("handler %#x flags %#x restorer %#x mask %#x", handler, flags, restorer, mask)
}

// PeerCredField is the field of a unix socket fd's SO_PEERCRED, as the app
// sees it (an injected getsockopt).
func PeerCredField(fd, pid int, uid, gid uint32) (string, string) {
	return fmt.Sprintf("fd %d peercred", fd), fmt.Sprintf("pid %d uid %d gid %d", pid, int32(uid), int32(gid))
}

// PrctlField is the field of a prctl getter's value.
func PrctlField(name string, v int) (string, string) { return "prctl " + name, strconv.Itoa(v) }

// InheritedRefusals returns a NOCR reason for every field of an app's
// observation that the restore does not set and that differs from the
// restorer's value as crrun's own baseline shows it.
func InheritedRefusals(app, base Fields) []string {
	var out []string
	for k, v := range app {
		n := normField(k)
		kind := KindOf(k)
		for _, p := range kind.Inherited {
			if !strings.HasPrefix(n, p) {
				continue
			}
			bk := k
			if strings.HasPrefix(n, "thread ") {
				bk = n
			}
			if b, ok := base[bk]; ok && b != v {
				out = append(out, fmt.Sprintf("CR: %s is %q in the app, %q in crrun: restoring it is not supported yet (a restored process gets crrun's)", k, v, b))
			}
			break
		}
	}
	sort.Strings(out)
	return out
}

// LockRefusal is why a lock of class (fdinfo's POSIX, OFDLCK, FLOCK,
// LEASE, DELEG...) in mode (ADVISORY, MANDATORY, ACTIVE, BREAKING,
// BREAKER) cannot be taken again by a restore ("" if it can): the
// checkpoint's dump (checkpoint/locks.go) and this inventory's gate say it
// in the same words.
func LockRefusal(class, mode string) string {
	switch class {
	case "POSIX", "OFDLCK", "FLOCK":
	case "LEASE":
		if mode != "ACTIVE" {
			return fmt.Sprintf("a lease being broken (%s): let the lease break finish (the holder gives it up) and checkpoint again", mode)
		}
	case "DELEG":
		return "an NFS delegation cannot be taken by an app"
	default:
		return fmt.Sprintf("lock class %s cannot be taken again", class)
	}
	if mode == "MANDATORY" {
		return "mandatory locking cannot be restored (and this kernel no longer enforces it)"
	}
	return ""
}

// OwnerOutside is why an fd whose signal owner (F_SETOWN) is no running
// process of the app is refused (the dump and the gate).
const OwnerOutside = "it is no running process of the app (set it to one of the app's, or reset it with F_SETOWN 0)"

// oTmpfile is __O_TMPFILE (O_TMPFILE without O_DIRECTORY), as fdinfo's
// octal flags show it.
const oTmpfile = 020000000

// epollPrivate are the bits of an epoll entry's events that are no event
// (EPOLLEXCLUSIVE, EPOLLWAKEUP, EPOLLONESHOT, EPOLLET): an entry showing
// nothing else is a oneshot one that has fired (the kernel keeps only
// these bits then, and adds EPOLLERR|EPOLLHUP to every entry it adds).
const epollPrivate = 1<<28 | 1<<29 | 1<<30 | 1<<31
