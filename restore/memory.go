package restore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"

	"golang.org/x/sys/unix"
)

func isKernelMapping(path string) bool {
	switch path {
	case "[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]":
		return true
	}
	return false
}

// memory replaces the stub's address space with the saved one (unless
// that was done before the process's children were cloned, cow.go), without
// its pages: startFill writes them while the threads are cloned, and
// memoryDone, after the threads step, finishes.
func (r *restorer) memory() error {
	if r.memDone {
		return nil
	}
	return r.mapMemory()
}

// startFill starts writing the pages memory mapped (unless cow.go wrote
// them already) on another goroutine, while the threads are cloned: neither
// needs the other, the fill needs no tracer (process_vm_writev,
// /proc/PID/mem) and the clones touch no mapping of the app; memoryDone
// waits for it before any thread registers its rseq area (which the kernel
// writes) or runs. After the mm step: PR_SET_MM_MAP takes the mmap lock for
// writing, which the fill's page walks would hold it from.
func (r *restorer) startFill() {
	if r.memDone || r.filling != nil {
		return
	}
	done := make(chan error, 1)
	r.filling = done
	go func() { done <- r.fill() }()
}

// fillAndThreads starts the fill, then clones the threads.
func (r *restorer) fillAndThreads() error {
	r.startFill()
	return r.threads()
}

// waitFill waits for a fill that memory started (nil if none).
func (r *restorer) waitFill() error {
	if r.filling == nil {
		return nil
	}
	err := <-r.filling
	r.filling = nil
	return err
}

// memoryDone finishes what memory started: the pages written, then every
// mapping's protection and VmFlags; then the temporary shared memory
// objects, which have given their views, are unmapped.
func (r *restorer) memoryDone() error {
	if !r.memDone {
		if err := r.waitFill(); err != nil {
			return err
		}
		if err := r.protectMemory(); err != nil {
			return err
		}
	}
	for k, a := range r.t.shm {
		if _, err := r.inj(r.pid, "munmap(shared memory)", unix.SYS_MUNMAP, a, r.t.shmSize[k]); err != nil {
			return err
		}
	}
	return nil
}

// buildMemory maps, fills and protects every saved mapping.
func (r *restorer) buildMemory() error {
	if err := r.mapMemory(); err != nil {
		return err
	}
	if err := r.fill(); err != nil {
		return err
	}
	return r.protectMemory()
}

// mapMemory maps every saved mapping (without its pages).
func (r *restorer) mapMemory() error {
	cur, err := r.currentMaps()
	if err != nil {
		return err
	}
	// 1. Unmap everything but the scratch area, the kernel's mappings, the
	// temporary shared objects and what the process inherits from its
	// parent (cow.go).
	keep := r.inheritedSpans()
	for _, m := range cur {
		if m.Start >= r.scratch && m.End <= r.scratch+scratchSize || isKernelMapping(m.Path) || r.t.inShm(m.Start, m.End) {
			continue
		}
		for _, s := range subtract(m.Start, m.End, keep) {
			if _, err := r.inj(r.pid, "munmap", unix.SYS_MUNMAP, s[0], s[1]-s[0]); err != nil {
				return err
			}
		}
	}
	// 2. Move [vvar], [vvar_vclock] and [vdso] together to where the program
	// had them: its saved return addresses and function pointers point there.
	if err := r.moveVDSO(cur); err != nil {
		return err
	}
	// 3. Map every saved region (a batch of mmap/mremap calls in the main
	// thread; the files they map opened first), fill it, then set its
	// protection and VmFlags (another batch).
	var calls, closeAfter []call
	for i := range r.p.Memory {
		v := &r.p.Memory[i]
		cs, err := r.mapVMA(v, &closeAfter)
		if err == nil {
			cs = append(cs, markGuard(v)...)
		}
		if err != nil {
			return fmt.Errorf("mapping %#x-%#x %s %q: %w", uint64(v.Start), uint64(v.End), v.Prot, v.Path, err)
		}
		calls = append(calls, inMapping(v, cs)...)
	}
	err = r.runSerial(r.pid, calls)
	for _, fd := range r.mapFds {
		closeAfter = append(closeAfter, sys("close", unix.SYS_CLOSE, fd))
	}
	r.mapFds = nil
	if cerr := r.runSerial(r.pid, closeAfter); err == nil {
		err = cerr
	}
	return err
}

