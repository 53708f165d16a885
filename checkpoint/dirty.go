package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"

	"golang.org/x/sys/unix"
)

// Dirty tracking for incremental generations (docs/design.md, "Incremental
// generations").
//
// This kernel has no soft-dirty bit; the modern way is userfaultfd
// write-protection in async mode (UFFD_FEATURE_WP_ASYNC, Linux 6.7): a write
// to a protected page does not stop the writer, the kernel just clears the
// page's uffd-wp bit, and PAGEMAP_SCAN on /proc/PID/pagemap lists the pages
// whose bit is clear ("written") and protects them again in the same walk
// (PM_SCAN_WP_MATCHING). So, at the end of a checkpoint's pause, for each
// process:
//
//   - a userfaultfd is created *in the app* (its mm is the creator's): an
//     injected userfaultfd(O_CLOEXEC|O_NONBLOCK|UFFD_USER_MODE_ONLY), which
//     an ordinary user may make; crrun takes a copy (pidfd_getfd) and closes
//     the app's at once, so the app never sees it (the copy keeps the
//     registrations alive; the app cannot close it);
//   - crrun registers the private anonymous mappings (anon, heap, stack)
//     with it in WP mode and write-protects their pages (PAGEMAP_SCAN with
//     WP_MATCHING).
//
// At the next checkpoint, a mapping still registered (smaps shows "uw") is
// saved incrementally: its present pages now, minus those of the parent's
// extents that are wholly present, unwritten and in the same mapping, which
// the new image refers to in the parent's page files. Everything else — a
// mapping created, moved (mremap drops the registration) or of a process not
// tracked (forked since: the child does not inherit it; exec'd; the
// injection failed) — is saved in full, as is every page the scan reports or
// that was not present at the parent's freeze. A page dropped since
// (MADV_DONTNEED, MADV_FREE reclaimed) is not present now: the parent's
// extent holding it is not referred to, and restore leaves a hole (zero), as
// the app has. A registration or a protection that failed leaves the pages
// unprotected, which the scan reports as written: never a stale page.
//
// What still writes memory without clearing the bit: devices writing into
// pinned pages (RDMA, io_uring fixed buffers), which crrun refuses anyway.

// MaxChain bounds how far back an image's pages may be: a new generation
// refers only to generations at most MaxChain-1 numbers before it (counting
// from its parent), and saves anew the unchanged pages that only older ones
// hold. So an image needs at most MaxChain-1 older generations, and a page
// unchanged for long is rewritten every MaxChain-1 checkpoints or so (a
// compaction spread over time): --keep N holds at most N+MaxChain-1
// generations.
const MaxChain = 8

// armMin is the least private memory a process must have present for its
// dirty tracking to be set up: making the userfaultfd costs two injected
// calls and a pidfd_getfd, ~0.8 ms of the pause a process here, which a
// process of a MiB or two (a shell, mpirun, a helper) never wins back: its
// pages are read in the pause in well under that (about 0.4 ms a MiB). A
// tree of 16 processes of 1 MiB paid 13 ms of its pause for it. A process
// already tracked stays tracked (protecting it again is a scan).
const armMin = 4 << 20

// TestArmAllEnv names a test-only knob: CRRUN_TEST_ARM_ALL=1 tracks every
// process, however small (armMin), so that the test corpus's small
// programs are restored from incremental chains as big ones are.
const TestArmAllEnv = "CRRUN_TEST_ARM_ALL"

// uffd ioctls and flags (include/uapi/linux/userfaultfd.h).
const (
	uffdAPI            = 0xaa
	uffdioAPI          = 0xc018aa3f // _IOWR(0xAA, 0x3F, struct uffdio_api)
	uffdioRegister     = 0xc020aa00 // _IOWR(0xAA, 0x00, struct uffdio_register)
	uffdRegisterWP     = 1 << 1
	uffdFeatureWPAsync = 1 << 15
	uffdUserModeOnly   = 1
)

// A Tracker keeps the dirty tracking of one supervisor's app across its
// checkpoints. Checkpoints are serialized by the supervisor.
type Tracker struct {
	mu      sync.Mutex
	base    string // the committed generation the protection is relative to
	procs   map[int]*tracked
	pending map[int]*tracked // armed by the current dump
}

// tracked is one process's userfaultfd (crrun's copy).
type tracked struct {
	start uint64 // the process's start time (a reused pid is another process)
	uffd  int
}

