package checkpoint

import (
	"encoding/binary"
	"fmt"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// inject runs a syscall in the main thread and fails with its name.
func (d *dumper) inject(name string, nr int, args ...uint64) (int64, error) {
	r, err := d.tr.Inject(d.pid, nr, args...)
	if err != nil {
		return r, fmt.Errorf("pid %d: injected %s: %w", d.pid, name, err)
	}
	return r, nil
}

// readScratch reads n bytes at offset off of the scratch page.
func (d *dumper) readScratch(off, n int) ([]byte, error) {
	b := make([]byte, n)
	if err := ptrace.ReadMem(d.pid, d.scratch+uintptr(off), b); err != nil {
		return nil, fmt.Errorf("pid %d: read scratch page: %w", d.pid, err)
	}
	return b, nil
}

var rlimitNames = map[int]string{
	unix.RLIMIT_CPU: "RLIMIT_CPU", unix.RLIMIT_FSIZE: "RLIMIT_FSIZE", unix.RLIMIT_DATA: "RLIMIT_DATA",
	unix.RLIMIT_STACK: "RLIMIT_STACK", unix.RLIMIT_CORE: "RLIMIT_CORE", unix.RLIMIT_RSS: "RLIMIT_RSS",
	unix.RLIMIT_NPROC: "RLIMIT_NPROC", unix.RLIMIT_NOFILE: "RLIMIT_NOFILE", unix.RLIMIT_MEMLOCK: "RLIMIT_MEMLOCK",
	unix.RLIMIT_AS: "RLIMIT_AS", 10: "RLIMIT_LOCKS", 11: "RLIMIT_SIGPENDING", 12: "RLIMIT_MSGQUEUE",
	13: "RLIMIT_NICE", 14: "RLIMIT_RTPRIO", 15: "RLIMIT_RTTIME",
}

func (d *dumper) processState(p *image.Process) error {
	pid := d.pid
	stat, err := procfs.Stat(pid)
	if err != nil {
		return err
	}
	status, err := procfs.Status(pid)
	if err != nil {
		return err
	}
	d.t.ids(p, stat, status)
	p.ExitSignal = stat.ExitSignal
	if tty := stat.TTY(); p.SID == p.PID && p.PID != 0 {
		if n, ok := ptyIndex(tty.Major, tty.Minor); ok {
			p.Ctty = &image.Ctty{Pty: n}
			if stat.Tpgid > 0 {
				if fg, err := d.ns(stat.Tpgid); err == nil {
					p.Ctty.Fg = fg
				}
			}
		}
	}
	p.Comm = status.Name
	exe, err := procfs.Exe(pid)
	if err != nil {
		return fmt.Errorf("pid %d: executable: %w", pid, err)
	}
	p.Exe = image.FileIdentity{Path: exe.Path, Dev: image.MakeDev(exe.Dev.Major, exe.Dev.Minor), Inode: exe.Inode,
		Size: exe.Size, Mtime: exe.Mtime, Ctime: exe.Ctime, Mode: image.Octal(exe.Mode), Deleted: exe.Deleted}
	hashIdentity(&p.Exe, fmt.Sprintf("/proc/%d/exe", pid), true)
	if exe.Deleted {
		return fmt.Errorf("pid %d: its executable %s was deleted: cannot be restored", pid, exe.Path)
	}
	if p.Cwd, err = procfs.Cwd(pid); err != nil {
		return err
	}
	if root, err := procfs.RootDir(pid); err == nil && root != "/" {
		p.Root = root
	}
	p.Umask = image.Octal(status.Umask)
	p.Creds = statusCreds(status)
	// What only the process itself can tell, through syscalls it makes
	// (batched: queries.go) whose output lands in the scratch page.
	// personality(0xffffffff) only reads it; /proc/PID/personality of a
	// process that is not dumpable is root's alone.
	d.ownSeccomp = d.hasOwnSeccomp(status)
	qPers := &query{name: "personality(query)", nr: unix.SYS_PERSONALITY, args: [6]uint64{0xffffffff}, outArg: -1}
	qs := []*query{qPers}
	// Resource limits from inside: prlimit(2) from outside needs the same
	// uids or CAP_SYS_RESOURCE, and an app may have changed its uids.
	var qLimits, qTimers, qSigs []*query
	for r := 0; r < 16; r++ {
		qLimits = append(qLimits, &query{name: fmt.Sprintf("prlimit64(%s)", rlimitNames[r]), nr: unix.SYS_PRLIMIT64,
			args: [6]uint64{0, uint64(r), 0}, outArg: 3, outLen: 16})
	}
	for _, which := range []int{unix.ITIMER_REAL, unix.ITIMER_VIRTUAL, unix.ITIMER_PROF} {
		qTimers = append(qTimers, &query{name: "getitimer", nr: unix.SYS_GETITIMER, args: [6]uint64{uint64(which)}, outArg: 1, outLen: 32})
	}
	qDeath := &query{name: "prctl(PR_GET_PDEATHSIG)", nr: unix.SYS_PRCTL, args: [6]uint64{unix.PR_GET_PDEATHSIG}, outArg: 1, outLen: 4}
	qReaper := &query{name: "prctl(PR_GET_CHILD_SUBREAPER)", nr: unix.SYS_PRCTL, args: [6]uint64{unix.PR_GET_CHILD_SUBREAPER}, outArg: 1, outLen: 4}
	// Signal dispositions: struct kernel_sigaction {handler, flags, restorer,
	// mask}. Only caught and ignored signals are asked for (SigCgt|SigIgn);
	// the others are SIG_DFL.
	for sig := 1; sig <= 64; sig++ {
		if (status.SigCgt|status.SigIgn)&(1<<(sig-1)) != 0 {
			qSigs = append(qSigs, &query{name: fmt.Sprintf("rt_sigaction(%d)", sig), nr: unix.SYS_RT_SIGACTION,
				args: [6]uint64{uint64(sig), 0, 0, 8}, outArg: 2, outLen: 32})
		}
	}
	qBrk := &query{name: "brk(0)", nr: unix.SYS_BRK, outArg: -1}
	// The NUMA memory policy (mempolicy.go): the main thread's, which
	// its other threads inherited unless they set their own (trapped).
	qPolicy := &query{name: "get_mempolicy", nr: unix.SYS_GET_MEMPOLICY, outArg: 0, outLen: 4}
	qs = append(qs, qPolicy)
	mq := newMainQueries()
	qs = append(qs, qLimits...)
	qs = append(qs, qTimers...)
	qs = append(qs, qDeath, qReaper)
	qs = append(qs, qSigs...)
	qs = append(qs, qBrk)
	qs = append(qs, mq.all()...)
	if err := d.runQueries(qs); err != nil {
		return err
	}
	if mode := int32(binary.LittleEndian.Uint32(qPolicy.out)); qPolicy.ret == 0 && mode != 0 {
		return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: pid, Kind: "mempolicy", Fd: -1, Reason: mempolicyReason(mode)}}}
	}
	d.mainQ = mq
	p.Personality = image.Hex(uint32(qPers.ret))
	le := binary.LittleEndian
	for r, q := range qLimits {
		p.Rlimits = append(p.Rlimits, image.Rlimit{Resource: r, Name: rlimitNames[r],
			Cur: le.Uint64(q.out), Max: le.Uint64(q.out[8:])})
	}
	for i, q := range qTimers {
		b := q.out
		it := image.Itimer{
			IntervalNS: int64(le.Uint64(b[0:]))*1e9 + int64(le.Uint64(b[8:]))*1e3,
			ValueNS:    int64(le.Uint64(b[16:]))*1e9 + int64(le.Uint64(b[24:]))*1e3,
		}
		switch i {
		case 0:
			p.Itimers.Real = it
		case 1:
			p.Itimers.Virtual = it
		case 2:
			p.Itimers.Prof = it
		}
	}
	p.ParentDeathSignal = int(int32(le.Uint32(qDeath.out)))
	p.ChildSubreaper = le.Uint32(qReaper.out) != 0
	for sig := 1; sig <= 64; sig++ {
		if (status.SigCgt|status.SigIgn)&(1<<(sig-1)) == 0 {
			p.SigHandlers = append(p.SigHandlers, image.SigAction{Signal: sig})
			continue
		}
		b := qSigs[0].out
		qSigs = qSigs[1:]
		p.SigHandlers = append(p.SigHandlers, image.SigAction{Signal: sig, Handler: image.Hex(le.Uint64(b[0:])),
			Flags: image.Hex(le.Uint64(b[8:])), Restorer: image.Hex(le.Uint64(b[16:])), Mask: image.Hex(le.Uint64(b[24:]))})
	}
	brk := qBrk.ret
	buf := uint64(d.scratch) + ptrace.ScratchDataOffset
	p.SharedPending = d.sharedPending // read before any timer (readPending)

	if err := d.posixTimers(p, buf); err != nil {
		return err
	}
	if err := d.creds(p); err != nil {
		return err
	}
	if err := d.attrs(p, buf); err != nil {
		return err
	}

	auxv, err := procfs.Auxv(pid)
	if err != nil {
		return err
	}
	p.MM = image.MM{StartCode: image.Hex(stat.StartCode), EndCode: image.Hex(stat.EndCode),
		StartData: image.Hex(stat.StartData), EndData: image.Hex(stat.EndData), StartBrk: image.Hex(stat.StartBrk),
		Brk: image.Hex(brk), StartStack: image.Hex(stat.StartStack), ArgStart: image.Hex(stat.ArgStart),
		ArgEnd: image.Hex(stat.ArgEnd), EnvStart: image.Hex(stat.EnvStart), EnvEnd: image.Hex(stat.EnvEnd)}
	for _, a := range auxv {
		p.MM.Auxv = append(p.MM.Auxv, image.Hex(a.Type), image.Hex(a.Value))
	}
	return nil
}