// protectMemory gives every mapping its protection and VmFlags, once its
// pages are written.
func (r *restorer) protectMemory() error {
	var calls []call
	for i := range r.p.Memory {
		v := &r.p.Memory[i]
		if isKernelKind(v.Kind) {
			continue
		}
		cs := append([]call{sys("mprotect", unix.SYS_MPROTECT, uint64(v.Start), v.Size(), uint64(prot(v.Prot)))}, hints(v)...)
		calls = append(calls, inMapping(v, cs)...)
	}
	return r.runSerial(r.pid, calls)
}

// inMapping makes the failure of each call name the mapping it is for.
func inMapping(v *image.VMA, cs []call) []call {
	for i := range cs {
		wrap := cs[i].wrap
		cs[i].wrap = func(err error) error {
			if wrap != nil {
				err = wrap(err)
			}
			return fmt.Errorf("mapping %#x-%#x %s %q: %w", uint64(v.Start), uint64(v.End), v.Prot, v.Path, err)
		}
	}
	return cs
}

// madvice is the madvise(2) advice that sets each VmFlag restored by one.
var madvice = map[string]int{"sr": unix.MADV_SEQUENTIAL, "rr": unix.MADV_RANDOM, "dc": unix.MADV_DONTFORK,
	"wf": unix.MADV_WIPEONFORK, "dd": unix.MADV_DONTDUMP, "hg": unix.MADV_HUGEPAGE, "nh": unix.MADV_NOHUGEPAGE,
	"mg": unix.MADV_MERGEABLE}

// hints are the calls that set a mapping's restored VmFlags
// (image.VMFlagRestored) once it has its final protection: madvise hints,
// mlock, and mseal last (a sealed mapping refuses mprotect and some
// madvise). A hint the kernel refuses fails the restore: the mapping would
// differ.
func hints(v *image.VMA) []call {
	has := func(f string) bool { return slices.Contains(v.Flags, f) }
	var calls []call
	// Guards first: the kernel refuses them in an mlocked mapping.
	for _, g := range v.Guards {
		calls = append(calls, sys("madvise(MADV_GUARD_INSTALL)", unix.SYS_MADVISE, uint64(g.Start), uint64(g.End-g.Start), madvGuardInstall))
	}
	for _, f := range v.Flags {
		if adv, ok := madvice[f]; ok {
			calls = append(calls, sys("madvise("+f+")", unix.SYS_MADVISE, uint64(v.Start), v.Size(), uint64(adv)))
		}
	}
	switch {
	case has("lo") && has("lf"):
		calls = append(calls, sys("mlock2(MLOCK_ONFAULT)", unix.SYS_MLOCK2, uint64(v.Start), v.Size(), unix.MLOCK_ONFAULT))
	case has("lo"):
		calls = append(calls, sys("mlock", unix.SYS_MLOCK, uint64(v.Start), v.Size()))
	}
	if has("sl") {
		calls = append(calls, sys("mseal", sysMseal, uint64(v.Start), v.Size(), 0))
	}
	return calls
}

// sysMseal is mseal(2) on x86_64 (Linux 6.10).
const sysMseal = 462

// MADV_GUARD_INSTALL and MADV_GUARD_REMOVE (Linux 6.13).
const (
	madvGuardInstall = 102
	madvGuardRemove  = 103
)

// markGuard gives a new mapping the sticky "gu" VmFlag (VM_MAYBE_GUARD) its
// original showed even where it has no guard page left: a guard installed
// and removed at once on its first page, before the page is filled.
func markGuard(v *image.VMA) []call {
	if !slices.Contains(v.Flags, "gu") {
		return nil
	}
	var calls []call
	for _, adv := range []uint64{madvGuardInstall, madvGuardRemove} {
		calls = append(calls, sys("madvise(guard)", unix.SYS_MADVISE, uint64(v.Start), 4096, adv))
	}
	return calls
}

