package checkpoint

import (
	"log/slog"

	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// A query is one read-only syscall the frozen process must make itself
// (its resource limits, itimers, signal dispositions…), whose output, if
// any, lands in memory of the process (the scratch page).
//
// Injected one at a time they cost a few ptrace stops each (~130 µs here,
// ~25 per process: 3-4 ms of the pause per process, 60 ms for a tree of
// 16). runQueries runs them all in one resume of the main thread instead,
// as a batch (internal/ptrace, RunBatches: a small loop in the scratch
// page runs a table of syscalls), and reads every output back in one read.
// Anything unusual (a pending SIGCONT, which the batch's closing SIGSTOP
// would discard; a seccomp filter of the app's own; a query failing) falls
// back to injecting them one by one, which names the failing call as
// before. Queries that do not fit one page run as several batches.
type query struct {
	name   string
	nr     int
	args   [6]uint64
	outArg int // the argument that points to the output; -1: none
	outLen int

	ret int64  // set by runQueries
	out []byte // outLen bytes
}

// mainQueries are queries of the main thread's own state that thread.go
// and attrs.go would otherwise inject one at a time after the batch (one
// resume each, ~0.1 ms here): run with the process's queries, the values
// are read at the same point of the freeze (nothing of the app runs in
// between), and a fallback injects them one by one as before. Not here:
// membarrier(GET_REGISTRATIONS), whose failure on an older kernel is a
// refusal with its own reason (attrs.go), not a failed query.
type mainQueries struct {
	securebits, thpDisable, tidAddress, altStack, timerSlack *query
}

func newMainQueries() *mainQueries {
	return &mainQueries{
		securebits: &query{name: "prctl(PR_GET_SECUREBITS)", nr: unix.SYS_PRCTL, args: [6]uint64{prGetSecurebits}, outArg: -1},
		thpDisable: &query{name: "prctl(PR_GET_THP_DISABLE)", nr: unix.SYS_PRCTL, args: [6]uint64{prGetThpDisable}, outArg: -1},
		tidAddress: &query{name: "prctl(PR_GET_TID_ADDRESS)", nr: unix.SYS_PRCTL, args: [6]uint64{unix.PR_GET_TID_ADDRESS}, outArg: 1, outLen: 8},
		altStack:   &query{name: "sigaltstack", nr: unix.SYS_SIGALTSTACK, outArg: 1, outLen: 24},
		timerSlack: &query{name: "prctl(PR_GET_TIMERSLACK)", nr: unix.SYS_PRCTL, args: [6]uint64{prGetTimerslack}, outArg: -1},
	}
}

func (m *mainQueries) all() []*query {
	return []*query{m.securebits, m.thpDisable, m.tidAddress, m.altStack, m.timerSlack}
}

// main returns the main thread's queries when tid is the main thread and
// processState ran them.
func (d *dumper) main(tid int) *mainQueries {
	if tid != d.pid {
		return nil
	}
	return d.mainQ
}

// Scratch page layout of a batch of queries: the loop's code at
// queryCode, the outputs from queryOut, the table at the end of the page.
const (
	queryCode = ptrace.ScratchDataOffset
	queryOut  = 256
)

// runQueries runs qs in the main thread of the frozen process: as many
// batches as their outputs and table need pages (a Go program catches
// every signal: ~90 queries, three pages), each one resume.
func (d *dumper) runQueries(qs []*query) error {
	for len(qs) > 0 {
		n := batchFits(qs)
		if n == 0 || !d.batchQueries(qs[:n]) {
			break
		}
		qs = qs[n:]
	}
	if len(qs) == 0 {
		return nil
	}
	slog.Debug("checkpoint: queries injected one by one", "pid", d.pid, "queries", len(qs), "sigcont_pending", d.contPending, "own_seccomp", d.ownSeccomp)
	buf := uint64(d.scratch) + ptrace.ScratchDataOffset
	for _, q := range qs {
		args := q.args
		if q.outArg >= 0 {
			args[q.outArg] = buf
		}
		r, err := d.inject(q.name, q.nr, args[:]...)
		if err != nil {
			return err
		}
		q.ret = r
		if q.outLen > 0 {
			if q.out, err = d.readScratch(ptrace.ScratchDataOffset, q.outLen); err != nil {
				return err
			}
		}
	}
	return nil
}

// batchQueries runs qs as one batch; false: not run (or not all of them
// succeeded), runQueries injects them instead.
func (d *dumper) batchQueries(qs []*query) bool {
	if d.contPending || d.ownSeccomp || len(qs) == 0 || len(ptrace.BatchCode) > queryOut-queryCode {
		return false
	}
	offs, end, table, ok := batchLayout(qs)
	if !ok {
		return false
	}
	// The code goes in every time: injected calls use the same part of
	// the page for their output.
	if err := ptrace.WriteMem(d.pid, d.scratch+queryCode, ptrace.BatchCode); err != nil {
		slog.Debug("checkpoint: queries injected one by one", "pid", d.pid, "err", err)
		return false
	}
	b := &ptrace.Batch{Tid: d.pid, Code: d.scratch + queryCode, Table: d.scratch + uintptr(table)}
	for i, q := range qs {
		op := ptrace.Op{Nr: q.nr, Args: q.args}
		if q.outArg >= 0 {
			op.Args[q.outArg] = uint64(d.scratch) + uint64(offs[i])
		}
		b.Ops = append(b.Ops, op)
	}
	if err := d.tr.RunBatches([]*ptrace.Batch{b}); err != nil {
		slog.Debug("checkpoint: queries injected one by one", "pid", d.pid, "err", err)
		return false
	}
	if b.Failed() >= 0 {
		return false // injected again, the failure is reported with its name
	}
	out := make([]byte, end-queryOut)
	if len(out) > 0 {
		if err := ptrace.ReadMem(d.pid, d.scratch+queryOut, out); err != nil {
			slog.Debug("checkpoint: queries injected one by one", "pid", d.pid, "err", err)
			return false
		}
	}
	for i, q := range qs {
		q.ret = b.Ret[i]
		if q.outLen > 0 {
			q.out = out[offs[i]-queryOut : offs[i]-queryOut+q.outLen]
		}
	}
	return true
}

// batchLayout places the outputs of qs in the scratch page: each one's
// offset, where they end and where the table starts; ok false: they do not
// fit in one page with the table.
func batchLayout(qs []*query) (offs []int, end, table int, ok bool) {
	offs = make([]int, len(qs))
	end = queryOut
	for i, q := range qs {
		offs[i] = end
		end += (q.outLen + 7) &^ 7
	}
	table = (ptrace.ScratchSize - ptrace.BatchSize(len(qs))) &^ 63
	return offs, end, table, end <= table
}

// batchFits is how many of qs, from the first, fit one batch's page.
func batchFits(qs []*query) int {
	n := 0
	for n < len(qs) {
		if _, _, _, ok := batchLayout(qs[:n+1]); !ok {
			break
		}
		n++
	}
	return n
}

// hasOwnSeccomp says whether the main thread (status st) may run under a
// seccomp filter of the app's own, or one crrun cannot count: the batch
// makes calls of its own (rt_sigpending, getpid, gettid, tgkill), which
// such a filter might refuse or answer by killing the process, so the
// queries are then injected one by one, as the app's filter would see them
// anyway.
func (d *dumper) hasOwnSeccomp(st *procfs.ProcStatus) bool {
	if st.SeccompFilters == 0 {
		return false
	}
	base := d.req.Scan.SeccompFilters
	if base == 0 && d.req.Init > 0 {
		base = seccomp.ReadSeccompFilters(d.req.Init) + 1 // as seccompFilters counts them
	}
	return base == 0 || st.SeccompFilters > base
}

// sigcontPending says whether a SIGCONT is pending in the process or one
// of its threads (raw, before DropSignals).
func sigcontPending(sets ...[]ptrace.Siginfo) bool {
	for _, s := range sets {
		for i := range s {
			if s[i].Signo() == unix.SIGCONT {
				return true
			}
		}
	}
	return false
}