func sigInfos(in []ptrace.Siginfo) []image.SigInfo {
	var out []image.SigInfo
	for i := range in {
		raw := make([]byte, len(in[i]))
		copy(raw, in[i][:])
		out = append(out, image.SigInfo{Signo: int(in[i].Signo()), Code: int(in[i].Code()), Raw: raw})
	}
	return out
}

// keep filters out the pending signals the request drops.
func (d *dumper) keep(in []image.SigInfo) []image.SigInfo {
	var out []image.SigInfo
	for _, si := range in {
		drop := false
		for _, s := range d.req.DropSignals {
			if si.Signo == int(s) {
				drop = true
			}
		}
		if !drop {
			out = append(out, si)
		}
	}
	return out
}

// posixTimers saves the timer_create(2) timers: what /proc/PID/timers
// tells, plus the time left and the interval from an injected timer_gettime.
func (d *dumper) posixTimers(p *image.Process, buf uint64) error {
	timers, err := procfs.Timers(d.pid)
	if err != nil {
		return fmt.Errorf("pid %d: /proc/PID/timers: %w", d.pid, err)
	}
	for _, tm := range timers {
		pt := image.PosixTimer{ID: tm.ID, Clock: tm.ClockID, Signal: tm.Signal, SigValue: image.Hex(tm.SigValue)}
		switch tm.Notify {
		case "signal":
			pt.Notify = 0 // SIGEV_SIGNAL
		case "none":
			pt.Notify = 1 // SIGEV_NONE
		default:
			return fmt.Errorf("pid %d: POSIX timer %d: notify %q not supported", d.pid, tm.ID, tm.Notify)
		}
		if tm.NotifyKind == "tid" {
			pt.Notify |= 4 // SIGEV_THREAD_ID
			if pt.TID, err = d.ns(tm.NotifyPid); err != nil {
				return fmt.Errorf("pid %d: POSIX timer %d: thread %d: %w", d.pid, tm.ID, tm.NotifyPid, err)
			}
		}
		if _, err := d.inject(fmt.Sprintf("timer_gettime(%d)", tm.ID), unix.SYS_TIMER_GETTIME, uint64(tm.ID), buf); err != nil {
			return err
		}
		b, err := d.readScratch(ptrace.ScratchDataOffset, 32)
		if err != nil {
			return err
		}
		le := binary.LittleEndian
		pt.IntervalNS = int64(le.Uint64(b[0:]))*1e9 + int64(le.Uint64(b[8:]))
		pt.ValueNS = int64(le.Uint64(b[16:]))*1e9 + int64(le.Uint64(b[24:]))
		// timer_getoverrun tells the app how many expiries its last
		// signal stood for. No interface sets it: a restored timer
		// would say 0. Zero (the common case) is restored exactly;
		// anything else is refused rather than silently reset.
		over, err := d.inject(fmt.Sprintf("timer_getoverrun(%d)", tm.ID), unix.SYS_TIMER_GETOVERRUN, uint64(tm.ID))
		if err != nil {
			return err
		}
		if over != 0 {
			return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: d.pid, Kind: "posix_timer", Fd: -1,
				Reason: fmt.Sprintf("CR: POSIX timer %d: its last signal stood for %d overruns (timer_getoverrun), which no interface restores: not supported yet", tm.ID, over)}}}
		}
		p.PosixTimers = append(p.PosixTimers, pt)
	}
	return nil
}

