package restore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"crrun/image"
	"crrun/internal/procfs"
	"crrun/internal/ptrace"

	"golang.org/x/sys/unix"
)

// Request says what to restore into which stub.
type Request struct {
	Tracer *ptrace.Tracer
	// Stub is the host pid of a process that exec'd the app's executable and
	// is stopped under Tracer at its PTRACE_EVENT_EXEC stop (seized with
	// TraceClone|TraceFork|TraceExec), before any instruction of the new
	// image ran. Its parent is crrun's init; its stdio is the restorer's.
	Stub  int
	Image *image.Reader
	Proc  *image.Process
	// BPF is the NOCR filter, installed in every thread with a new listener.
	BPF []byte
	// TempDir holds files that must be recreated (deleted files' content);
	// they are unlinked once the app has them open or mapped.
	TempDir string
}

// Result is the restored process, still stopped under the tracer until
// Release.
type Result struct {
	Pid      int   // host pid
	Tids     []int // host tids, main first
	Listener int   // the seccomp listener, an fd of the caller's process
}

// scratch is the restorer's working area in the tracee: code (syscall; int3)
// at its start, then data. It lies where the image has no mapping.
const scratchSize = 1 << 20

type restorer struct {
	tr      *ptrace.Tracer
	req     Request
	p       *image.Process
	pid     int // host pid of the restored process
	scratch uint64
	off     uint64 // bump allocator in the scratch data area
	tids    map[int]int
	cleanup []func()
}

// Process restores req.Proc. On failure everything it created is killed.
func Process(req Request) (res *Result, err error) {
	r := &restorer{tr: req.Tracer, req: req, p: req.Proc, tids: map[int]int{}}
	defer func() {
		for _, f := range r.cleanup {
			f()
		}
		if err != nil && r.pid != 0 {
			_ = unix.Kill(r.pid, unix.SIGKILL)
		}
	}()
	t0 := time.Now()
	if err := r.fork(); err != nil {
		return nil, err
	}
	slog.Debug("restore step", "step", "fork", "took", time.Since(t0))
	steps := []struct {
		name string
		f    func() error
	}{
		{"memory", r.memory},
		{"mm", r.mm},
		{"threads", r.threads},
		{"process state", r.processState},
		{"files", r.files},
		{"thread state", r.threadState},
	}
	for _, s := range steps {
		t := time.Now()
		if err := s.f(); err != nil {
			return nil, fmt.Errorf("restore pid %d: %s: %w", r.p.PID, s.name, err)
		}
		slog.Debug("restore step", "step", s.name, "took", time.Since(t))
	}
	lst, err := r.seccomp()
	if err != nil {
		return nil, fmt.Errorf("restore pid %d: seccomp filter: %w", r.p.PID, err)
	}
	if err := r.pending(); err != nil {
		unix.Close(lst)
		return nil, fmt.Errorf("restore pid %d: pending signals: %w", r.p.PID, err)
	}
	if err := r.creds(); err != nil {
		unix.Close(lst)
		return nil, fmt.Errorf("restore pid %d: credentials: %w", r.p.PID, err)
	}
	if _, err := r.inj(r.pid, "munmap(scratch)", unix.SYS_MUNMAP, r.scratch, scratchSize); err != nil {
		unix.Close(lst)
		return nil, err
	}
	res = &Result{Pid: r.pid, Listener: lst}
	for _, th := range r.p.Threads {
		res.Tids = append(res.Tids, r.tids[th.TID])
	}
	return res, nil
}

// Release lets the restored threads run.
func Release(tr *ptrace.Tracer, res *Result) error {
	var errs []error
	for _, tid := range res.Tids {
		if err := tr.Detach(tid, 0); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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
	r.off = (r.off + 15) &^ 15
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

func (r *restorer) reset() { r.off = 64 }

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

// fork creates the process with its saved pid from the stub: clone3 with
// set_tid and CLONE_PARENT (so its parent is crrun's init, like the
// original's), into a copy of the stub's address space whose /proc/PID/exe is
// already the app's executable.
func (r *restorer) fork() error {
	stub := r.req.Stub
	if _, err := r.tr.Interrupt(stub); err != nil { // from the exec event to the boundary
		return fmt.Errorf("stub %d: %w", stub, err)
	}
	// Scratch in the stub, inherited by the child at the same address.
	var err error
	for _, a := range freeAddrs(r.p.Memory, scratchSize) {
		ret, e := r.tr.Inject(stub, unix.SYS_MMAP, a, scratchSize, unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, ^uint64(0), 0)
		if e == nil && uint64(ret) == a {
			r.scratch = a
			break
		}
		err = e
	}
	if r.scratch == 0 {
		return fmt.Errorf("no room for the scratch area in the stub: %v", err)
	}
	if err := ptrace.WriteMem(stub, uintptr(r.scratch), ptrace.ScratchCode); err != nil {
		return err
	}
	if err := r.tr.SetSyscallInsn(stub, uintptr(r.scratch)); err != nil {
		return err
	}
	r.pid = stub // put() writes into the stub until the child exists
	host, err := r.cloneWithTid(stub, "pid", r.p.PID, unix.CLONE_PARENT)
	r.pid = host
	if err != nil {
		return err
	}
	r.tids[r.p.PID] = r.pid
	// The stub has served.
	_ = r.tr.Detach(stub, unix.SIGKILL)
	if err := r.tr.SetSyscallInsn(r.pid, uintptr(r.scratch)); err != nil {
		return err
	}
	slog.Debug("restore: process recreated", "pid", r.p.PID, "host_pid", r.pid)
	return nil
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
