package checkpoint

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// chunk is the largest piece of memory read at once. Reusing buffers
// matters: allocating per region dominated early timings.
const chunk = 8 << 20

// nbufs buffers of chunk bytes go round: one is read into while the image
// writer checksums, compresses and writes the others (AddPagesAsync).
const nbufs = 4

func vmaKind(m *procfs.SmapsEntry) image.VMAKind {
	switch {
	case m.Path == "[vdso]":
		return image.VMAVDSO
	case m.Path == "[vvar]":
		return image.VMAVVar
	case m.Path == "[vvar_vclock]":
		return image.VMAVVarVClock
	case m.Path == "[vsyscall]":
		return image.VMAVSyscall
	case m.Path == "[heap]":
		return image.VMAHeap
	case m.Path == "[stack]":
		return image.VMAStack
	case m.Perms.Shared() && m.Deleted && strings.HasPrefix(m.Path, "/SYSV") && m.Dev.Major == 0:
		return image.VMASysV
	case m.Perms.Shared() && (m.Path == "/dev/zero" || strings.HasPrefix(m.Path, "[anon_shmem:")):
		return image.VMAShmem
	case m.Path == "" || strings.HasPrefix(m.Path, "[anon:"):
		return image.VMAAnon
	case strings.HasPrefix(m.Path, "/"):
		return image.VMAFile
	}
	return ""
}

func fileIdentity(path string, st *unix.Stat_t, deleted bool) *image.FileIdentity {
	return &image.FileIdentity{Path: path, Dev: image.MakeDev(unix.Major(st.Dev), unix.Minor(st.Dev)), Inode: st.Ino,
		Size: st.Size, Mtime: timespec(st.Mtim), Ctime: timespec(st.Ctim), Mode: image.Octal(st.Mode), Deleted: deleted}
}

