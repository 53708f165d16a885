package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// Per-process and per-thread attributes (docs/design.md, "Process
// attributes"): each is read here through the kernel, set back by
// restore/attrs.go, which reads it back and compares; what restore cannot
// set exactly is refused here with the reason.

// Scheduling policies and flags (include/uapi/linux/sched.h).
const (
	schedOther    = 0
	schedFIFO     = 1
	schedRR       = 2
	schedBatch    = 3
	schedIdle     = 5
	schedDeadline = 6

	schedFlagResetOnFork = 0x01
	schedAttrSize        = 56 // SCHED_ATTR_SIZE_VER1: with the utilization clamps
	uclampMax            = 1024
)

// membarrierCmdGetRegistrations is MEMBARRIER_CMD_GET_REGISTRATIONS (Linux 6.3).
const membarrierCmdGetRegistrations = 1 << 9

// prGetThpDisable and friends (include/uapi/linux/prctl.h).
const (
	prGetThpDisable = 42
	prGetTimerslack = 30
	prGetSecurebits = 27
	prGetDumpable   = 3
	prSetDumpable   = 4
)

// statusCreds are the credentials /proc/PID[/task/TID]/status shows.
func statusCreds(st *procfs.ProcStatus) image.Credentials {
	return image.Credentials{
		UID: st.Uid.Real, EUID: st.Uid.Effective, SUID: st.Uid.Saved, FSUID: st.Uid.FS,
		GID: st.Gid.Real, EGID: st.Gid.Effective, SGID: st.Gid.Saved, FSGID: st.Gid.FS,
		Groups: st.Groups, CapInheritable: image.Hex(st.CapInh), CapPermitted: image.Hex(st.CapPrm),
		CapEffective: image.Hex(st.CapEff), CapBounding: image.Hex(st.CapBnd), CapAmbient: image.Hex(st.CapAmb),
		NoNewPrivs: st.NoNewPrivs,
	}
}

func sameCreds(a, b *image.Credentials) bool {
	return a.UID == b.UID && a.EUID == b.EUID && a.SUID == b.SUID && a.FSUID == b.FSUID &&
		a.GID == b.GID && a.EGID == b.EGID && a.SGID == b.SGID && a.FSGID == b.FSGID &&
		slices.Equal(a.Groups, b.Groups) && a.CapInheritable == b.CapInheritable &&
		a.CapPermitted == b.CapPermitted && a.CapEffective == b.CapEffective &&
		a.CapBounding == b.CapBounding && a.CapAmbient == b.CapAmbient &&
		a.Securebits == b.Securebits && a.NoNewPrivs == b.NoNewPrivs
}

// creds reads the main thread's securebits, which /proc does not show (the
// rest of its credentials come from /proc/PID/status).
func (d *dumper) creds(p *image.Process) error {
	var sb int64
	if mq := d.main(d.pid); mq != nil {
		sb = mq.securebits.ret
	} else {
		var err error
		if sb, err = d.inject("prctl(PR_GET_SECUREBITS)", unix.SYS_PRCTL, prGetSecurebits); err != nil {
			return err
		}
	}
	p.Creds.Securebits = uint32(sb)
	if !p.Creds.NoNewPrivs {
		// crrun's exec stage and restore set no_new_privs for the NOCR
		// filter: a process without it was not made by crrun.
		return fmt.Errorf("CR: pid %d has no_new_privs off, which a restore cannot reproduce (crrun's filter needs it on)", p.PID)
	}
	return nil
}