// NewTracker returns an empty tracker: the next checkpoint is full.
func NewTracker() *Tracker { return &Tracker{procs: map[int]*tracked{}} }

// Committed records that the checkpoint just taken is in dir: the next one
// may refer to it. Processes not armed by it are forgotten.
func (k *Tracker) Committed(dir string) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.base = dir
	for pid, t := range k.procs {
		if k.pending[pid] != t {
			unix.Close(t.uffd)
		}
	}
	k.procs, k.pending = k.pending, nil
	if k.procs == nil {
		k.procs = map[int]*tracked{}
	}
}

// Forget makes the next checkpoint full (the one just taken failed, or the
// app is ending): the protection no longer matches a committed generation.
func (k *Tracker) Forget() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.base = ""
	for pid, t := range k.pending {
		if k.procs[pid] != t {
			unix.Close(t.uffd)
		}
	}
	k.pending = nil
}

// Close ends the tracking.
func (k *Tracker) Close() {
	if k == nil {
		return
	}
	k.Forget()
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, t := range k.procs {
		unix.Close(t.uffd)
	}
	k.procs = map[int]*tracked{}
}

// parent opens the generation the next image of w may refer to: the base,
// if it is in w's store, opens, and its chain is short enough.
func (k *Tracker) parent(w *image.Writer) *image.Reader {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	base := k.base
	k.mu.Unlock()
	if base == "" || w.StoreDir() == "" || filepath.Dir(base) != filepath.Clean(w.StoreDir()) {
		return nil
	}
	r, err := image.Open(base)
	if err != nil {
		slog.Info("checkpoint: full, not incremental: the previous generation does not open", "err", err)
		return nil
	}
	if err := r.PageFilesPresent(); err != nil {
		slog.Warn("checkpoint: full, not incremental: the previous generation's page files changed", "err", err)
		r.Close()
		return nil
	}
	return r
}

// get returns the tracking of host pid, if it is the process that was armed.
func (k *Tracker) get(pid int) *tracked {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	t := k.procs[pid]
	k.mu.Unlock()
	if t == nil {
		return nil
	}
	if st, err := procfs.Stat(pid); err != nil || st.StartTime != t.start {
		return nil
	}
	return t
}

// armingTID is the thread of the app an injected userfaultfd runs in, for
// the supervisor's seccomp listener (InjectingUserfaultfd); 0: none.
var armingTID atomic.Int64

// InjectingUserfaultfd says whether a userfaultfd call trapped in thread tid
// is the checkpoint's own, injected to track dirty pages (to be let through,
// and not recorded as the app's).
func InjectingUserfaultfd(tid int) bool { return tid != 0 && armingTID.Load() == int64(tid) }

// newUffd makes a userfaultfd for process d.pid (see the package comment
// above): created in the app, copied to crrun, closed in the app,
// handshaken for WP_ASYNC.
func (d *dumper) newUffd() (*tracked, error) {
	st, err := procfs.Stat(d.pid)
	if err != nil {
		return nil, err
	}
	armingTID.Store(int64(d.pid))
	fd, err := d.tr.Inject(d.pid, unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK|uffdUserModeOnly)
	if errors.Is(err, unix.EINVAL) {
		fd, err = d.tr.Inject(d.pid, unix.SYS_USERFAULTFD, unix.O_CLOEXEC|unix.O_NONBLOCK)
	}
	armingTID.Store(0)
	if err != nil {
		return nil, fmt.Errorf("userfaultfd: %w", err)
	}
	mine, cerr := ptrace.CopyFd(d.pid, int(fd))
	if _, err := d.tr.Inject(d.pid, unix.SYS_CLOSE, uint64(fd)); err != nil {
		if cerr == nil {
			unix.Close(mine)
		}
		return nil, fmt.Errorf("close the app's copy of the userfaultfd: %w", err)
	}
	if cerr != nil {
		return nil, cerr
	}
	api := struct{ api, features, ioctls uint64 }{api: uffdAPI, features: uffdFeatureWPAsync}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(mine), uffdioAPI, uintptr(unsafe.Pointer(&api))); e != 0 {
		unix.Close(mine)
		return nil, fmt.Errorf("UFFDIO_API WP_ASYNC: %w", e)
	}
	return &tracked{start: st.StartTime, uffd: mine}, nil
}