func (d *dumper) memory(p *image.Process, maps []procfs.SmapsEntry) (image.VDSO, error) {
	var vdso image.VDSO
	pm, err := procfs.OpenPagemap(d.pid)
	if err != nil {
		return vdso, fmt.Errorf("pid %d: open pagemap: %w", d.pid, err)
	}
	defer pm.Close()
	defer d.cow.close()
	mem := ptrace.OpenMem(d.pid)
	defer mem.Close()
	f := vmaRefusals(d.pid, maps, d.trk != nil)
	if r := ksmRefusal(d.pid); r != "" {
		f = append(f, seccomp.Finding{Pid: d.pid, Kind: "ksm", Fd: -1, Reason: r})
	}
	if len(f) > 0 {
		return vdso, &NotCheckpointableError{Findings: f}
	}
	hasVDSO := false
	sp := newSpans("memory", d.pid)
	defer sp.done()
	var tPagemap, tSave time.Duration
	defer func() {
		sp.b.WriteString(" (pagemap=" + tPagemap.String() + " save=" + tSave.String() + ")")
	}()
	var ranges []procfs.PageRange
	for i := range maps {
		m := &maps[i]
		kind := vmaKind(m)
		where := fmt.Sprintf("pid %d: mapping %#x-%#x %s %q", d.pid, m.Start, m.End, m.Perms, m.Path)
		if kind == "" {
			return vdso, fmt.Errorf("%s: unknown kind of mapping", where)
		}
		v := image.VMA{Start: image.Hex(m.Start), End: image.Hex(m.End), Shared: m.Perms.Shared(),
			Offset: image.Hex(m.Offset), Kind: kind, Path: m.Path, Flags: m.VmFlags.List()}
		if d.trk != nil {
			v.Flags = slices.DeleteFunc(v.Flags, func(f string) bool { return f == "uw" }) // crrun's (dirty.go)
		}
		if m.Perms.Read() {
			v.Prot |= image.ProtRead
		}
		if m.Perms.Write() {
			v.Prot |= image.ProtWrite
		}
		if m.Perms.Exec() {
			v.Prot |= image.ProtExec
		}
		if m.Deleted {
			v.Path += " (deleted)"
		}
		var save []procfs.PageRange
		switch kind {
		case image.VMAVDSO:
			hasVDSO = true
			if vdso, err = VDSOIdentity(d.pid, m.Start, m.End); err != nil {
				return vdso, err
			}
		case image.VMAVSyscall:
			continue // the kernel's fixed legacy page, the same in every process
		case image.VMAVVar, image.VMAVVarVClock:
			// the kernel provides these; restore moves them with the vdso
		case image.VMAShmem:
			// Shared memory must be saved from the object, not from pagemap
			// (pages touched only by others do not show); each part of the
			// object is saved once, from the first mapping of it.
			v.File = &image.FileIdentity{Path: m.Path, Dev: image.MakeDev(m.Dev.Major, m.Dev.Minor), Inode: m.Inode}
			k := fileKey{unix.Mkdev(m.Dev.Major, m.Dev.Minor), m.Inode}
			for _, s := range d.t.uncovered(k, m.Offset, m.Offset+(m.End-m.Start)) {
				save = append(save, procfs.PageRange{Start: m.Start + s.lo - m.Offset, End: m.Start + s.hi - m.Offset})
			}
		case image.VMASysV:
			// The segment's bytes are saved once, from the namespace
			// (Request.IPC); the mapping is an attachment of it, whose
			// inode number is the shmid (sysvAttachments checks it).
			v.ShmID = int(m.Inode)
		case image.VMAFile:
			var st unix.Stat_t
			mf := fmt.Sprintf("/proc/%d/map_files/%x-%x", d.pid, m.Start, m.End)
			if err := unix.Stat(mf, &st); err != nil {
				// map_files needs CAP_CHECKPOINT_RESTORE in the initial user
				// namespace; an ordinary user stats the path and checks it
				// is still the mapped inode.
				if m.Deleted {
					// Another way in: an fd of the app on the same inode.
					fdPath, ok := d.t.fdOn(m.Dev.Major, m.Dev.Minor, m.Inode)
					if !ok {
						return vdso, &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: d.pid, Kind: "deleted_mapping", Fd: -1,
							Reason: deletedMappingReason(d.pid, &m.Mapping)}}}
					}
					mf = fdPath
					if err := unix.Stat(mf, &st); err != nil {
						return vdso, fmt.Errorf("%s: stat %s: %w", where, mf, err)
					}
				} else if err := unix.Stat(m.Path, &st); err != nil {
					return vdso, fmt.Errorf("%s: stat: %w", where, err)
				}
				if st.Ino != m.Inode || unix.Major(st.Dev) != m.Dev.Major || unix.Minor(st.Dev) != m.Dev.Minor {
					return vdso, fmt.Errorf("%s: the file at this path is no longer the mapped one (replaced since)", where)
				}
			}
			v.File = fileIdentity(m.Path, &st, m.Deleted)
			hashIdentity(v.File, m.Path, false)
			switch {
			case m.Deleted && strings.HasPrefix(m.Path, "/memfd:"):
				name := inodeBlob(st.Dev, st.Ino)
				if err := d.t.saveBlobOnce(name, mf); err != nil {
					return vdso, fmt.Errorf("%s: save the memfd's content: %w", where, err)
				}
				v.Blob = name
				if v.Memfd, err = d.mappedMemfd(mf, strings.TrimPrefix(m.Path, "/memfd:"), &st); err != nil {
					return vdso, fmt.Errorf("%s: %w", where, err)
				}
			case m.Deleted:
				u, blob, err := d.t.unlinked(d.pid, -1, where, mf, &st)
				if err != nil {
					return vdso, err
				}
				v.File.Unlinked, v.Blob = u, blob
			case v.Shared && onTmpfs(mf):
				// Memory by another name (/dev/shm): its content at the
				// freeze, which the app may change after a checkpoint
				// it runs on from, is saved once per file.
				name := inodeBlob(st.Dev, st.Ino)
				if err := d.t.saveBlobOnce(name, mf); err != nil {
					return vdso, fmt.Errorf("%s: save the content of %s (a file in memory, tmpfs): %w", where, m.Path, err)
				}
				v.Content = name
				d.w.RequireFeature("tmpfs-shared")
			}
			if !v.Shared {
				if ranges, err = pm.PageRanges(&m.Mapping, ranges[:0]); err != nil {
					return vdso, fmt.Errorf("%s: pagemap: %w", where, err)
				}
				save = ranges
				d.presentBytes += runsBytes(ranges)
			}
		default: // anon, heap, stack
			inh, own, err := d.inherited(p, &v, pm)
			if err != nil {
				return vdso, fmt.Errorf("%s: %w", where, err)
			}
			if inh != nil {
				v.Inherit, save = inh, own
				break
			}
			tp := time.Now()
			if ranges, err = pm.PageRanges(&m.Mapping, ranges[:0]); err != nil {
				return vdso, fmt.Errorf("%s: pagemap: %w", where, err)
			}
			tPagemap += time.Since(tp)
			save = ranges
			d.presentBytes += runsBytes(ranges)
			if d.trk != nil && d.t.parent != nil && trackable(m) && m.VmFlags.Has("uw") {
				if save, err = d.incremental(p.PID, m, pm, ranges); err != nil {
					return vdso, fmt.Errorf("%s: incremental save: %w", where, err)
				}
			}
		}
		if m.VmFlags.Has("gu") {
			// Guard regions (MADV_GUARD_INSTALL) are page-table markers
			// pagemap shows like swap entries: not pages to read.
			if save, err = d.guards(&v, pm, save); err != nil {
				return vdso, err
			}
		}
		if len(save) > 0 {
			ts := time.Now()
			if err := d.savePages(p.PID, m, where, save, mem); err != nil {
				return vdso, err
			}
			tSave += time.Since(ts)
		}
		for _, f := range v.Flags {
			if slices.Contains(image.VMFlagsNew, f) {
				d.w.RequireFeature("vmflags")
			}
		}
		p.Memory = append(p.Memory, v)
	}
	sp.mark("walk")
	if err := d.flushPrivate(p.PID, mem); err != nil {
		return vdso, err
	}
	sp.mark("private")
	d.arm(maps, pm)
	sp.mark("arm")
	if !hasVDSO {
		// The app unmapped its vdso: an older restore would leave the
		// kernel's there.
		d.w.RequireFeature("no-vdso")
	}
	return vdso, nil
}