// threadCreds gives each thread whose credentials differ from the main
// thread's its own (credentials are per thread in the kernel: a raw
// setfsuid, or a setuid made by one thread of a program that does not
// synchronise them, changes only the caller's).
func (d *dumper) threadCreds(p *image.Process) error {
	for i := range p.Threads {
		tid := d.tids[i]
		if tid == d.pid {
			continue
		}
		st, err := procfs.TaskStatus(d.pid, tid)
		if err != nil {
			return fmt.Errorf("thread %d: %w", tid, err)
		}
		c := statusCreds(st)
		sb, err := d.tr.Inject(tid, unix.SYS_PRCTL, prGetSecurebits)
		if err != nil {
			return fmt.Errorf("thread %d: injected prctl(PR_GET_SECUREBITS): %w", tid, err)
		}
		c.Securebits = uint32(sb)
		if !sameCreds(&c, &p.Creds) {
			if !c.NoNewPrivs {
				return fmt.Errorf("CR: pid %d thread %d has no_new_privs off, which a restore cannot reproduce", p.PID, tid)
			}
			p.Threads[i].Creds = &c
		}
	}
	return nil
}

// openProc reads the app's dumpable flag and, for an ordinary user's
// checkpoint of a process that is not dumpable (prctl(PR_SET_DUMPABLE, 0),
// or after a change of credentials), makes it dumpable until the whole
// checkpoint is done (tree.undoDumpable, after the inventory): its /proc
// files (auxv, personality, fd...) are root's alone otherwise. Root reads
// them anyway.
func (d *dumper) openProc() error {
	dump, err := d.inject("prctl(PR_GET_DUMPABLE)", unix.SYS_PRCTL, prGetDumpable)
	if err != nil {
		return err
	}
	d.dumpable = int(dump)
	if dump == 0 && unix.Geteuid() != 0 {
		if _, err := d.inject("prctl(PR_SET_DUMPABLE, 1)", unix.SYS_PRCTL, prSetDumpable, 1); err != nil {
			return err
		}
		d.t.madeDumpable = append(d.t.madeDumpable, d.pid)
	}
	return nil
}

// undoDumpable gives the processes openProc made dumpable their flag back
// (0), while they are still frozen: the app never runs dumpable.
func (t *tree) undoDumpable() {
	for _, pid := range t.madeDumpable {
		if _, err := t.tr.Inject(pid, unix.SYS_PRCTL, prSetDumpable, 0); err != nil {
			slog.Warn("give the app its dumpable flag back", "pid", pid, "err", err)
		}
	}
	t.madeDumpable = nil
}

// attrs saves the process attributes of ProcAttrs.
func (d *dumper) attrs(p *image.Process, buf uint64) error {
	a := &image.ProcAttrs{}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", d.pid))
	if err != nil {
		return fmt.Errorf("pid %d: %w", d.pid, err)
	}
	if a.OomScoreAdj, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		return fmt.Errorf("pid %d: oom_score_adj %q: %w", d.pid, b, err)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/loginuid", d.pid)); err == nil {
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
		if err != nil {
			return fmt.Errorf("pid %d: loginuid %q: %w", d.pid, b, err)
		}
		u := uint32(v)
		a.LoginUID = &u
		for _, tid := range d.tids {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/loginuid", d.pid, tid)); err == nil && strings.TrimSpace(string(b)) != strconv.FormatUint(v, 10) {
				return fmt.Errorf("CR: threads with different loginuids not supported yet: pid %d, thread %d has %s, the main thread %d", p.PID, tid, strings.TrimSpace(string(b)), v)
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pid %d: %w", d.pid, err)
	}
	var thp int64
	if mq := d.main(d.pid); mq != nil {
		thp = mq.thpDisable.ret
	} else if thp, err = d.inject("prctl(PR_GET_THP_DISABLE)", unix.SYS_PRCTL, prGetThpDisable, 0, 0, 0, 0); err != nil {
		return err
	}
	a.THPDisable = int(thp)
	dump := int64(d.dumpable)
	if dump != 0 && dump != 1 {
		return fmt.Errorf("CR: pid %d is dumpable in mode %d (fs.suid_dumpable after a credential change): not supported yet, prctl(PR_SET_DUMPABLE) can only set 0 or 1", p.PID, dump)
	}
	a.Dumpable = int(dump)
	mb, err := d.tr.Inject(d.pid, unix.SYS_MEMBARRIER, membarrierCmdGetRegistrations, 0, 0)
	switch {
	case err == nil:
		a.Membarrier = int(mb)
	case errors.Is(err, unix.ENOSYS):
		// A kernel without membarrier: nothing can be registered.
	case errors.Is(err, unix.EINVAL):
		// A kernel without MEMBARRIER_CMD_GET_REGISTRATIONS (before 6.3):
		// registrations cannot be read.
		return fmt.Errorf("CR: pid %d: this kernel cannot tell membarrier registrations (MEMBARRIER_CMD_GET_REGISTRATIONS, Linux 6.3): %v", p.PID, err)
	default:
		return fmt.Errorf("pid %d: injected membarrier(GET_REGISTRATIONS): %w", d.pid, err)
	}
	if d.frozen != nil {
		if st := d.frozen.Stops[d.pid]; st != nil && st.Kind == ptrace.StopGroup {
			gs := &image.GroupStop{Signal: int(st.Signal)}
			if rep, ok := d.t.stopReported[d.pid]; ok {
				gs.Reported = rep
			}
			for _, tid := range d.tids {
				if ts := d.frozen.Stops[tid]; ts == nil || ts.Kind != ptrace.StopGroup {
					// Moving (a stop signal on its way through the
					// threads): the supervisor tries again by itself.
					return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: d.pid, Kind: "group_stop", Fd: -1, Transient: true,
						Reason: fmt.Sprintf("CR: pid %d is stopping (thread %d is not in the group stop yet): checkpoint again in a moment", p.PID, tid)}}}
				}
			}
			a.Stop = gs
		}
	}
	p.Attrs = a
	return d.childStops(buf)
}