func isKernelKind(k image.VMAKind) bool {
	return k == image.VMAVDSO || k == image.VMAVVar || k == image.VMAVVarVClock || k == image.VMAVSyscall
}

func prot(p image.Prot) int {
	var n int
	if p&image.ProtRead != 0 {
		n |= unix.PROT_READ
	}
	if p&image.ProtWrite != 0 {
		n |= unix.PROT_WRITE
	}
	if p&image.ProtExec != 0 {
		n |= unix.PROT_EXEC
	}
	return n
}

// moveVDSO moves the kernel's [vvar], [vvar_vclock] and [vdso] by one
// offset with mremap, so they sit where the saved program had them. The kernel
// refuses overlapping moves, so when old and new places overlap the block goes
// through a temporary spot first. (The kernel's vdso_mremap hook updates
// mm->context.vdso, so signal return still finds the vdso.)
func (r *restorer) moveVDSO(cur []procfs.Mapping) error {
	want := map[string]image.VMA{}
	for _, v := range r.p.Memory {
		if v.Kind == image.VMAVDSO || v.Kind == image.VMAVVar || v.Kind == image.VMAVVarVClock {
			want[v.Path] = v
		}
	}
	var have []procfs.Mapping
	for _, m := range cur {
		if m.Path == "[vdso]" || m.Path == "[vvar]" || m.Path == "[vvar_vclock]" {
			have = append(have, m)
		}
	}
	// What the app had unmapped goes (an app may munmap its vdso and vvar).
	var keep []procfs.Mapping
	for _, m := range have {
		if _, ok := want[m.Path]; ok {
			keep = append(keep, m)
			continue
		}
		if _, err := r.inj(r.pid, "munmap("+m.Path+")", unix.SYS_MUNMAP, m.Start, m.End-m.Start); err != nil {
			return err
		}
	}
	have = keep
	if len(have) != len(want) {
		return fmt.Errorf("the image has %d vdso/vvar mappings, this kernel gives %d: a different kernel", len(want), len(have))
	}
	if len(want) == 0 {
		return nil
	}
	var delta int64
	for i, m := range have {
		v, ok := want[m.Path]
		if !ok || v.Size() != m.End-m.Start {
			return fmt.Errorf("%s: size or presence differs from the image: a different kernel", m.Path)
		}
		d := int64(uint64(v.Start)) - int64(m.Start)
		if i > 0 && d != delta {
			return fmt.Errorf("%s: the saved vdso/vvar layout differs from this kernel's", m.Path)
		}
		delta = d
	}
	if delta == 0 {
		return nil
	}
	lo, hi := have[0].Start, have[len(have)-1].End
	move := func(from []procfs.Mapping, to uint64) ([]procfs.Mapping, error) {
		var moved []procfs.Mapping
		for _, m := range from {
			n := to + (m.Start - from[0].Start)
			size := m.End - m.Start
			ret, err := r.inj(r.pid, "mremap("+m.Path+")", unix.SYS_MREMAP, m.Start, size, size,
				unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, n)
			if err != nil {
				return nil, err
			}
			if ret != n {
				return nil, fmt.Errorf("mremap of %s went to %#x, not %#x", m.Path, ret, n)
			}
			moved = append(moved, procfs.Mapping{Start: n, End: n + size, Path: m.Path})
		}
		return moved, nil
	}
	target := uint64(int64(lo) + delta)
	if target < hi && lo < target+(hi-lo) {
		var tmp uint64
		for _, a := range freeAddrs(r.p.Memory, hi-lo) {
			if (a+(hi-lo) <= r.scratch || a >= r.scratch+scratchSize) && (a+(hi-lo) <= lo || a >= hi) {
				tmp = a
				break
			}
		}
		if tmp == 0 {
			return fmt.Errorf("no temporary spot to move the vdso through")
		}
		var err error
		if have, err = move(have, tmp); err != nil {
			return err
		}
	}
	_, err := move(have, target)
	return err
}