// savePages saves the runs of mapping m: a private mapping's are set aside
// for flushPrivate (a snapshot child, snapshot.go), the others are read
// now, from the frozen process. With --exit the app stays frozen anyway:
// everything is read now.
func (d *dumper) savePages(nspid int, m *procfs.SmapsEntry, where string, save []procfs.PageRange, mem *ptrace.Mem) error {
	runs := make([]pageRun, 0, len(save))
	var n uint64
	pin := pinnable(m) && !d.cloned
	for _, r := range save {
		runs = append(runs, pageRun{start: r.Start, end: r.End, where: where, pin: pin})
		n += r.End - r.Start
	}
	if !d.req.Exit && snapshotable(m) {
		// Decided once the process's total is known (flushPrivate).
		d.private = append(d.private, runs...)
		d.privateBytes += n
		return nil
	}
	if err := d.t.readPaused(mem, d.pid, nspid, runs); err != nil {
		return err
	}
	d.memBytes += n
	return nil
}

// pinnable says whether the pages of mapping m may be read with
// process_vm_readv (ptrace.Mem.ReadVec), whose pins (FOLL_PIN) make the
// kernel unshare an anonymous page shared copy-on-write by copying it: no
// page of m is mapped by another process (smaps' Shared_Clean and
// Shared_Dirty are 0, read while the whole app is frozen), and m is not
// mergeable (a KSM page is unshared whoever maps it).
func pinnable(m *procfs.SmapsEntry) bool {
	return m.SharedClean == 0 && m.SharedDirty == 0 && m.KSM == 0 && !m.VmFlags.Has("mg")
}

// snapshotMin is the least private memory a process must have to save for
// a snapshot to pay: below it, cloning, the drain's injections and the reap
// cost more than reading the pages in the pause (about 0.1 ms per 256 KiB).
const snapshotMin = 4 << 20