// readPending reads the process's pending signals, shared and per thread,
// before any timer's state: timers run on while the app is frozen, and a
// timer read first could fire before the queues are read, leaving both its
// signal and the time to that same expiry in the image. Read in this order,
// an expiry during the dump is the restored timer's next one.
func (d *dumper) readPending() error {
	shared, err := d.tr.PeekSiginfo(d.pid, true)
	if err != nil {
		return fmt.Errorf("pid %d: shared pending signals: %w", d.pid, err)
	}
	d.sharedPending = d.keep(sigInfos(shared))
	d.contPending = sigcontPending(shared)
	d.threadPending = map[int][]image.SigInfo{}
	for _, tid := range d.tids {
		pending, err := d.tr.PeekSiginfo(tid, false)
		if err != nil {
			return fmt.Errorf("pid %d: thread %d: pending signals: %w", d.pid, tid, err)
		}
		d.threadPending[tid] = d.keep(sigInfos(pending))
		d.contPending = d.contPending || sigcontPending(pending)
	}
	return nil
}

// peerCred reads SO_PEERCRED of the process's socket fd by an injected
// getsockopt: the pid, uid and gid as the app sees them (in its pid and user
// namespaces), even for a creator that has exited since.
func (d *dumper) peerCred(fd int) (*image.Ucred, error) {
	buf := uint64(d.scratch) + ptrace.ScratchDataOffset
	if err := ptrace.WriteMem(d.pid, uintptr(buf+16), binary.LittleEndian.AppendUint32(nil, 12)); err != nil {
		return nil, fmt.Errorf("pid %d: write scratch page: %w", d.pid, err)
	}
	if _, err := d.inject(fmt.Sprintf("getsockopt(%d, SO_PEERCRED)", fd), unix.SYS_GETSOCKOPT, uint64(fd), unix.SOL_SOCKET, unix.SO_PEERCRED, buf, buf+16); err != nil {
		return nil, err
	}
	b, err := d.readScratch(ptrace.ScratchDataOffset, 12)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	return &image.Ucred{Pid: int(int32(le.Uint32(b))), Uid: le.Uint32(b[4:]), Gid: le.Uint32(b[8:])}, nil
}