// mapVMA returns the calls that create one saved mapping. The files they
// map are opened now (by injection, once per file and access mode: r.mapFds,
// closed by the caller after the calls ran); fds to close once the calls ran
// are added to closeAfter.
func (r *restorer) mapVMA(v *image.VMA, closeAfter *[]call) ([]call, error) {
	if isKernelKind(v.Kind) {
		return nil, nil
	}
	if v.Inherit != nil {
		return r.inherit(v)
	}
	flags := unix.MAP_FIXED
	if v.Shared {
		flags |= unix.MAP_SHARED
	} else {
		flags |= unix.MAP_PRIVATE
	}
	for _, f := range v.Flags {
		switch f {
		case "gd":
			flags |= unix.MAP_GROWSDOWN
		case "nr":
			flags |= unix.MAP_NORESERVE
		}
	}
	// A private mapping is made with its final protection, writable too
	// only if the kernel accounted it ("ac": it was writable once, which
	// mprotect does not undo): VmFlags then match the saved ones. Pages of a
	// read-only mapping are filled through /proc/PID/mem.
	pr := uint64(prot(v.Prot))
	if !v.Shared && slices.Contains(v.Flags, "ac") {
		pr |= unix.PROT_WRITE
	}
	switch v.Kind {
	case image.VMAShmem:
		// A view of the object every process inherited at its temporary
		// address: mremap with old_size 0 makes another mapping of the same
		// pages. MREMAP_FIXED returns the address asked for or fails.
		if v.File == nil {
			return nil, fmt.Errorf("shared memory without identity")
		}
		a, ok := r.t.shm[fileKey{v.File.Dev, v.File.Inode}]
		if !ok {
			return nil, fmt.Errorf("shared memory object %d was not created", v.File.Inode)
		}
		return []call{sys("mremap(shared memory)", unix.SYS_MREMAP, a+uint64(v.Offset), 0, v.Size(),
			unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, uint64(v.Start))}, nil
	case image.VMASysV:
		// An attachment of a segment the init recreated with its id
		// (supervisor/ipcns.go): read-only when it could never be
		// written (no "mw": shmat SHM_RDONLY); the final protection
		// follows, as for any mapping. SHM_REMAP at an SHMLBA-aligned
		// address attaches there or fails.
		const shmRdonly, shmRemap, shmExec = 0o10000, 0o40000, 0o100000
		fl := uint64(shmRemap)
		if v.Prot&image.ProtWrite == 0 && !slices.Contains(v.Flags, "mw") {
			fl |= shmRdonly
		}
		if v.Prot&image.ProtExec != 0 {
			fl |= shmExec
		}
		return []call{sys(fmt.Sprintf("shmat(%d)", v.ShmID), unix.SYS_SHMAT, uint64(v.ShmID), uint64(v.Start), fl)}, nil
	case image.VMAAnon, image.VMAHeap, image.VMAStack:
		return []call{sys("mmap", unix.SYS_MMAP, uint64(v.Start), v.Size(), pr, uint64(flags|unix.MAP_ANONYMOUS), ^uint64(0), 0)}, nil
	case image.VMAFile:
		path := v.File.Path
		if fd, ok := r.t.memfd[v.Blob]; ok && v.Blob != "" {
			// The memfd itself, parked in every process; read-only for
			// a shared mapping that may not be made writable ("mw").
			if v.Shared && !slices.Contains(v.Flags, "mw") {
				r.reset()
				a, err := r.putString(fmt.Sprintf("/proc/self/fd/%d", fd))
				if err != nil {
					return nil, err
				}
				ro, err := r.inj(r.pid, "openat(memfd, O_RDONLY)", unix.SYS_OPENAT, atFdcwd, a, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					return nil, err
				}
				*closeAfter = append(*closeAfter, sys("close", unix.SYS_CLOSE, ro))
				fd = ro
			}
			return []call{sys("mmap(memfd)", unix.SYS_MMAP, uint64(v.Start), v.Size(), pr, uint64(flags), fd, uint64(v.Offset))}, nil
		}
		if v.Blob != "" || v.File.Deleted {
			tmp, err := r.t.deletedPath(v.File, v.Blob)
			if err != nil {
				return nil, err
			}
			path = tmp
		}
		mode := uint64(unix.O_RDONLY)
		if v.Shared && (v.Prot&image.ProtWrite != 0 || slices.Contains(v.Flags, "mw")) {
			// A shared mapping may be made writable ("mw") only if its
			// fd was opened for writing: the same access mode again.
			mode = unix.O_RDWR
		}
		// One fd per file and access mode serves all its mappings (a
		// library is mapped 4–5 times); they are closed after the last.
		key := fmt.Sprintf("%d:%s", mode, path)
		fd, ok := r.mapFds[key]
		if !ok {
			r.reset()
			pa, err := r.putString(path)
			if err != nil {
				return nil, err
			}
			if fd, err = r.inj(r.pid, "openat("+path+")", unix.SYS_OPENAT, atFdcwd, pa, mode|unix.O_CLOEXEC, 0); err != nil {
				return nil, err
			}
			if r.mapFds == nil {
				r.mapFds = map[string]uint64{}
			}
			r.mapFds[key] = fd
		}
		return []call{sys("mmap("+path+")", unix.SYS_MMAP, uint64(v.Start), v.Size(), pr, uint64(flags), fd, uint64(v.Offset))}, nil
	}
	return nil, fmt.Errorf("unknown kind of mapping %q", v.Kind)
}

