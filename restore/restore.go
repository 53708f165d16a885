package restore

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"

	"golang.org/x/sys/unix"
)

// scratch is the restorer's working area in the tracee: code (syscall; int3)
// at its start, the batch loop at batchCodeOff, then data from scratchDataOff. It lies where the image has no mapping.
const scratchSize = 1 << 20

// restorer rebuilds one process of the tree.
type restorer struct {
	t       *treeRestorer
	tr      *ptrace.Tracer
	p       *image.Process
	pid     int // host pid of the restored process
	scratch uint64
	off     uint64 // bump allocator in the scratch data area
	tids    map[int]int
	mapFds  map[string]uint64 // files opened for mapping, by mode and path
	memDone bool              // memory rebuilt before its children were cloned (cow.go)
	filling chan error        // the page fill startFill started, until memoryDone
}

// restore gives the process (cloned blank, with every parked fd) its own
// state: fds, memory, threads and their state.
func (r *restorer) restore() error {
	steps := []struct {
		name string
		f    func() error
	}{
		{"files", r.placeFiles},
		{"memory", r.memory},
		{"mm", r.mm},
		{"threads", r.fillAndThreads},
		{"memory fill", r.memoryDone},
		{"process state", r.processState},
		{"thread state", r.threadState},
		{"attributes", r.attrs},
		{"close parked fds", r.closeParked},
	}
	defer func() { _ = r.waitFill() }() // a step failed while the pages were written
	for _, s := range steps {
		t := time.Now()
		if err := s.f(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		slog.Debug("restore step", "pid", r.p.PID, "step", s.name, "took", time.Since(t))
	}
	return nil
}

// finish queues the pending signals and sets the credentials: the last
// steps, after the zombies' exits. The verification follows, then
// unmapScratch.
func (r *restorer) finish() error {
	if err := r.pending(); err != nil {
		return fmt.Errorf("pending signals: %w", err)
	}
	if err := r.creds(); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if err := r.owners(); err != nil {
		return fmt.Errorf("fd owners: %w", err)
	}
	if err := r.seccompFilters(); err != nil {
		return fmt.Errorf("the app's seccomp filters: %w", err)
	}
	return nil
}

// unmapScratch removes the restorer's scratch area: after it, nothing can
// be injected any more.
func (r *restorer) unmapScratch() error {
	if err := r.dumpable(); err != nil {
		return err
	}
	_, err := r.inj(r.pid, "munmap(scratch)", unix.SYS_MUNMAP, r.scratch, scratchSize)
	return err
}

func (r *restorer) inj(tid int, name string, nr int, args ...uint64) (uint64, error) {
	ret, err := r.tr.Inject(tid, nr, args...)
	if err != nil {
		return 0, fmt.Errorf("injected %s in thread %d: %w", name, tid, err)
	}
	return uint64(ret), nil
}

// put copies b into the scratch data area and returns its address.
func (r *restorer) put(b []byte) (uint64, error) {
	r.off = (max(r.off, scratchDataOff) + 15) &^ 15
	if r.off+uint64(len(b)) > scratchSize {
		return 0, fmt.Errorf("scratch area full (%d bytes wanted)", len(b))
	}
	addr := r.scratch + r.off
	if err := ptrace.WriteMem(r.pid, uintptr(addr), b); err != nil {
		return 0, fmt.Errorf("write scratch area: %w", err)
	}
	r.off += uint64(len(b))
	return addr, nil
}

func (r *restorer) putString(s string) (uint64, error) { return r.put(append([]byte(s), 0)) }

func (r *restorer) reset() { r.off = scratchDataOff }

func le64(vs ...uint64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b
}

// freeAddr finds an address for n bytes that no saved mapping uses, trying
// holes from 4 GiB up; mmap with MAP_FIXED_NOREPLACE then checks the live
// process.
func freeAddrs(mem []image.VMA, n uint64) []uint64 {
	var out []uint64
	for a := uint64(1) << 32; a < 1<<46 && len(out) < 64; a += 1 << 30 {
		clash := false
		for _, v := range mem {
			if a < uint64(v.End)+4096 && uint64(v.Start) < a+n+4096 {
				clash = true
				break
			}
		}
		if !clash {
			out = append(out, a)
		}
	}
	return out
}

// currentMaps lists the live mappings of the restored process.
func (r *restorer) currentMaps() ([]procfs.Mapping, error) {
	m, err := procfs.Maps(r.pid)
	if err != nil {
		return nil, err
	}
	sort.Slice(m, func(i, j int) bool { return m[i].Start < m[j].Start })
	return m, nil
}