// childStops tells, for each stopped child of this process, whether its stop
// was already reported to this process by wait(WUNTRACED): an injected
// waitid(WSTOPPED|WNOWAIT|WNOHANG) that finds it means not yet (and consumes
// nothing).
func (d *dumper) childStops(buf uint64) error {
	if d.ft == nil {
		return nil
	}
	for _, tid := range d.tids {
		kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", d.pid, tid))
		if err != nil {
			continue
		}
		for _, k := range strings.Fields(string(kids)) {
			child, _ := strconv.Atoi(k)
			f := d.ft.frozen[child]
			if f == nil || f.Stops[child] == nil || f.Stops[child].Kind != ptrace.StopGroup {
				continue
			}
			ns, err := d.ns(child)
			if err != nil {
				return err
			}
			const wallFlag = 0x40000000 // __WALL
			if _, err := d.inject(fmt.Sprintf("waitid(P_PID %d, WSTOPPED|WNOWAIT)", ns), unix.SYS_WAITID, unix.P_PID, uint64(ns), buf,
				unix.WSTOPPED|unix.WNOWAIT|unix.WNOHANG|wallFlag, 0); err != nil {
				return err
			}
			b, err := d.readScratch(ptrace.ScratchDataOffset, 24)
			if err != nil {
				return err
			}
			// siginfo_t: si_signo, si_errno, si_code, pad, then si_pid.
			pid := int32(binary.LittleEndian.Uint32(b[16:]))
			d.t.stopReported[child] = pid == 0
		}
	}
	return nil
}

