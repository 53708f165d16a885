package restore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"

	"golang.org/x/sys/unix"
)

// atFdcwd is AT_FDCWD (-100) as a syscall argument.
const atFdcwd = ^uint64(99)

// threads recreates every thread but the main one with its saved TID:
// clone3 with set_tid and the flags pthread_create uses, run by a batch (one
// resume for many clones); CLONE_PTRACE attaches each new thread, which stops
// before it runs an instruction, and the threads are reported in the order
// of the clones.
func (r *restorer) threads() error {
	var ths []*image.Thread
	for i := range r.p.Threads {
		if th := &r.p.Threads[i]; th.TID != r.p.PID {
			ths = append(ths, th)
		}
	}
	// CLONE_PTRACE: each new thread is auto-attached without stopping its
	// cloner at PTRACE_EVENT_CLONE (ptrace.Batch.QuietClones): the cloner
	// runs its clones in one go, and the tracer learns each new thread's
	// host tid from its id in the app (tidMap.host).
	const flags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_PTRACE
	ns, err := r.nsTids()
	if err != nil {
		return err
	}
	defer ns.close()
	// The first thread is cloned from the main thread, the others from the
	// first: waiting for a thread-group leader's stops means polling
	// (ptrace.Tracer.wait4), another thread's a blocking wait4. A thread
	// cloned from the first has what it would have had from the main
	// thread: nothing per-thread has been set yet in either.
	from := r.pid
	for len(ths) > 0 {
		chunk := ths[:min(len(ths), batchCalls/2)]
		if from == r.pid {
			chunk = ths[:1]
		}
		ths = ths[len(chunk):]
		st := r.newStage()
		var calls []call
		for _, th := range chunk {
			set := st.put(le64(uint64(th.TID)))
			// struct clone_args: flags, pidfd, child_tid, parent_tid,
			// exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup.
			args := st.put(le64(flags, 0, 0, 0, 0, 0, 0, 0, set, 1, 0))
			c := sys(fmt.Sprintf("clone3(set_tid %d)", th.TID), unix.SYS_CLONE3, args, 88)
			c.op.Flags = ptrace.OpClone
			calls = append(calls, c)
		}
		bs, err := r.run(st, []job{{tid: from, calls: calls, threads: true, quiet: true, translate: ns.host}})
		if bs == nil {
			return err
		}
		b := bs[0]
		// The new threads, in the order of the clones that succeeded: kept
		// even on failure, so that they are killed with the process.
		made := 0
		for i := 0; i < b.Ran && b.Err(i) == nil; i++ {
			made++
		}
		for i := 0; i < made && i < len(b.Attached); i++ {
			r.tids[chunk[i].TID] = b.Attached[i]
		}
		if k := b.Failed(); k >= 0 {
			if errors.Is(b.Err(k), unix.EEXIST) {
				return fmt.Errorf("thread %d is already in use in the new PID namespace: cannot recreate it", chunk[k].TID)
			}
			return fmt.Errorf("clone3 with set_tid %d (thread): %w", chunk[k].TID, b.Err(k))
		}
		if err != nil {
			return err
		}
		if len(b.Attached) != len(chunk) {
			return fmt.Errorf("%d threads cloned, %d attached", len(chunk), len(b.Attached))
		}
		for i, th := range chunk {
			if int(b.Ret[i]) != th.TID {
				return fmt.Errorf("clone3 made thread %d, not %d", b.Ret[i], th.TID)
			}
		}
		from = b.Attached[0]
	}
	return nil
}

// nsGetPidFromPidns is NS_GET_PID_FROM_PIDNS (linux/nsfs.h, Linux 6.11):
// on a pid namespace's fd, the id in the caller's namespace of the task
// whose id in that namespace is the argument.
const nsGetPidFromPidns = 0x8004b706 // _IOR(0xb7, 0x6, int)

// tidMap finds the host tid of a thread of a restored process from its id
// in the app's pid namespace.
type tidMap struct {
	pid  int // the process (host pid)
	fd   int // its pid namespace, -1 once the ioctl was found missing
	byNS map[int]int
}