// blobFile writes a blob of the image to a new file under TempDir and returns
// its path; it is unlinked when the restore ends (the app keeps it open or
// mapped, like the deleted file it had).
func (t *treeRestorer) blobFile(name string) (string, error) {
	if p, ok := t.blobs[name]; ok {
		return p, nil
	}
	b, err := t.req.Image.OpenBlob(name)
	if err != nil {
		return "", err
	}
	defer b.Close()
	f, err := os.CreateTemp(t.req.TempDir, ".crrun-restore-*")
	if err != nil {
		return "", err
	}
	defer f.Close()
	path, _ := filepath.Abs(f.Name())
	t.cleanup = append(t.cleanup, func() { os.Remove(path) })
	t.blobs[name] = path
	if _, err := f.ReadFrom(b); err != nil {
		return "", fmt.Errorf("recreate %s: %w", name, err)
	}
	return path, nil
}

// fillChunk is the most fill reads (and decompresses) at once.
const fillChunk = 32 << 20

// fill writes the saved pages (process_vm_writev; /proc/PID/mem for what
// it cannot reach). One goroutine reads the next run of extents from the
// image (ReadPages decompresses its compressed extents on every CPU) while
// this one writes the previous run into the process, so a compressed
// image restores as fast as a raw one. Zero extents of memory this
// restore has just mapped anonymous and private are not written: the
// pages are zero already, and stay unpopulated.
func (r *restorer) fill() error {
	img := r.t.req.Image
	runs := fillRuns(img.Extents(r.p.PID), r.freshZero)
	if len(runs) == 0 {
		return nil
	}
	size := uint64(0)
	for _, s := range runs {
		size = max(size, s[1])
	}
	mem := ptrace.OpenMem(r.pid)
	defer mem.Close()
	type piece struct {
		a   uint64
		b   []byte
		err error
	}
	bufs := make(chan []byte, 2)
	bufs <- make([]byte, size)
	bufs <- make([]byte, size)
	out := make(chan piece, 2) // never full: two buffers
	stop := make(chan struct{})
	go func() {
		defer close(out)
		for _, s := range runs {
			var b []byte
			select {
			case b = <-bufs:
			case <-stop:
				return
			}
			b = b[:s[1]]
			err := img.ReadPages(r.p.PID, s[0], b)
			out <- piece{s[0], b, err}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		for range out { // wait for the reader
		}
	}()
	for p := range out {
		if p.err != nil {
			return p.err
		}
		if err := mem.Write(uintptr(p.a), p.b); err != nil {
			return fmt.Errorf("write %d bytes at %#x: %w", len(p.b), p.a, err)
		}
		bufs <- p.b[:cap(p.b)]
	}
	return nil
}

// freshZero says whether the zero extent e lies in memory this restore
// mapped anonymous and private (not inherited from a parent), which is
// zero already.
func (r *restorer) freshZero(e image.PageExtent) bool {
	if e.Encoding != image.EncodingZero {
		return false
	}
	mem := r.p.Memory
	i := sort.Search(len(mem), func(i int) bool { return uint64(mem[i].End) > uint64(e.Vaddr) })
	if i == len(mem) || uint64(mem[i].Start) > uint64(e.Vaddr) || e.End() > uint64(mem[i].End) {
		return false
	}
	v := &mem[i]
	switch v.Kind {
	case image.VMAAnon, image.VMAHeap, image.VMAStack:
		return !v.Shared && v.Inherit == nil
	}
	return false
}

// fillRuns cuts the extents (sorted by address) into runs [address,
// length] of at most fillChunk bytes of consecutive memory, leaving out
// the extents skip says need no writing; an extent is cut only when it is
// longer than fillChunk.
func fillRuns(extents []image.PageExtent, skip func(image.PageExtent) bool) [][2]uint64 {
	var runs [][2]uint64
	for _, e := range extents {
		if skip(e) {
			continue
		}
		a, n := uint64(e.Vaddr), e.Length
		if k := len(runs); k > 0 {
			last := &runs[k-1]
			if last[0]+last[1] == a && last[1]+n <= fillChunk {
				last[1] += n
				continue
			}
		}
		for n > 0 {
			m := min(n, fillChunk)
			runs = append(runs, [2]uint64{a, m})
			a, n = a+m, n-m
		}
	}
	return runs
}

// mm sets the memory descriptor's fields with prctl(PR_SET_MM, PR_SET_MM_MAP),
// which needs no capability with exe_fd = -1 (the legacy PR_SET_MM_* calls
// need CAP_SYS_RESOURCE, which root here does not have).
func (r *restorer) mm() error {
	m := r.p.MM
	r.reset()
	var auxv []byte
	for _, w := range m.Auxv {
		auxv = binary.LittleEndian.AppendUint64(auxv, uint64(w))
	}
	aa, err := r.put(auxv)
	if err != nil {
		return err
	}
	st := le64(uint64(m.StartCode), uint64(m.EndCode), uint64(m.StartData), uint64(m.EndData),
		uint64(m.StartBrk), uint64(m.Brk), uint64(m.StartStack), uint64(m.ArgStart), uint64(m.ArgEnd),
		uint64(m.EnvStart), uint64(m.EnvEnd), aa)
	st = binary.LittleEndian.AppendUint32(st, uint32(len(auxv)))
	// exe_fd = -1 keeps the stub's executable, the main process's. Another
	// one (a child that exec'd) is set from an fd, which needs
	// CAP_CHECKPOINT_RESTORE (or CAP_SYS_ADMIN) in the user namespace: the
	// blank process still has the stub's.
	exe := uint64(0xffffffff)
	if root := r.t.root.p; r.p.Exe.Path != root.Exe.Path || r.p.Exe.Inode != root.Exe.Inode {
		pa, err := r.putString(r.p.Exe.Path)
		if err != nil {
			return err
		}
		if exe, err = r.inj(r.pid, "openat("+r.p.Exe.Path+")", unix.SYS_OPENAT, atFdcwd, pa, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("the executable: %w", err)
		}
		defer r.inj(r.pid, "close", unix.SYS_CLOSE, exe) //nolint:errcheck
	}
	st = binary.LittleEndian.AppendUint32(st, uint32(exe))
	sa, err := r.put(st)
	if err != nil {
		return err
	}
	_, err = r.inj(r.pid, "prctl(PR_SET_MM_MAP)", unix.SYS_PRCTL, unix.PR_SET_MM, unix.PR_SET_MM_MAP, sa, uint64(len(st)))
	return err
}

// openMemfd gives a memfd description: the memfd is created once (with its
// name, content, mode, owner and seals) and parked; each description of it
// is that fd or a reopening through /proc/self/fd with its own access mode,
// then gets its offset and status flags (O_NONBLOCK, O_APPEND…) as saved.
func (t *treeRestorer) openMemfd(f *image.FD) (uint64, error) {
	r := t.root
	m := f.Memfd
	if m == nil || f.Blob == "" {
		return 0, errors.New("no memfd state in the image")
	}
	parked, ok := t.memfd[f.Blob]
	if !ok {
		var err error
		if parked, err = t.createMemfd(m, f.Blob); err != nil {
			return 0, err
		}
	}
	fd := parked
	if ok || f.Flags&unix.O_ACCMODE != unix.O_RDWR {
		// Another description of the same memfd, or one not O_RDWR (the
		// parked one serves mappings and later descriptions).
		r.reset()
		a, err := r.putString(fmt.Sprintf("/proc/self/fd/%d", parked))
		if err != nil {
			return 0, err
		}
		if fd, err = r.inj(r.pid, "openat(memfd)", unix.SYS_OPENAT, atFdcwd, a, uint64(f.Flags)&unix.O_ACCMODE|unix.O_CLOEXEC, 0); err != nil {
			return 0, err
		}
	}
	if f.Pos != 0 {
		if _, err := r.inj(r.pid, "lseek(memfd)", unix.SYS_LSEEK, fd, uint64(f.Pos), unix.SEEK_SET); err != nil {
			return 0, err
		}
	}
	if _, err := r.inj(r.pid, "fcntl(F_SETFL)", unix.SYS_FCNTL, fd, unix.F_SETFL, uint64(f.Flags)&^unix.O_CLOEXEC); err != nil {
		return 0, err
	}
	return fd, nil
}

// createMemfd makes a memfd in the main process like m with the blob's
// content, parks it (O_RDWR) as t.memfd[blob] and returns its fd. The mode
// is set before the seals: F_SEAL_EXEC on a file with exec bits implies the
// write seals (mm/memfd.c), so a memfd made with MFD_NOEXEC_SEAL (mode 0666)
// must lose its exec bits first.
func (t *treeRestorer) createMemfd(m *image.Memfd, blob string) (uint64, error) {
	r := t.root
	r.reset()
	a, err := r.putString(m.Name)
	if err != nil {
		return 0, err
	}
	fd, err := r.inj(r.pid, "memfd_create", unix.SYS_MEMFD_CREATE, a, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return 0, err
	}
	c, err := r.getfd(fd)
	if err != nil {
		return 0, err
	}
	defer unix.Close(c)
	if err := t.copyBlob(c, blob); err != nil {
		return 0, fmt.Errorf("memfd %s: content: %w", m.Name, err)
	}
	if err := unix.Ftruncate(c, m.Size); err != nil {
		return 0, err
	}
	if _, err := unix.Seek(c, 0, io.SeekStart); err != nil {
		return 0, err
	}
	if m.Mode != 0 {
		var st unix.Stat_t
		if err := unix.Fstat(c, &st); err != nil {
			return 0, err
		}
		if st.Uid != m.UID || st.Gid != m.GID {
			if err := unix.Fchown(c, int(m.UID), int(m.GID)); err != nil {
				return 0, fmt.Errorf("memfd %s: chown %d:%d: %w", m.Name, m.UID, m.GID, err)
			}
		}
		if err := unix.Fchmod(c, uint32(m.Mode)&0o7777); err != nil {
			return 0, fmt.Errorf("memfd %s: chmod %#o: %w", m.Name, uint32(m.Mode)&0o7777, err)
		}
	}
	if m.Seals != 0 {
		if _, err := unix.FcntlInt(uintptr(c), unix.F_ADD_SEALS, m.Seals); err != nil {
			return 0, fmt.Errorf("memfd %s: F_ADD_SEALS(%#x): %w", m.Name, m.Seals, err)
		}
	}
	t.memfd[blob] = fd
	return fd, nil
}

// mappedMemfds creates, in the blank main process while the placeholders
// still hold the low fds, every memfd that is mapped but that no fd of the
// tree holds any more: every process inherits it and maps it itself.
func (t *treeRestorer) mappedMemfds() error {
	for _, p := range t.procs {
		for i := range p.Memory {
			v := &p.Memory[i]
			if v.Memfd == nil || v.Blob == "" {
				continue
			}
			if _, ok := t.memfd[v.Blob]; ok {
				continue
			}
			if _, err := t.createMemfd(v.Memfd, v.Blob); err != nil {
				return fmt.Errorf("pid %d: mapping %#x-%#x %q: %w", p.PID, uint64(v.Start), uint64(v.End), v.Path, err)
			}
		}
	}
	return nil
}