// dense says whether runs (ascending) hold on average 16 pages or more per
// 2 MiB of address space they touch: the clone copies every page table
// (one per 2 MiB populated), so for sparse memory (16 MiB touched one page
// in 256 of a 4 GiB map: ~2,000 page tables) it costs more than reading
// the pages in the pause, and the copy-on-write faults come on top.
func dense(runs []pageRun) bool {
	var pages, tables uint64
	last := ^uint64(0)
	for _, r := range runs {
		pages += (r.end - r.start) / 4096
		for b := r.start >> 21; b <= (r.end-1)>>21; b++ {
			if b != last {
				tables++
				last = b
			}
		}
	}
	return pages >= 16*tables
}

// readCheaper says whether reading the private runs set aside in the pause
// costs less than cloning a snapshot child: an incremental checkpoint of a
// big process that changed little since the last one. The clone copies the
// page tables of all the process's memory, not only of what is saved (1 GiB:
// 30 ms here, ~115 ns a page); the pause reads what is saved (~0.4 ms a
// MiB), and up to the pool's size (nbufs × chunk) without waiting for the
// image writer.
func (d *dumper) readCheaper() bool {
	const clonePageNS, readMiBNS = 115, 400_000
	return d.privateBytes <= nbufs*chunk && d.privateBytes>>20*readMiBNS < d.presentBytes/4096*clonePageNS
}

// runsBytes is the size of runs.
func runsBytes(runs []procfs.PageRange) uint64 {
	var n uint64
	for _, r := range runs {
		n += r.End - r.Start
	}
	return n
}

// flushPrivate saves the private runs savePages set aside: from a snapshot
// child after the thaw when there are snapshotMin bytes or more, dense
// enough (and the clone succeeds), else now, from the frozen process.
func (d *dumper) flushPrivate(nspid int, mem *ptrace.Mem) error {
	if len(d.private) == 0 {
		return nil
	}
	if d.privateBytes >= snapshotMin && dense(d.private) {
		if d.readCheaper() {
			slog.Debug("checkpoint: private pages read in the pause: a snapshot would copy the page tables of all the process's memory",
				"pid", d.pid, "read", d.privateBytes, "present", d.presentBytes)
		} else if d.snap = d.takeSnapshot(nspid); d.snap != nil {
			d.snap.runs = d.private
			d.private = nil
			return nil
		}
	}
	if d.cloned {
		for i := range d.private {
			d.private[i].pin = false // a child shares them now
		}
	}
	if err := d.t.readPaused(mem, d.pid, nspid, d.private); err != nil {
		return err
	}
	d.memBytes += d.privateBytes
	d.private = nil
	return nil
}

// pageBuf holds the nbufs chunk-sized buffers pages are read through, kept
// for the supervisor's life: their pages are faulted in once (on this VM a
// fresh page costs 30-60 µs, 0.25-0.5 s for 32 MiB, which new buffers per
// checkpoint paid in the pause or, with a snapshot, in the app's
// copy-on-write faults while the drain waits). They go round: one is read
// into while the image writer checksums, compresses and writes the others
// (AddPagesAsync gives each back when it is done with it). Checkpoints of
// one supervisor do not overlap; the mutex makes sure.
var pageBuf struct {
	sync.Mutex
	bufs [][]byte
}

// warmPageBuf makes pageBuf's buffers and faults their pages in, before the
// freeze: once by crrun's own stores, and once by the kernel, a read of
// /dev/zero into them. On this VM the kernel's first copy into a page of a
// process (copy_to_user: process_vm_readv, read of /proc/PID/mem) costs
// 5-8 µs even when the process has written the page itself, every later
// one ~0.5 µs (measured: 16 MiB read as 4,096 one-page runs into a buffer
// its owner had memset, 28 ms; into one a read of /dev/zero had filled,
// 3.2 ms; 1 MiB: 1.3 → 0.27 ms): without the second pass the first
// checkpoint of a supervisor paid it in the pause, for every page it read
// there. The kernel's copy is what the page reads do, so the second pass
// warms what they need, whatever the cause. A supervisor warms them once
// the app runs (WarmBuffers), so that its first checkpoint does not pay
// it either (~0.1-0.15 s here for the 32 MiB).
func warmPageBuf() {
	pageBuf.Lock()
	defer pageBuf.Unlock()
	for len(pageBuf.bufs) < nbufs {
		b := make([]byte, chunk)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		kernelTouch(b)
		pageBuf.bufs = append(pageBuf.bufs, b)
	}
}