func (r *restorer) nsTids() (*tidMap, error) {
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/pid", r.pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("the app's pid namespace: %w", err)
	}
	return &tidMap{pid: r.pid, fd: fd}, nil
}

func (m *tidMap) close() {
	if m.fd >= 0 {
		unix.Close(m.fd)
	}
}

// host returns the host tid of the thread whose id in the app is id: one
// ioctl, or (a kernel without NS_GET_PID_FROM_PIDNS) the NSpid lines of the
// process's threads, read once.
func (m *tidMap) host(id int64) (int, error) {
	if m.fd >= 0 {
		ret, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(m.fd), nsGetPidFromPidns, uintptr(id))
		if e == 0 {
			return int(ret), nil
		}
		if e != unix.ENOTTY && e != unix.EINVAL {
			return 0, fmt.Errorf("NS_GET_PID_FROM_PIDNS(%d): %w", id, e)
		}
		unix.Close(m.fd)
		m.fd = -1
	}
	if h, ok := m.byNS[int(id)]; ok {
		return h, nil
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", m.pid))
	if err != nil {
		return 0, err
	}
	m.byNS = map[int]int{}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := procfs.TaskStatus(m.pid, tid); err == nil && len(st.NSpid) > 0 {
			m.byNS[st.NSpid[len(st.NSpid)-1]] = tid
		}
	}
	if h, ok := m.byNS[int(id)]; ok {
		return h, nil
	}
	return 0, fmt.Errorf("no thread %d in process %d", id, m.pid)
}

// threadState gives every thread its saved state: clear-tid address (without
// it pthread_join hangs: verified), robust list, rseq, alternate signal stack,
// name, timer slack, scheduling and CPU affinity (read back) — a batch per
// thread, every thread at once — then, in the stop that ends each batch,
// registers, extended state and signal mask (ptrace.Final).
func (r *restorer) threadState() error {
	// Where each thread's batch reads its scheduling back: the index of
	// PR_GET_TIMERSLACK (then sched_getattr, getpriority and
	// sched_getaffinity follow) and the staged buffers.
	type reads struct {
		at         int
		attr, mask uint64
	}
	rd := make([]reads, len(r.p.Threads))
	build := func(i int, st *stage) (job, bool, error) {
		th := &r.p.Threads[i]
		calls := []call{sys("set_tid_address", unix.SYS_SET_TID_ADDRESS, uint64(th.ClearTID))}
		if th.RobustList.Head != 0 {
			calls = append(calls, sys("set_robust_list", unix.SYS_SET_ROBUST_LIST, uint64(th.RobustList.Head), th.RobustList.Len))
		}
		if th.Rseq != nil {
			calls = append(calls, sys("rseq", unix.SYS_RSEQ, uint64(th.Rseq.Addr), uint64(th.Rseq.Len), 0, uint64(th.Rseq.Sig)))
		}
		if th.SigAltStack.SP != 0 || th.SigAltStack.Flags&ssDisable == 0 && th.SigAltStack.Size != 0 {
			flags := uint32(th.SigAltStack.Flags) &^ ssOnstack // the kernel derives it from sp
			a := st.put(le64(uint64(th.SigAltStack.SP), uint64(flags), th.SigAltStack.Size))
			calls = append(calls, sys("sigaltstack", unix.SYS_SIGALTSTACK, a, 0))
		}
		if th.Comm != "" {
			calls = append(calls, sys("prctl(PR_SET_NAME)", unix.SYS_PRCTL, unix.PR_SET_NAME, st.putString(th.Comm)))
		}
		if th.Attrs != nil {
			set, _ := r.affinityWant(th.Attrs)
			calls = append(calls, threadAttrCalls(st, th.TID, th.Attrs, set)...)
			rd[i] = reads{at: len(calls) - 1, attr: st.put(make([]byte, 56)), mask: st.put(make([]byte, affinityBytes))}
			calls = append(calls, threadAttrReads(th.Attrs, rd[i].attr, rd[i].mask)...)
		}
		// Registers last, in the stop that ends the batch: the calls
		// above ran with the thread's current ones.
		regs := ptrace.Regs(th.Regs.Ptrace())
		regs.Orig_rax = ^uint64(0) // no syscall to restart: NormalizeRestart already rewound it
		final := &ptrace.Final{Regs: regs, XState: th.XState, Mask: ptrace.Sigset(th.SigMask)}
		// A thread other than the main one was cloned by a batch, whose
		// mask (every signal blocked) it inherited; nothing has set it
		// since.
		return job{tid: r.tids[th.TID], calls: calls, final: final, blocked: th.TID != r.p.PID}, false, nil
	}
	check := func(i int, b *ptrace.Batch, st *stage) error {
		th := &r.p.Threads[i]
		if th.Attrs == nil {
			return nil
		}
		k := rd[i]
		attr, mask := st.read(k.attr, 56), st.read(k.mask, affinityBytes)
		if attr == nil || mask == nil || len(b.Ret) <= k.at+3 {
			return fmt.Errorf("thread %d: its scheduling was not read back", th.TID)
		}
		_, want := r.affinityWant(th.Attrs)
		return compareThreadAttrs(th.TID, th.Attrs, want, attr, int(b.Ret[k.at+2]), int(b.Ret[k.at+3]), mask, uint64(b.Ret[k.at]))
	}
	return r.perThread(len(r.p.Threads), build, check)
}