// register registers [start, end) of the uffd's process for write-protection.
func register(uffd int, start, end uint64) error {
	reg := struct{ start, len, mode, ioctls uint64 }{start: start, len: end - start, mode: uffdRegisterWP}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(uffd), uffdioRegister, uintptr(unsafe.Pointer(&reg))); e != 0 {
		return e
	}
	return nil
}

// trackable says whether mapping m's pages are tracked: private anonymous
// memory.
func trackable(m *procfs.SmapsEntry) bool {
	switch vmaKind(m) {
	case image.VMAAnon, image.VMAHeap, image.VMAStack:
		return !m.Perms.Shared()
	}
	return false
}

// arm protects the private anonymous memory of d.pid for the next
// checkpoint, at the end of its part of the pause (see the package
// comment). Any failure leaves the mapping or the process untracked: saved
// in full next time.
func (d *dumper) arm(maps []procfs.SmapsEntry, pm *procfs.Pagemap) {
	k := d.t.req.Tracker
	if k == nil || d.req.Exit {
		return
	}
	t0 := time.Now()
	defer func() { slog.Debug("checkpoint: dirty tracking armed", "pid", d.pid, "took", time.Since(t0)) }()
	t := d.trk
	if t != nil && !slices.ContainsFunc(maps, func(m procfs.SmapsEntry) bool { return m.VmFlags.Has("uw") }) {
		// Nothing registered left: after an exec the uffd is the old mm's.
		t, d.trk = nil, nil
	}
	if t == nil && d.presentBytes < armMin && os.Getenv(TestArmAllEnv) == "" {
		slog.Debug("checkpoint: no dirty tracking for a small process: the next checkpoint saves it in full", "pid", d.pid, "present", d.presentBytes)
		return
	}
	if t == nil {
		var err error
		if t, err = d.newUffd(); err != nil {
			slog.Debug("checkpoint: no dirty tracking: the next checkpoint saves this process in full", "pid", d.pid, "err", err)
			return
		}
	}
	for i := range maps {
		m := &maps[i]
		if !trackable(m) {
			continue
		}
		if !m.VmFlags.Has("uw") {
			err := register(t.uffd, m.Start, m.End)
			if errors.Is(err, unix.ESRCH) && t == d.trk {
				// The uffd is of the mm the process had before an exec:
				// a new one for the new mm.
				d.trk = nil
				if t, err = d.newUffd(); err != nil {
					slog.Debug("checkpoint: no dirty tracking after an exec", "pid", d.pid, "err", err)
					return
				}
				err = register(t.uffd, m.Start, m.End)
			}
			if err != nil {
				slog.Debug("checkpoint: mapping not tracked", "pid", d.pid, "start", fmt.Sprintf("%#x", m.Start), "err", err)
				continue
			}
		} else if d.protected[m.Start] {
			continue // scanned and protected again by the incremental save
		}
		if _, err := pm.ScanWritten(m.Start, m.End, true, nil); err != nil {
			// Unprotected pages read as written: saved next time.
			slog.Debug("checkpoint: protect a tracked mapping", "pid", d.pid, "start", fmt.Sprintf("%#x", m.Start), "err", err)
		}
	}
	k.mu.Lock()
	if k.pending == nil {
		k.pending = map[int]*tracked{}
	}
	k.pending[d.pid] = t
	k.mu.Unlock()
}