// WarmBuffers prepares the checkpoint's page buffers ahead of the first
// checkpoint (a supervisor calls it, in the background, once the app is
// started with a checkpoint directory). Dump waits for it if it is still
// running.
func WarmBuffers() { warmPageBuf() }

// kernelTouch has the kernel write every page of b (a read of /dev/zero):
// see warmPageBuf. Best effort: without /dev/zero, b is only slower to
// read into the first time.
func kernelTouch(b []byte) {
	fd, err := unix.Open("/dev/zero", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	for len(b) > 0 {
		n, err := unix.Read(fd, b[:min(len(b), 1<<20)])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return
		}
		b = b[n:]
	}
}

// buffers returns pageBuf's buffers as a pool to take from and give back
// to, locked until releaseBuffer.
func (t *tree) buffers() chan []byte {
	if t.pool == nil {
		pageBuf.Lock()
		for len(pageBuf.bufs) < nbufs {
			pageBuf.bufs = append(pageBuf.bufs, make([]byte, chunk))
		}
		t.pool = make(chan []byte, nbufs)
		for _, b := range pageBuf.bufs {
			t.pool <- b
		}
	}
	return t.pool
}

// releaseBuffer waits until the image writer has given every buffer back,
// then gives pageBuf back.
func (t *tree) releaseBuffer() {
	if t.pool != nil {
		t.dropPaused()
		for range nbufs {
			<-t.pool
		}
		t.pool = nil
		pageBuf.Unlock()
	}
}

// vmaRefusals names every mapping of pid whose smaps shows state restore
// does not reproduce (image.VMFlagRefusal), or a memory protection key.
func vmaRefusals(pid int, maps []procfs.SmapsEntry, tracked bool) []seccomp.Finding {
	var out []seccomp.Finding
	for i := range maps {
		m := &maps[i]
		switch vmaKind(m) {
		case image.VMAVDSO, image.VMAVVar, image.VMAVVarVClock, image.VMAVSyscall:
			continue // the kernel's own
		}
		var why []string
		for _, f := range m.VmFlags.List() {
			if f == "uw" && tracked {
				continue // crrun's own dirty tracking (dirty.go)
			}
			if r := image.VMFlagRefusal(f); r != "" {
				why = append(why, r)
			}
		}
		if m.ProtectionKey != 0 {
			why = append(why, fmt.Sprintf("memory protection key %d (pkey_mprotect) not supported yet", m.ProtectionKey))
		}
		if len(why) > 0 {
			out = append(out, seccomp.Finding{Pid: pid, Kind: "mapping", Fd: -1,
				Reason: fmt.Sprintf("CR: pid %d: mapping %#x-%#x %s %q: %s", pid, m.Start, m.End, m.Perms, m.Path, strings.Join(why, "; "))})
		}
	}
	return out
}

// saveBlob copies the file at path into the image as blob name.
func saveBlob(w *image.Writer, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw, err := w.CreateBlob(name)
	if err != nil {
		return err
	}
	if _, err := io.Copy(bw, f); err != nil {
		bw.Close()
		return err
	}
	return bw.Close()
}

// memfdState completes a memfd's state from an fd of crrun's on it
// (mine): seals, mode and owner; a memfd on hugetlbfs (MFD_HUGETLB) is
// refused, restore makes shmem ones only.
func (d *dumper) memfdState(mine int, name string, st *unix.Stat_t) (*image.Memfd, error) {
	var sf unix.Statfs_t
	if err := unix.Fstatfs(mine, &sf); err != nil {
		return nil, fmt.Errorf("fstatfs: %w", err)
	}
	if sf.Type == unix.HUGETLBFS_MAGIC {
		return nil, &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: d.pid, Kind: "memfd", Fd: -1,
			Reason: memfdHugetlbReason(d.pid, name)}}}
	}
	seals, err := unix.FcntlInt(uintptr(mine), unix.F_GET_SEALS, 0)
	if err != nil {
		seals = unix.F_SEAL_SEAL // not created with MFD_ALLOW_SEALING: sealed against seals
	}
	d.w.RequireFeature("memfd-state")
	return &image.Memfd{Name: name, Seals: seals, Size: st.Size, Mode: image.Octal(st.Mode), UID: st.Uid, GID: st.Gid}, nil
}

