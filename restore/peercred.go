package restore

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// SO_PEERCRED of unix sockets. The kernel records, once and for good, the
// pid and effective ids of the process that made a pair (socketpair), that
// listened (a listener's own, copied to the client end of each connection
// made through it) or that connected (the accepted end's). So each of those
// calls is made by a process with the pid and ids the image names
// (image.Socket.PeerCred): the main process itself, or a stand-in cloned
// from it with that pid (clone3 set_tid) while the tree is not built yet,
// sharing its fd table and working directory (CLONE_FILES, CLONE_FS), its
// effective ids set for the call. The stand-in exits before the tree is
// built, freeing the pid for its process; the socket goes on naming the pid
// (pid_vnr of an exited struct pid: measured, Linux 6.18), as it did for a
// creator that had exited. Each fd's SO_PEERCRED is read back by the
// verifier.

// credMaker is a process that makes sockets as a given pid.
type credMaker struct {
	r          *restorer
	stand      bool   // a stand-in, not the main process
	uid, gid   uint32 // its effective ids now, as the app sees them
	ouid, ogid uint32 // its effective ids at first
}

// asCred runs mk with a process whose pid and effective ids are c's (the
// main process when c is nil or names no process). The main process's ids
// are set back after mk.
func (t *treeRestorer) asCred(c *image.Ucred, what string, mk func(r *restorer) error) error {
	if c == nil || *c == image.NoPeerCred {
		return mk(t.root)
	}
	if reason := image.PeerCredRefusal(*c, t.procs); reason != "" {
		return fmt.Errorf("%s: CR: %s", what, reason)
	}
	if t.makers == nil {
		t.makers = map[int]*credMaker{}
	}
	m := t.makers[c.Pid]
	if m == nil {
		var err error
		if m, err = t.newMaker(c.Pid); err != nil {
			return fmt.Errorf("%s as pid %d: %w", what, c.Pid, err)
		}
		t.makers[c.Pid] = m
	}
	if err := m.become(c.Uid, c.Gid); err != nil {
		return fmt.Errorf("%s as pid %d: take the effective ids uid %d gid %d its SO_PEERCRED names: %w", what, c.Pid, c.Uid, c.Gid, err)
	}
	err := mk(m.r)
	if !m.stand {
		if berr := m.become(m.ouid, m.ogid); err == nil {
			err = berr
		}
	}
	return err
}

// newMaker is the main process when it has pid, else a stand-in with pid.
func (t *treeRestorer) newMaker(pid int) (*credMaker, error) {
	m := &credMaker{r: t.root}
	if t.blank != nil || pid != t.root.p.PID {
		r := t.root
		h := &restorer{t: t, tr: t.tr, p: &image.Process{PID: pid}, tids: map[int]int{}, scratch: t.scratch}
		h.pid = r.pid // put() writes into the main process until the stand-in exists
		host, err := h.cloneWithTid(r.pid, "pid", pid, unix.CLONE_PARENT|unix.CLONE_FILES|unix.CLONE_FS, 0)
		if err != nil {
			return nil, err
		}
		h.pid = host
		if err := t.tr.SetSyscallInsn(host, uintptr(t.scratch)); err != nil {
			return nil, err
		}
		m.r, m.stand = h, true
		slog.Debug("restore: socket maker created", "pid", pid, "host_pid", host)
	}
	uid, err := m.r.inj(m.r.pid, "geteuid", unix.SYS_GETEUID)
	if err != nil {
		return nil, err
	}
	gid, err := m.r.inj(m.r.pid, "getegid", unix.SYS_GETEGID)
	if err != nil {
		return nil, err
	}
	m.uid, m.gid, m.ouid, m.ogid = uint32(uid), uint32(gid), uint32(uid), uint32(gid)
	return m, nil
}

// become sets the maker's effective ids (the real and saved ones stay: a
// privileged restorer can go back).
func (m *credMaker) become(uid, gid uint32) error {
	keep := uint64(^uint32(0))
	r := m.r
	if m.uid == uid && m.gid == gid {
		return nil
	}
	if m.uid != m.ouid { // back to the first ids, which may set any gid
		if _, err := r.inj(r.pid, "setresuid", unix.SYS_SETRESUID, keep, uint64(m.ouid), keep); err != nil {
			return err
		}
		m.uid = m.ouid
	}
	if m.gid != gid {
		if _, err := r.inj(r.pid, fmt.Sprintf("setresgid(-1, %d, -1)", gid), unix.SYS_SETRESGID, keep, uint64(gid), keep); err != nil {
			return err
		}
		m.gid = gid
	}
	if m.uid != uid {
		if _, err := r.inj(r.pid, fmt.Sprintf("setresuid(-1, %d, -1)", uid), unix.SYS_SETRESUID, keep, uint64(uid), keep); err != nil {
			return err
		}
		m.uid = uid
	}
	return nil
}

// endMakers lets the stand-ins exit and waits until crrun's init has reaped
// them: their pids are the tree's.
func (t *treeRestorer) endMakers() error {
	for pid, m := range t.makers {
		delete(t.makers, pid)
		if !m.stand {
			continue
		}
		host := m.r.pid
		_, _ = t.tr.Inject(host, unix.SYS_EXIT_GROUP, 0) // never returns
		if err := t.waitGone(host, pid); err != nil {
			return fmt.Errorf("socket maker %d: %w", pid, err)
		}
		if err := waitReaped(host); err != nil {
			return fmt.Errorf("socket maker %d: %w", pid, err)
		}
	}
	return nil
}

// waitReaped waits until a process that has exited is reaped (its pid is
// free again), for up to 2 s.
func waitReaped(host int) error {
	for i := 0; i < 400; i++ {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", host)); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("host pid %d was not reaped by crrun's init", host)
}

// listening is a listener made for the restore: its backlog and whose
// credentials its listen() recorded.
type listening struct {
	backlog int
	cred    *image.Ucred
}

// listenAs makes listener fd listen (again) as c: the client end of a
// connection made through it copies the listener's SO_PEERCRED.
func (t *treeRestorer) listenAs(fd uint64, c *image.Ucred) error {
	l := t.listening[fd]
	if same(l.cred, c) {
		return nil
	}
	err := t.asCred(c, "listen", func(r *restorer) error {
		_, err := r.inj(r.pid, "listen", unix.SYS_LISTEN, fd, uint64(max(l.backlog, 1)))
		return err
	})
	if err != nil {
		return err
	}
	l.cred = c
	t.listening[fd] = l
	return nil
}

// same reports whether two recorded credentials are the same (nil: none
// recorded, the main process's).
func same(a, b *image.Ucred) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