// incremental returns the runs of tracked mapping m to save in full, having
// added to the image, as references to the parent generation, the parent's
// extents of it that are unchanged: wholly present now, with no page
// written since the parent's freeze. The scan protects the written pages
// again for the next checkpoint.
func (d *dumper) incremental(nspid int, m *procfs.SmapsEntry, pm *procfs.Pagemap, present []procfs.PageRange) ([]procfs.PageRange, error) {
	t0 := time.Now()
	written, err := pm.ScanWritten(m.Start, m.End, true, nil)
	if err != nil {
		return nil, err
	}
	slog.Debug("checkpoint: written pages scanned", "pid", d.pid, "start", fmt.Sprintf("%#x", m.Start), "runs", len(written), "took", time.Since(t0))
	d.protected[m.Start] = true
	par := d.t.parent
	base, _ := image.GenerationSeq(filepath.Base(par.Dir()))
	// The parent's extents, present and written are each sorted by
	// address: one pass over the three, each extent looking only at the
	// runs that meet it (an app writing scattered pages has tens of
	// thousands of written runs: a pass over all of them per extent took
	// 0.8 s of the pause for 1 GiB).
	const (
		unused = iota
		whole  // referred to
		parted // partly changed: its unchanged pages may be referred to
	)
	exts := par.ExtentsIn(nspid, m.Start, m.End)
	kinds := make([]uint8, len(exts))
	var clean []procfs.PageRange
	pi, wi := 0, 0
	for i := range exts {
		e := exts[i]
		lo, hi := uint64(e.Vaddr), e.End()
		pw, ww := window(present, &pi, lo, hi), window(written, &wi, lo, hi)
		pf, ok := par.ParentFileOf(e)
		if !ok {
			continue
		}
		if seq, ok := image.GenerationSeq(pf.Gen); !ok || seq+MaxChain-1 <= base {
			continue // too old (MaxChain): saved anew, so that it can go
		}
		if !covered(pw, lo, hi) || len(ww) > 0 {
			// Partly changed: a raw or zero extent is referred to for
			// its pages present and not written (a raw part's checksum
			// comes from the parent's page checksums after the thaw,
			// addParts); a compressed one is saved anew, whole.
			if e.Encoding == image.EncodingRaw || e.Encoding == image.EncodingZero {
				kinds[i] = parted
				clean = appendRuns(clean, unchanged(lo, hi, pw, ww)...)
			}
			continue
		}
		if err := d.w.AddParent(pf); err != nil {
			return nil, err
		}
		e.Gen, e.File = pf.Gen, pf.File
		if err := d.w.AddRef(e); err != nil {
			return nil, err
		}
		d.t.refBytes += e.Length
		kinds[i] = whole
		clean = appendRuns(clean, procfs.PageRange{Start: lo, End: hi})
	}
	if !slices.Contains(kinds, parted) {
		return subtract(present, clean), nil
	}
	// A short unchanged stretch between written pages is saved anew with
	// them (minPart): the parts of partly changed extents are referred to
	// only where the whole unchanged stretch around them, across extents
	// (clean, now complete), is long enough. A second pass, not a list of
	// the candidates: tens of thousands of them, in fresh memory, cost more
	// page faults than the pass.
	var kept []procfs.PageRange
	pi, wi = 0, 0
	ci := 0
	for i := range exts {
		e := &exts[i]
		lo, hi := uint64(e.Vaddr), e.End()
		switch kinds[i] {
		case whole:
			kept = appendRuns(kept, procfs.PageRange{Start: lo, End: hi})
		case parted:
			declared := false
			for _, k := range unchanged(lo, hi, window(present, &pi, lo, hi), window(written, &wi, lo, hi)) {
				for clean[ci].End <= k.Start {
					ci++
				}
				if clean[ci].End-clean[ci].Start < minPart {
					continue
				}
				if !declared { // once per extent, not per part
					pf, _ := par.ParentFileOf(*e)
					if err := d.w.AddParent(pf); err != nil {
						return nil, err
					}
					declared = true
				}
				d.t.parts = append(d.t.parts, partRef{e: e, vaddr: k.Start, length: k.End - k.Start})
				d.t.refBytes += k.End - k.Start
				kept = appendRuns(kept, k)
			}
		}
	}
	return subtract(present, kept), nil
}

// unchanged returns the pages of [lo, hi) present (pw) and not written (ww).
func unchanged(lo, hi uint64, pw, ww []procfs.PageRange) []procfs.PageRange {
	in := []procfs.PageRange{{Start: lo, End: hi}}
	return subtract(subtract(in, subtract(in, pw)), ww)
}

// partRef is a part of a parent's extent the image refers to (addParts).
// e points into the parent reader's list, which outlives the dump: an app
// writing scattered pages leaves tens of thousands of parts.
type partRef struct {
	e             *image.PageExtent
	vaddr, length uint64
}

// minPart is the shortest part of a partly written parent extent an
// incremental image refers to: 8 pages. A part is an extent of its own
// (its metadata, its checksum, a read of its own at restore) and splits the
// written pages around it into separate reads and writes; on this VM's disk
// shorter stretches cost less saved anew, merged with the written pages
// around them (docs/benchmarks.md measures the floor at 1, 2, 4 and 8
// pages). A whole unchanged extent is always referred to.
const minPart = 8 * image.PageSize