// processState restores what the process shares between its threads.
func (r *restorer) processState() error {
	p := r.p
	for _, sa := range p.SigHandlers {
		if sa.Signal == int(unix.SIGKILL) || sa.Signal == int(unix.SIGSTOP) {
			continue
		}
		if sa.Handler == 0 && sa.Flags == 0 && sa.Mask == 0 {
			continue // SIG_DFL, as in the fresh process
		}
		r.reset()
		a, err := r.put(le64(uint64(sa.Handler), uint64(sa.Flags), uint64(sa.Restorer), uint64(sa.Mask)))
		if err != nil {
			return err
		}
		if _, err := r.inj(r.pid, fmt.Sprintf("rt_sigaction(%d)", sa.Signal), unix.SYS_RT_SIGACTION, uint64(sa.Signal), a, 0, 8); err != nil {
			return err
		}
	}
	for which, it := range map[int]image.Itimer{unix.ITIMER_REAL: p.Itimers.Real,
		unix.ITIMER_VIRTUAL: p.Itimers.Virtual, unix.ITIMER_PROF: p.Itimers.Prof} {
		if it.ValueNS == 0 && it.IntervalNS == 0 {
			continue // disarmed
		}
		if it.ValueNS == 0 {
			// An expired periodic ITIMER_REAL reads 0 until its SIGALRM is
			// dequeued (the kernel re-arms it then); that signal is pending
			// and requeued below, so re-arm for one interval.
			it.ValueNS = it.IntervalNS
		}
		r.reset()
		iv, v := time.Duration(it.IntervalNS), time.Duration(it.ValueNS)
		a, err := r.put(le64(uint64(iv/time.Second), uint64(iv%time.Second/time.Microsecond),
			uint64(v/time.Second), uint64(v%time.Second/time.Microsecond)))
		if err != nil {
			return err
		}
		if _, err := r.inj(r.pid, "setitimer", unix.SYS_SETITIMER, uint64(which), a, 0); err != nil {
			return err
		}
	}
	if err := r.posixTimers(); err != nil {
		return err
	}
	for _, rl := range p.Rlimits {
		lim := unix.Rlimit{Cur: rl.Cur, Max: rl.Max}
		if err := unix.Prlimit(r.pid, rl.Resource, &lim, nil); err != nil {
			return fmt.Errorf("resource limit %s (%s) cannot be set here: %w (raising a hard limit needs CAP_SYS_RESOURCE)", rl.Name, rlimitString(rl), err)
		}
		var got unix.Rlimit
		if err := unix.Prlimit(r.pid, rl.Resource, nil, &got); err != nil || got != lim {
			return fmt.Errorf("resource limit %s is %d/%d after restore, saved %s (%v)", rl.Name, got.Cur, got.Max, rlimitString(rl), err)
		}
	}
	if _, err := r.inj(r.pid, "umask", unix.SYS_UMASK, uint64(p.Umask)); err != nil {
		return err
	}
	r.reset()
	cwd, err := r.t.cwdPath(p)
	if err != nil {
		return err
	}
	a, err := r.putString(cwd)
	if err != nil {
		return err
	}
	if _, err := r.inj(r.pid, "chdir("+cwd+")", unix.SYS_CHDIR, a); err != nil {
		return err
	}
	// Always: the stub has the restorer's personality, not the app's.
	if _, err := r.inj(r.pid, "personality", unix.SYS_PERSONALITY, uint64(p.Personality)); err != nil {
		return err
	}
	if got, err := r.inj(r.pid, "personality(query)", unix.SYS_PERSONALITY, 0xffffffff); err != nil || got != uint64(p.Personality) {
		return fmt.Errorf("personality is %#x after restore, saved %#x (%v)", got, uint64(p.Personality), err)
	}
	if p.ParentDeathSignal != 0 {
		if _, err := r.inj(r.pid, "prctl(PR_SET_PDEATHSIG)", unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uint64(p.ParentDeathSignal)); err != nil {
			return err
		}
	}
	if p.ChildSubreaper {
		if _, err := r.inj(r.pid, "prctl(PR_SET_CHILD_SUBREAPER)", unix.SYS_PRCTL, unix.PR_SET_CHILD_SUBREAPER, 1); err != nil {
			return err
		}
	}
	return nil
}

