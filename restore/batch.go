package restore

import (
	"fmt"

	"github.com/crrun/crrun/internal/ptrace"
)

// Batched syscalls (ptrace.RunBatches): what restore does once per thread or
// once per mapping runs as a table of syscalls executed by a small loop in
// the scratch area (ptrace.BatchCode, at batchCodeOff), one resume per thread
// and every thread of a process at once, instead of one injection (a few
// ptrace stops) per syscall. The order of the syscalls in each thread is the
// order the one-by-one injections had; a batch stops at its first failure,
// which fails the restore naming the call, as an injection did.

const (
	// batchCodeOff is where ptrace.BatchCode sits in the scratch area.
	batchCodeOff = 64
	// scratchDataOff is where the scratch data (put, stage) begins.
	scratchDataOff = 512
	// batchThreads is how many threads run their batches at once: their
	// tables and data must fit the scratch area together. (One round of
	// 1,024 threads was no faster than rounds of 256 for 1,000 threads,
	// measured: more threads runnable at once preempt the tracer more.)
	batchThreads = 256
	// batchCalls bounds the entries of one batch (64 bytes each).
	batchCalls = 8192
	// scratchBudget is how much of the scratch data area one round of
	// per-thread batches fills before it runs (a thread's job is a few
	// KiB at most: 41 bounding-set drops are 2.6 KiB of table).
	scratchBudget = 640 << 10
)

// call is one syscall of a batch: its name for errors, and optionally how to
// word its failure (wrap gets the injected-call error).
type call struct {
	name string
	op   ptrace.Op
	wrap func(error) error
}

func sys(name string, nr int, args ...uint64) call {
	c := call{name: name, op: ptrace.Op{Nr: nr}}
	copy(c.op.Args[:], args)
	return c
}

// job is one thread's calls.
type job struct {
	tid     int
	calls   []call
	threads bool          // its clones make threads of its process
	final   *ptrace.Final // the thread's state once its batch ran (nil: as before it)
	// quiet: its clones pass CLONE_PTRACE and stop no one
	// (ptrace.Batch.QuietClones); translate finds each new task's host tid.
	quiet     bool
	translate func(id int64) (int, error)
	blocked   bool // the thread has every signal blocked (ptrace.Batch.Blocked)
}

// stage builds the argument data of batches in Go and writes it into the
// scratch data area at once.
type stage struct {
	base uint64
	buf  []byte
	got  []byte // the staged area read back once its batches ran (run)
}

// read returns n bytes at addr of the staged area as the batches left it.
func (s *stage) read(addr uint64, n int) []byte {
	off := int(addr - s.base)
	if addr < s.base || off+n > len(s.got) {
		return nil
	}
	return s.got[off : off+n]
}

func (r *restorer) newStage() *stage { return &stage{base: r.scratch + scratchDataOff} }

// put appends b (16-byte aligned) and returns the address it will have.
func (s *stage) put(b []byte) uint64 {
	for len(s.buf)%16 != 0 {
		s.buf = append(s.buf, 0)
	}
	a := s.base + uint64(len(s.buf))
	s.buf = append(s.buf, b...)
	return a
}

func (s *stage) putString(str string) uint64 { return s.put(append([]byte(str), 0)) }

// used is how many bytes of the scratch data area the stage takes.
func (s *stage) used() uint64 { return uint64(len(s.buf)) }

// run writes the staged data, places a table for every job after it and
// runs the jobs, all at once. It returns the batches (in job order) and the
// first failure as an error naming its call and thread; no batches when they
// could not all run to their end (the error says why).
func (r *restorer) run(s *stage, jobs []job) ([]*ptrace.Batch, error) {
	bs := make([]*ptrace.Batch, len(jobs))
	for i, j := range jobs {
		ops := make([]ptrace.Op, len(j.calls))
		for k, c := range j.calls {
			ops[k] = c.op
		}
		table := s.put(ptrace.EncodeTable(ops))
		bs[i] = &ptrace.Batch{Tid: j.tid, Code: uintptr(r.scratch + batchCodeOff), Table: uintptr(table), Ops: ops, NewThreads: j.threads, Final: j.final,
			QuietClones: j.quiet, Translate: j.translate, Blocked: j.blocked,
			Prewritten: true, Deferred: !j.quiet}
	}
	if scratchDataOff+s.used() > scratchSize {
		return nil, fmt.Errorf("scratch area full (%d bytes of batch tables and data)", s.used())
	}
	// The data and the tables in one write, and read back in one read
	// once every batch ran (a write and a read per thread less).
	if err := ptrace.WriteMem(r.pid, uintptr(s.base), s.buf); err != nil {
		return nil, fmt.Errorf("write scratch area: %w", err)
	}
	if err := r.tr.RunBatches(bs); err != nil {
		return nil, err
	}
	s.got = make([]byte, len(s.buf))
	if err := ptrace.ReadMem(r.pid, uintptr(s.base), s.got); err != nil {
		return nil, fmt.Errorf("read scratch area back: %w", err)
	}
	for _, b := range bs {
		if !b.Deferred {
			continue
		}
		if err := b.SetResults(s.read(uint64(b.Table), ptrace.BatchSize(len(b.Ops)))); err != nil {
			return nil, err
		}
	}
	for i, b := range bs {
		if k := b.Failed(); k >= 0 {
			c := jobs[i].calls[k]
			err := fmt.Errorf("injected %s in thread %d: %w", c.name, b.Tid, b.Err(k))
			if c.wrap != nil {
				err = c.wrap(err)
			}
			return bs, err
		}
	}
	return bs, nil
}

// runSerial runs calls, which take no staged data, in thread tid in order,
// in as many batches as their number needs. Used for per-mapping calls:
// thousands in one thread.
func (r *restorer) runSerial(tid int, calls []call) error {
	for len(calls) > 0 {
		n := min(len(calls), batchCalls)
		if _, err := r.run(r.newStage(), []job{{tid: tid, calls: calls[:n]}}); err != nil {
			return err
		}
		calls = calls[n:]
	}
	return nil
}

// perThread runs a batch in each of n threads, in rounds of at most
// batchThreads threads at once and scratchBudget bytes of tables and data:
// build makes thread i's job (staging its data; skip: no batch for it) and
// check sees each batch once it ran without a failure.
func (r *restorer) perThread(n int, build func(i int, st *stage) (j job, skip bool, err error), check func(i int, b *ptrace.Batch, st *stage) error) error {
	st := r.newStage()
	var jobs []job
	var which []int
	tables := 0
	flush := func() error {
		if len(jobs) == 0 {
			return nil
		}
		bs, err := r.run(st, jobs)
		if err != nil {
			return err
		}
		for k, b := range bs {
			if err := check(which[k], b, st); err != nil {
				return err
			}
		}
		st, jobs, which, tables = r.newStage(), nil, nil, 0
		return nil
	}
	for i := 0; i < n; i++ {
		j, skip, err := build(i, st)
		if err != nil {
			return err
		}
		if skip {
			continue
		}
		jobs, which = append(jobs, j), append(which, i)
		tables += ptrace.BatchSize(len(j.calls)) + 16
		if len(jobs) >= batchThreads || st.used()+uint64(tables) > scratchBudget {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