// addParts adds the parts of parent extents the dump set aside, with their
// checksums (after the thaw: not the app's pause), folded from the
// parent's page checksum files or, without usable ones, read from its page
// files (Reader.RefPart). A parent file that cannot be read fails the
// checkpoint: those pages were not saved anew.
func (t *tree) addParts() error {
	if len(t.parts) == 0 {
		return nil
	}
	t0 := time.Now()
	var n uint64
	defer func() {
		slog.Debug("checkpoint: parts of parent extents referred to", "parts", len(t.parts), "bytes", n, "took", time.Since(t0))
		t.parts = nil
	}()
	buf := make([]byte, 1<<20)
	for _, p := range t.parts {
		n += p.length
		part, err := t.parent.RefPart(*p.e, p.vaddr, p.length, buf)
		if err != nil {
			return fmt.Errorf("incremental checkpoint: refer to the pages of pid %d at %#x+%d in %s: %w", p.e.PID, p.vaddr, p.length, filepath.Base(t.parent.Dir()), err)
		}
		if err := t.w.AddRef(part); err != nil {
			return err
		}
	}
	return nil
}

// mergeRuns returns the union of two sorted run lists, merged.
func mergeRuns(a, b []procfs.PageRange) []procfs.PageRange {
	all := append(append([]procfs.PageRange{}, a...), b...)
	slices.SortFunc(all, func(x, y procfs.PageRange) int {
		switch {
		case x.Start < y.Start:
			return -1
		case x.Start > y.Start:
			return 1
		}
		return 0
	})
	var out []procfs.PageRange
	for _, r := range all {
		if n := len(out); n > 0 && out[n-1].End >= r.Start {
			out[n-1].End = max(out[n-1].End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}

// window returns the runs of runs (sorted, disjoint) that meet [lo, hi),
// advancing cursor *i past those that end at or before lo: a caller whose lo
// never decreases walks the list once.
func window(runs []procfs.PageRange, i *int, lo, hi uint64) []procfs.PageRange {
	for *i < len(runs) && runs[*i].End <= lo {
		*i++
	}
	j := *i
	for j < len(runs) && runs[j].Start < hi {
		j++
	}
	return runs[*i:j]
}

// appendRuns appends runs to dst (sorted, merged), merging each with the
// last one where they meet; a run out of order is merged in by sorting.
func appendRuns(dst []procfs.PageRange, runs ...procfs.PageRange) []procfs.PageRange {
	for _, r := range runs {
		n := len(dst)
		switch {
		case n == 0 || dst[n-1].End < r.Start:
			dst = append(dst, r)
		case dst[n-1].Start <= r.Start:
			dst[n-1].End = max(dst[n-1].End, r.End)
		default:
			dst = mergeRuns(dst, []procfs.PageRange{r})
		}
	}
	return dst
}

// covered says whether [lo, hi) lies inside one of the runs (sorted,
// maximal: adjacent runs are merged).
func covered(runs []procfs.PageRange, lo, hi uint64) bool {
	for _, r := range runs {
		if r.Start <= lo && hi <= r.End {
			return true
		}
		if r.Start >= hi {
			break
		}
	}
	return false
}

// subtract returns runs less cut (both sorted).
func subtract(runs, cut []procfs.PageRange) []procfs.PageRange {
	var out []procfs.PageRange
	j := 0
	for _, r := range runs {
		a := r.Start
		for j < len(cut) && cut[j].End <= a {
			j++
		}
		for k := j; k < len(cut) && cut[k].Start < r.End; k++ {
			if cut[k].Start > a {
				out = append(out, procfs.PageRange{Start: a, End: cut[k].Start})
			}
			a = max(a, cut[k].End)
		}
		if a < r.End {
			out = append(out, procfs.PageRange{Start: a, End: r.End})
		}
	}
	return out
}

// stripUW removes the VmFlag "uw" (crrun's own write-protect registration)
// from the VmFlags lines of smaps text, for the inventory: the restored app
// has no registration, and the app's own userfaultfd is refused elsewhere.
func stripUW(smaps []byte) []byte {
	if !bytes.Contains(smaps, []byte(" uw")) {
		return smaps
	}
	lines := bytes.Split(smaps, []byte("\n"))
	for i, l := range lines {
		if bytes.HasPrefix(l, []byte("VmFlags:")) {
			lines[i] = bytes.ReplaceAll(append(append([]byte{}, l...), ' '), []byte(" uw "), []byte(" "))
			lines[i] = bytes.TrimRight(lines[i], " ")
		}
	}
	return bytes.Join(lines, []byte("\n"))
}
