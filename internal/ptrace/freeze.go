package ptrace

import (
	"errors"
	"os"
	"slices"

	"golang.org/x/sys/unix"
)

// Frozen is a process whose threads are all stopped at the user-mode boundary.
type Frozen struct {
	Pid     int
	Threads []int            // every live thread, stopped, sorted
	Stops   map[int]*Stopped // how each thread stopped
	// Zombies: threads listed in /proc/PID/task that are exiting and cannot be
	// seized (PTRACE_SEIZE answers EPERM for a task with an exit_state), such
	// as the leader of a process whose main thread called pthread_exit.
	Zombies []int
	// Others: tracees auto-attached meanwhile that belong to other processes
	// (TraceFork/TraceVfork children, clones without CLONE_THREAD). They are
	// heading for their first stop; the caller decides what to do with them.
	Others []int
}

// FreezeProcess stops every thread of process pid: it seizes each thread
// listed in /proc/PID/task with opts (include TraceClone so threads created
// meanwhile are auto-attached), interrupts them all, waits for each, and lists
// the tasks again until a listing shows nothing new. A stopped thread cannot
// create threads, and a clone in flight when its parent was seized either
// auto-attaches the child (TraceClone was set when the clone started) or has
// put it in the task list before the parent reaches its stop, so the listing
// after everything stopped is complete.
//
// On failure the threads seized by this call are detached again and the
// process runs on.
func (t *Tracer) FreezeProcess(pid int, opts Options) (*Frozen, error) {
	var f *Frozen
	err := t.do(func() error {
		var err error
		f, err = t.freeze(pid, opts)
		return err
	})
	return f, err
}

func (t *Tracer) freeze(pid int, opts Options) (*Frozen, error) {
	f := &Frozen{Pid: pid, Stops: make(map[int]*Stopped)}
	zombie := make(map[int]bool)
	others := make(map[int]bool)
	var mine []int // tracees this call added
	fail := func(err error) (*Frozen, error) {
		for _, tid := range mine {
			if t.tracees[tid] != nil {
				_ = t.detach(tid, 0)
			}
		}
		return nil, err
	}
	for {
		tids, err := listTasks(pid)
		if err != nil {
			if os.IsNotExist(err) {
				err = unix.ESRCH
			}
			return fail(&Error{Tid: pid, Op: "list /proc/PID/task", Err: err})
		}
		var pending []*tracee
		for _, tid := range tids {
			if f.Stops[tid] != nil || zombie[tid] {
				continue
			}
			tr := t.tracees[tid]
			if tr == nil {
				err := t.seize(tid, opts)
				switch {
				case err == nil:
					tr = t.tracees[tid]
					mine = append(mine, tid)
				case errors.Is(err, unix.ESRCH):
					continue // exited since the listing
				case errors.Is(err, unix.EPERM):
					if s, serr := threadState(tid); serr != nil || s == 'Z' || s == 'X' {
						zombie[tid] = serr == nil
						continue
					}
					// Auto-attached to us by a clone whose event we have
					// not collected yet?
					if tp, _ := readTracerPid(tid); tp == os.Getpid() {
						tr = &tracee{tid: tid, tgid: pid}
						t.tracees[tid] = tr
						mine = append(mine, tid)
						break
					}
					return fail(err)
				default:
					return fail(err)
				}
			}
			pending = append(pending, tr)
		}
		if len(pending) == 0 {
			break
		}
		// Interrupt all first so they stop concurrently, then collect.
		live := pending[:0]
		for _, tr := range pending {
			if err := t.kick(tr); err != nil {
				if errors.Is(err, ErrVanished) {
					continue
				}
				return fail(err)
			}
			live = append(live, tr)
		}
		for _, tr := range live {
			res := &Stopped{}
			if err := t.settle(tr, res); err != nil {
				if errors.Is(err, errLeaderZombie) {
					zombie[tr.tid] = true
				}
				if errors.Is(err, ErrVanished) {
					continue
				}
				return fail(err)
			}
			f.Stops[tr.tid] = res
			for _, a := range res.Attached {
				if at := t.tracees[a]; at != nil {
					if tgid, err := t.tgidOf(at); err == nil && tgid != pid {
						others[a] = true
					}
					if !slices.Contains(mine, a) {
						mine = append(mine, a)
					}
				}
			}
		}
	}
	for tid := range f.Stops {
		f.Threads = append(f.Threads, tid)
	}
	slices.Sort(f.Threads)
	for tid := range zombie {
		if zombie[tid] {
			f.Zombies = append(f.Zombies, tid)
		}
	}
	slices.Sort(f.Zombies)
	for tid := range others {
		f.Others = append(f.Others, tid)
	}
	slices.Sort(f.Others)
	return f, nil
}

// Thaw detaches every thread of a frozen process (see Detach and DetachAll).
func (t *Tracer) Thaw(f *Frozen) error { return t.DetachAll(f.Threads) }
