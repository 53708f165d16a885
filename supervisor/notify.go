package supervisor

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/crrun/crrun/checkpoint"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// taskInfo reads what a notification does not carry: the thread group (the
// notification's pid is a TID), the pid inside the app's namespace, and comm.
func taskInfo(tid int) (tgid, nspid int, comm string) {
	st, err := procfs.Status(tid)
	if err != nil {
		return tid, 0, ""
	}
	return st.Tgid, st.InnermostTgid(), st.Name
}

// notifyLoop answers the app's trapped syscalls until the listener hangs up
// (every task that used the filter is gone). Answers come first and fast: a
// trapped task waits for us, and a signal during a pending notification can
// surface as EINTR in the app.
func (s *Supervisor) notifyLoop(fd int) {
	defer unix.Close(fd)
	if err := seccomp.SetSyncWakeUp(fd); err != nil {
		slog.Debug("no synchronous wake-up for the seccomp listener (kernel < 6.6?)", "err", err)
	}
	var n seccomp.Notif
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		pfd[0].Revents = 0
		if _, err := unix.Poll(pfd, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			slog.Error("seccomp listener poll failed; NOCR tracking stopped", "err", err)
			return
		}
		if pfd[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 && pfd[0].Revents&unix.POLLIN == 0 {
			return
		}
		if err := seccomp.Recv(fd, &n); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // the task died before we received its notification
			}
			slog.Error("seccomp listener receive failed; NOCR tracking stopped", "err", err)
			return
		}
		s.handle(fd, &n)
	}
}

func (s *Supervisor) handle(fd int, n *seccomp.Notif) {
	tid := int(n.Pid)
	mem := func(addr uint64, buf []byte) error {
		f, err := os.Open("/proc/" + strconv.Itoa(tid) + "/mem")
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := f.ReadAt(buf, int64(addr)); err != nil {
			return err
		}
		if !seccomp.IDValid(fd, n.ID) { // the TID may have been reused meanwhile
			return errors.New("notification no longer valid")
		}
		return nil
	}
	if n.Arch == seccomp.AuditArchX86_64 && n.Nr == unix.SYS_GETSOCKOPT && n.Args[1] == unix.SOL_SOCKET && n.Args[2] == seccomp.SoPeerPidfd {
		if !s.answerPeerPidfd(fd, n) {
			_ = seccomp.Continue(fd, n.ID)
		}
		return
	}
	if mbind, ok := seccomp.MempolicyCall(n.Arch, n.Nr); ok {
		tgid, _, _ := taskInfo(tid)
		s.policy.record(tgid, mbind)
		_ = seccomp.Continue(fd, n.ID)
		return
	}
	if seccomp.UrgentSend(n.Arch, n.Nr, n.Args) {
		_, nspid, _ := taskInfo(tid)
		s.urgent.record(tid, nspid, n.Args[0], seccomp.SyscallName(n.Arch, n.Nr))
		_ = seccomp.Continue(fd, n.ID)
		return
	}
	if _, ok := s.filter.Recorded(n.Arch, n.Nr); ok {
		s.watches.record(tid, n.Args, mem)
		_ = seccomp.Continue(fd, n.ID)
		return
	}
	if n.Nr == unix.SYS_USERFAULTFD && checkpoint.InjectingUserfaultfd(tid) {
		// The checkpoint's own, injected into the frozen app to track
		// dirty pages (checkpoint/dirty.go): not the app's.
		_ = seccomp.Continue(fd, n.ID)
		return
	}
	if n.Arch == seccomp.AuditArchX86_64 && (n.Nr == unix.SYS_SEMOP || n.Nr == unix.SYS_SEMTIMEDOP) && !s.hostIPC() {
		// Before the call runs: the checkpoint reads the undo lists of
		// the processes recorded (semundo.go).
		// (Not the checkpoint's own semops, which change nothing.)
		if undo, err := seccomp.SemUndo(n.Args, mem); err == nil && undo && !checkpoint.InjectingSemop(tid) {
			tgid, _, _ := taskInfo(tid)
			s.semUndo.add(tgid, int(int32(n.Args[0])))
		}
	}
	d := s.filter.Decode(n, mem)
	if d.Taint && !seccomp.IDValid(fd, n.ID) {
		// The call was interrupted while it waited for us (a checkpoint's
		// freeze: the kernel drops the notification and restarts the
		// call, which traps again), so it did nothing, and an argument
		// read from its memory may have failed for that very reason
		// (seen with semop's sembufs: a sticky taint for good).
		return
	}
	if !d.Taint {
		_ = seccomp.Continue(fd, n.ID)
		return
	}
	tgid, nspid, comm := taskInfo(tid)
	t := &Taint{Reason: d.Reason, Kind: d.Entry.Kind, Scope: d.Scope(), Pid: tgid, NsPid: nspid,
		Tid: tid, Comm: comm, Syscall: d.Syscall, Detail: d.Detail, Time: time.Now()}
	if d.NewFds > 0 && s.cfg.OnNOCR != PolicyDeny {
		// Before the call runs: the fds it makes are the lowest free ones.
		t.Fds = lowestFreeFds(tid, d.NewFds)
	}
	switch s.cfg.OnNOCR {
	case PolicyDeny:
		t.Denied = true
		if s.denied.Add(t) {
			slog.Warn(fmt.Sprintf("denied %s in pid %d (%s) with %s: %s", d.Syscall, tgid, comm,
				unix.ErrnoName(d.Entry.DenyErrno), d.Reason), "tid", tid)
		}
		_ = seccomp.Fail(fd, n.ID, d.Entry.DenyErrno)
	case PolicyKill:
		if s.ledger.Add(t) {
			slog.Error(fmt.Sprintf("NOCR pid %d (%s): %s; --on-nocr=kill: ending the app", tgid, comm, d.Reason),
				"tid", tid, "syscall", d.Syscall)
		}
		_ = seccomp.Fail(fd, n.ID, unix.EPERM)
		s.requestKill(fmt.Sprintf("the app was ended by --on-nocr=kill: pid %d (%s): %s", tgid, comm, d.Reason))
	default:
		// Recorded and said before the call goes on: once it returns, the
		// app may end and crrun with it before this goroutine runs again
		// (a NOCR line lost now and then), and a checkpoint must find the
		// taint as soon as the state exists.
		if s.ledger.Add(t) {
			slog.Warn(fmt.Sprintf("NOCR pid %d (%s): %s", tgid, comm, d.Reason), "tid", tid, "syscall", d.Syscall)
		}
		_ = seccomp.Continue(fd, n.ID)
	}
}

// lowestFreeFds returns the n lowest fd numbers free in tid's fd table: the
// ones a call about to create n fds gets (another thread of the process
// may take one first; status then names no call rather than a wrong one).
func lowestFreeFds(tid, n int) []int {
	d, err := os.Open("/proc/" + strconv.Itoa(tid) + "/fd")
	if err != nil {
		return nil
	}
	names, err := d.Readdirnames(-1) // unsorted: cheaper than ReadDir
	d.Close()
	if err != nil {
		return nil
	}
	used := make(map[int]bool, len(names))
	for _, name := range names {
		if fd, err := strconv.Atoi(name); err == nil {
			used[fd] = true
		}
	}
	var out []int
	for fd := 0; len(out) < n; fd++ {
		if !used[fd] {
			out = append(out, fd)
		}
	}
	return out
}