// pending queues the saved pending signals again, from inside the process
// (a process may queue any si_code to itself).
func (r *restorer) pending() error {
	for i := range r.p.Threads {
		th := &r.p.Threads[i]
		tid := r.tids[th.TID]
		for _, si := range th.Pending {
			r.reset()
			a, err := r.put(requeueable(si))
			if err != nil {
				return err
			}
			if _, err := r.inj(tid, "rt_tgsigqueueinfo", unix.SYS_RT_TGSIGQUEUEINFO, uint64(r.p.PID), uint64(th.TID), uint64(si.Signo), a); err != nil {
				return err
			}
		}
	}
	for _, si := range r.p.SharedPending {
		r.reset()
		a, err := r.put(requeueable(si))
		if err != nil {
			return err
		}
		if _, err := r.inj(r.pid, "rt_sigqueueinfo", unix.SYS_RT_SIGQUEUEINFO, uint64(r.p.PID), uint64(si.Signo), a); err != nil {
			return err
		}
	}
	return nil
}

// siTimer is SI_TIMER, the si_code of a POSIX timer's signal.
const siTimer = -2

// requeueable is the raw siginfo to queue again. A timer's signal carries the
// kernel's private rearm cookie (_sys_private, at offset 32): it belonged to
// the old timer, so it is cleared and the signal arrives as a plain one (the
// restored timer rearms itself, being periodic with its own interval).
func requeueable(si image.SigInfo) []byte {
	raw := append([]byte(nil), si.Raw...)
	if si.Code == siTimer && len(raw) >= 36 {
		binary.LittleEndian.PutUint32(raw[32:], 0)
	}
	return raw
}

// sigaltstack flags (include/uapi/linux/signal.h).
const (
	ssOnstack = 1
	ssDisable = 2
)

// cloneWithTid injects clone3 with set_tid = [id] and flags into thread tid,
// and returns the host tid of the new task, which TraceClone attached stopped
// at the user-mode boundary before it ran an instruction. what names it in
// errors ("process", "thread").
func (r *restorer) cloneWithTid(tid int, what string, id int, flags, exitSignal uint64) (int, error) {
	r.reset()
	st, err := r.put(le64(uint64(id)))
	if err != nil {
		return 0, err
	}
	n := uint64(1)
	if id == 0 { // any id: the kernel's choice
		st, n = 0, 0
	}
	// struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal,
	// stack, stack_size, tls, set_tid, set_tid_size, cgroup.
	args, err := r.put(le64(flags, 0, 0, 0, exitSignal, 0, 0, 0, st, n, 0))
	if err != nil {
		return 0, err
	}
	before := map[int]bool{}
	for _, t := range r.tr.Tracees() {
		before[t] = true
	}
	ret, err := r.tr.Inject(tid, unix.SYS_CLONE3, args, 88)
	if err != nil {
		if errors.Is(err, unix.EEXIST) {
			return 0, fmt.Errorf("%s %d is already in use in the new PID namespace: cannot recreate it", what, id)
		}
		return 0, fmt.Errorf("clone3 with set_tid %d (%s): %w", id, what, err)
	}
	if id != 0 && int(ret) != id {
		return 0, fmt.Errorf("clone3 made %s %d, not %d", what, ret, id)
	}
	host := 0
	for _, t := range r.tr.Tracees() {
		if !before[t] {
			host = t
		}
	}
	if host == 0 {
		return 0, fmt.Errorf("the new %s %d was not attached", what, id)
	}
	if _, err := r.tr.Interrupt(host); err != nil {
		return 0, fmt.Errorf("new %s %d: %w", what, id, err)
	}
	return host, nil
}