// threadAttrs saves a thread's scheduling attributes and timer slack.
func (d *dumper) threadAttrs(tid int, buf uint64) (*image.ThreadAttrs, error) {
	a := &image.ThreadAttrs{}
	attr := make([]byte, schedAttrSize)
	if err := schedGetattr(tid, attr); err != nil {
		return nil, fmt.Errorf("thread %d: sched_getattr: %w", tid, err)
	}
	le := binary.LittleEndian
	// struct sched_attr: size, policy, flags (u64), nice (s32), priority,
	// runtime, deadline, period (u64), util_min, util_max.
	a.Policy = int(le.Uint32(attr[4:]))
	a.Flags = le.Uint64(attr[8:])
	// sched_getattr reports nice 0 for a real-time thread, whose nice
	// value is kept nevertheless (and acts again if it leaves that
	// policy): getpriority(2) tells it (as 20 - nice).
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return nil, fmt.Errorf("thread %d: getpriority: %w", tid, err)
	}
	a.Nice = 20 - prio
	a.Priority = int(le.Uint32(attr[20:]))
	umin, umax := le.Uint32(attr[48:]), le.Uint32(attr[52:])
	switch a.Policy {
	case schedOther, schedFIFO, schedRR, schedBatch, schedIdle:
	case schedDeadline:
		return nil, fmt.Errorf("CR: SCHED_DEADLINE not supported yet (thread %d)", tid)
	default:
		return nil, fmt.Errorf("CR: scheduling policy %d not supported yet (thread %d)", a.Policy, tid)
	}
	// Without CONFIG_UCLAMP_TASK both clamps read 0.
	if a.Flags&^schedFlagResetOnFork != 0 || umin != 0 || umax != uclampMax && umax != 0 {
		return nil, fmt.Errorf("CR: scheduling flags %#x or utilization clamps (%d..%d) not supported yet (thread %d)", a.Flags, umin, umax, tid)
	}
	if a.Affinity, err = image.Affinity(tid); err != nil {
		return nil, fmt.Errorf("thread %d: sched_getaffinity: %w", tid, err)
	}
	var slack int64
	if mq := d.main(tid); mq != nil {
		slack = mq.timerSlack.ret
	} else {
		var err error
		if slack, err = d.tr.Inject(tid, unix.SYS_PRCTL, prGetTimerslack); err != nil {
			return nil, fmt.Errorf("thread %d: injected prctl(PR_GET_TIMERSLACK): %w", tid, err)
		}
	}
	a.TimerSlackNS = uint64(slack)
	// The I/O priority (ionice), per thread, read from outside.
	iop, _, e := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, uintptr(tid), 0)
	if e != 0 {
		return nil, fmt.Errorf("thread %d: ioprio_get: %w", tid, e)
	}
	if a.IOPrio = int(iop); a.IOPrio != 0 {
		d.w.RequireFeature("ioprio")
	}
	return a, nil
}

// seccompFilters saves the app's own seccomp filters of thread tid: those
// above the ones it had at launch (crrun's NOCR filter and whatever crrun
// itself ran under), oldest first. Root only: the checkpoint then freezes
// with PTRACE_O_SUSPEND_SECCOMP, so that the filters do not block the
// injected syscalls.
func (d *dumper) seccompFilters(tid int) ([]image.SeccompFilter, error) {
	st, err := procfs.TaskStatus(d.pid, tid)
	if err != nil {
		return nil, err
	}
	if st.Seccomp == 1 {
		return nil, fmt.Errorf("CR: the app's own seccomp filter in strict mode not supported yet (thread %d)", tid)
	}
	// The filters it had at launch: crrun's init's, and the NOCR filter
	// the exec stage adds.
	base := d.req.Scan.SeccompFilters
	if base == 0 && d.req.Init > 0 {
		base = seccomp.ReadSeccompFilters(d.req.Init) + 1
	}
	n := st.SeccompFilters - base
	if base == 0 || n <= 0 {
		return nil, nil
	}
	if !seccomp.CanSaveFilters {
		return nil, fmt.Errorf("CR: the app's own seccomp filter not supported yet (thread %d has %d; only root's crrun can save them)", tid, n)
	}
	// PTRACE_SECCOMP_GET_FILTER counts from the oldest filter (index 0).
	var out []image.SeccompFilter
	for i := base; i < st.SeccompFilters; i++ {
		prog, flags, err := d.tr.SeccompFilter(tid, i)
		if err != nil {
			return nil, fmt.Errorf("thread %d: seccomp filter %d: %w", tid, i, err)
		}
		out = append(out, image.SeccompFilter{Prog: prog, Flags: flags})
	}
	return out, nil
}

// ioprioWhoProcess is IOPRIO_WHO_PROCESS: one thread, by its tid.
const ioprioWhoProcess = 1
