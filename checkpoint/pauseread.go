package checkpoint

import (
	"fmt"
	"sync/atomic"

	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// Pages read inside the pause (memory no snapshot holds: shared mappings,
// sparse or small private memory, everything with --exit) are only read
// there; the image writer gets them after the thaw (submitPaused). Handing
// each run to the writer as it was read made the pause wait for the writer:
// a run took a whole buffer of the pool, so a sparse map (16 MiB touched one
// page in 256 of a 4 GiB map: 4,096 runs of one page) went through the
// writer a page at a time, with the pool's four buffers going round, 149 ms
// of pause for 16 MiB. The runs are now packed into the pool's buffers, one
// after another, and the writer takes them once the app runs again; only
// when every buffer is full (more than nbufs × chunk bytes read in one
// pause) are the full ones handed over in the pause to free one.

// pausedBuf is one of the pool's buffers, filled in the pause.
type pausedBuf struct {
	buf    []byte
	used   uint64
	pieces []pausedPiece
}

// pausedPiece is one run of pages (or a part of one) in a pausedBuf.
type pausedPiece struct {
	nspid     int
	addr      uint64
	off, size uint64
}

// readPaused reads runs of the frozen process pid (nspid in the app's
// namespace) from mem into the pool's buffers, for submitPaused. Present
// pages that cannot be read refuse the checkpoint naming the mapping.
//
// Runs of mappings no other process shares (pageRun.pin) are read with
// process_vm_readv, up to 1,024 runs a call (a sparse map's pages one by
// one through /proc/PID/mem cost ~4 µs each here, 16 ms for 4,096; as
// vectors ~6 ms); the others through /proc/PID/mem, which does not unshare
// the pages a forked child shares copy-on-write (ReadUnpinned).
func (t *tree) readPaused(mem *ptrace.Mem, pid, nspid int, runs []pageRun) error {
	pool := t.buffers()
	type vecRead struct {
		c         *pausedBuf
		addr, off uint64
		n         uint64
		where     string
	}
	var vec []vecRead
	unreadable := func(where string, a, n uint64, err error) error {
		return &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: pid, Kind: "unreadable_mapping", Fd: -1,
			Reason: fmt.Sprintf("CR: %s: pages present at %#x+%d cannot be read (%v): not supported yet", where, a, n, err)}}}
	}
	// flush reads the runs set aside in vec.
	var remote []unix.RemoteIovec
	flush := func() error {
		for len(vec) > 0 {
			j := 1 // the runs of one buffer lie back to back in it
			for j < len(vec) && vec[j].c == vec[0].c {
				j++
			}
			remote = remote[:0]
			for _, v := range vec[:j] {
				remote = append(remote, unix.RemoteIovec{Base: uintptr(v.addr), Len: int(v.n)})
			}
			got := uint64(mem.ReadVec(remote, vec[0].c.buf[vec[0].off:]))
			i := 0
			for ; i < j && got >= vec[i].n; i++ {
				got -= vec[i].n
			}
			if i < j {
				// Stopped inside run i (a PROT_NONE page, say): the rest
				// of it through /proc/PID/mem, then on with the next.
				v := vec[i]
				if err := mem.ReadUnpinned(uintptr(v.addr+got), v.c.buf[v.off+got:v.off+v.n]); err != nil {
					return unreadable(v.where, v.addr+got, v.n-got, err)
				}
				i++
			}
			vec = vec[i:]
		}
		return nil
	}
	for _, r := range runs {
		for a := r.start; a < r.end; {
			c := t.paused
			if c == nil || c.used == uint64(len(c.buf)) {
				if c != nil {
					t.full = append(t.full, c)
					t.paused = nil
				}
				var b []byte
				select {
				case b = <-pool:
				default:
					// Every buffer holds pages: the writer takes the full
					// ones now, in the pause, and gives them back.
					if err := flush(); err != nil {
						return err
					}
					if err := t.submitFull(); err != nil {
						return err
					}
					b = <-pool
				}
				c = &pausedBuf{buf: b}
				t.paused = c
			}
			n := min(r.end-a, uint64(len(c.buf))-c.used)
			if r.pin {
				vec = append(vec, vecRead{c: c, addr: a, off: c.used, n: n, where: r.where})
			} else {
				if err := flush(); err != nil {
					return err
				}
				if err := mem.ReadUnpinned(uintptr(a), c.buf[c.used:c.used+n]); err != nil {
					return unreadable(r.where, a, n, err)
				}
			}
			// One piece per run read (never merged with the run before:
			// an extent stays inside its mapping).
			c.pieces = append(c.pieces, pausedPiece{nspid: nspid, addr: a, off: c.used, size: n})
			c.used += n
			a += n
		}
	}
	return flush()
}

// submitPaused hands every page read in the pause to the image writer
// (after the thaw; with --exit before the commit).
func (t *tree) submitPaused() error {
	if t.paused != nil {
		t.full = append(t.full, t.paused)
		t.paused = nil
	}
	return t.submitFull()
}

// submitFull hands the full buffers to the writer, each given back to the
// pool once the writer is done with all of its pieces.
func (t *tree) submitFull() error {
	for len(t.full) > 0 {
		c := t.full[0]
		t.full = t.full[1:]
		if len(c.pieces) == 0 {
			t.pool <- c.buf
			continue
		}
		full, pool := c.buf, t.pool
		left := int32(len(c.pieces))
		giveBack := func() {
			if atomic.AddInt32(&left, -1) == 0 {
				pool <- full
			}
		}
		for i, p := range c.pieces {
			if err := t.w.AddPagesAsync(p.nspid, p.addr, full[p.off:p.off+p.size], giveBack); err != nil {
				for range c.pieces[i+1:] {
					giveBack() // the pieces never handed over
				}
				return err
			}
		}
	}
	return nil
}

// dropPaused gives the buffers of pages never handed to the writer back
// to the pool (a failed checkpoint).
func (t *tree) dropPaused() {
	if t.paused != nil {
		t.full = append(t.full, t.paused)
		t.paused = nil
	}
	for _, c := range t.full {
		t.pool <- c.buf
	}
	t.full = nil
}