// mappedMemfd describes the memfd mapped from path (map_files, or an fd of
// the app on it).
func (d *dumper) mappedMemfd(path, name string, st *unix.Stat_t) (*image.Memfd, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the memfd: %w", err)
	}
	defer unix.Close(fd)
	return d.memfdState(fd, name, st)
}

// guards records the guard pages of v (pagemap bit 58) in v.Guards and
// returns save without them. Only private mappings: a guard region of a
// shared one is refused.
func (d *dumper) guards(v *image.VMA, pm *procfs.Pagemap, save []procfs.PageRange) ([]procfs.PageRange, error) {
	where := fmt.Sprintf("pid %d: mapping %#x-%#x %q", d.pid, uint64(v.Start), uint64(v.End), v.Path)
	if v.Shared {
		return nil, &NotCheckpointableError{Findings: []seccomp.Finding{{Pid: d.pid, Kind: "mapping", Fd: -1,
			Reason: fmt.Sprintf("CR: %s: guard regions (MADV_GUARD_INSTALL) in a shared mapping not supported yet", where)}}}
	}
	ents, err := pm.Entries(uint64(v.Start), uint64(v.End))
	if err != nil {
		return nil, fmt.Errorf("%s: pagemap: %w", where, err)
	}
	page := pm.PageSize()
	isGuard := func(a uint64) bool { return ents[(a-uint64(v.Start))/page].Guard() }
	for i, e := range ents {
		if !e.Guard() {
			continue
		}
		a := uint64(v.Start) + uint64(i)*page
		if n := len(v.Guards); n > 0 && uint64(v.Guards[n-1].End) == a {
			v.Guards[n-1].End = image.Hex(a + page)
		} else {
			v.Guards = append(v.Guards, image.Span{Start: image.Hex(a), End: image.Hex(a + page)})
		}
	}
	var out []procfs.PageRange
	for _, r := range save {
		for a := r.Start; a < r.End; a += page {
			if isGuard(a) {
				continue
			}
			if n := len(out); n > 0 && out[n-1].End == a {
				out[n-1].End = a + page
			} else {
				out = append(out, procfs.PageRange{Start: a, End: a + page})
			}
		}
	}
	return out, nil
}

// tmpfsMagic is TMPFS_MAGIC (statfs f_type).
const tmpfsMagic = 0x01021994

// onTmpfs reports whether the file at path is on a tmpfs.
func onTmpfs(path string) bool {
	var fs unix.Statfs_t
	return unix.Statfs(path, &fs) == nil && fs.Type == tmpfsMagic
}

// ksmRefusal is why process pid is refused for KSM ("" if it is not):
// prctl(PR_SET_MEMORY_MERGE) makes every mapping, present and future,
// mergeable; restore marks the present ones (mg) but cannot set the
// process's flag (it needs CAP_SYS_RESOURCE). The gate and the dump.
func ksmRefusal(pid int) string {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/ksm_stat", pid)); err == nil && strings.Contains(string(b), "ksm_merge_any: yes") {
		return fmt.Sprintf("CR: pid %d: KSM for the whole process (prctl PR_SET_MEMORY_MERGE) not supported yet", pid)
	}
	return ""
}

// memfdHugetlbReason refuses a memfd on hugetlbfs (MFD_HUGETLB): restore
// makes shmem ones only. The gate (an fd on one) and the dump.
func memfdHugetlbReason(pid int, name string) string {
	return fmt.Sprintf("CR: pid %d: memfd %q is on hugetlbfs (MFD_HUGETLB): hugetlb memory not supported yet", pid, name)
}

// memfdHugetlb is the gate's finding for memfd fd of process pid ("" if
// it is a shmem one).
func memfdHugetlb(pid, fd int) string {
	link := fmt.Sprintf("/proc/%d/fd/%d", pid, fd)
	var sf unix.Statfs_t
	if unix.Statfs(link, &sf) != nil || sf.Type != unix.HUGETLBFS_MAGIC {
		return ""
	}
	target, _ := os.Readlink(link)
	return memfdHugetlbReason(pid, strings.TrimSuffix(strings.TrimPrefix(target, "/memfd:"), " (deleted)"))
}