// prTimerCreateRestoreIDs is PR_TIMER_CREATE_RESTORE_IDS (Linux 6.17): while
// on, timer_create takes the id to create from *timerid.
const prTimerCreateRestoreIDs = 77

// posixTimers recreates the timer_create(2) timers with their ids, then
// arms them with the time that was left.
func (r *restorer) posixTimers() error {
	if len(r.p.PosixTimers) == 0 {
		return nil
	}
	if _, err := r.inj(r.pid, "prctl(PR_TIMER_CREATE_RESTORE_IDS, ON)", unix.SYS_PRCTL, prTimerCreateRestoreIDs, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("POSIX timers need PR_TIMER_CREATE_RESTORE_IDS (Linux 6.17+): %w", err)
	}
	for _, pt := range r.p.PosixTimers {
		r.reset()
		// struct sigevent: sigev_value, sigev_signo, sigev_notify, then the
		// union whose first int is the thread id; 64 bytes in all.
		sev := make([]byte, 64)
		binary.LittleEndian.PutUint64(sev[0:], uint64(pt.SigValue))
		binary.LittleEndian.PutUint32(sev[8:], uint32(pt.Signal))
		binary.LittleEndian.PutUint32(sev[12:], uint32(pt.Notify))
		if pt.Notify&4 != 0 {
			if _, ok := r.tids[pt.TID]; !ok {
				return fmt.Errorf("POSIX timer %d notifies thread %d, which is not in the image", pt.ID, pt.TID)
			}
			binary.LittleEndian.PutUint32(sev[16:], uint32(pt.TID))
		}
		sa, err := r.put(sev)
		if err != nil {
			return err
		}
		ia, err := r.put(binary.LittleEndian.AppendUint32(nil, uint32(pt.ID)))
		if err != nil {
			return err
		}
		if _, err := r.inj(r.pid, fmt.Sprintf("timer_create(id %d)", pt.ID), unix.SYS_TIMER_CREATE, uint64(pt.Clock), sa, ia); err != nil {
			return err
		}
		if pt.ValueNS == 0 && pt.IntervalNS == 0 {
			continue
		}
		iv, v := time.Duration(pt.IntervalNS), time.Duration(max(pt.ValueNS, 1))
		ta, err := r.put(le64(uint64(iv/time.Second), uint64(iv%time.Second), uint64(v/time.Second), uint64(v%time.Second)))
		if err != nil {
			return err
		}
		if _, err := r.inj(r.pid, fmt.Sprintf("timer_settime(%d)", pt.ID), unix.SYS_TIMER_SETTIME, uint64(pt.ID), 0, ta, 0); err != nil {
			return err
		}
	}
	_, err := r.inj(r.pid, "prctl(PR_TIMER_CREATE_RESTORE_IDS, OFF)", unix.SYS_PRCTL, prTimerCreateRestoreIDs, 0, 0, 0, 0)
	return err
}

// rlimitString renders a limit as soft/hard, "unlimited" for RLIM_INFINITY.
func rlimitString(rl image.Rlimit) string {
	f := func(v uint64) string {
		if v == unix.RLIM_INFINITY {
			return "unlimited"
		}
		return strconv.FormatUint(v, 10)
	}
	return f(rl.Cur) + "/" + f(rl.Max)
}
