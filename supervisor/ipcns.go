package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/crrun/crrun/checkpoint"
	"github.com/crrun/crrun/image"
	"github.com/crrun/crrun/internal/procfs"
	"github.com/crrun/crrun/internal/ptrace"
	"github.com/crrun/crrun/internal/sysvipc"
	"github.com/crrun/crrun/inventory"
	"github.com/crrun/crrun/restore"
	"github.com/crrun/crrun/seccomp"

	"golang.org/x/sys/unix"
)

// The app's IPC namespace (docs/design.md, "IPC"). By default the init is
// cloned into a new one, so the app's SysV objects are its own and crrun's
// init, which lives in it, can read them at a checkpoint and create them
// again at a restore (package sysvipc), asked over its fd 5. --ipc=host
// keeps the host's, where SysV objects stay NOCR.

// initIPCFd is the init's end of the IPC request socket.
const initIPCFd = 5

// hostIPC says whether the app shares the host's IPC namespace: --ipc=host,
// or, at restore, what the image records (images of older crruns: host).
func (s *Supervisor) hostIPC() bool {
	if s.plan != nil {
		m := s.plan.img.Meta()
		return m.IPC == nil || m.IPC.Mode != image.IPCPrivate
	}
	return s.cfg.HostIPC
}

// ipcNS gives the init (and so the app) an IPC namespace of its own unless
// host.
func ipcNS(a *syscall.SysProcAttr, host bool) {
	if !host {
		a.Cloneflags |= unix.CLONE_NEWIPC
	}
}

// ipcRequest and ipcReply travel through a memfd passed with the request
// (a message's size is unbounded: queued texts).
type ipcRequest struct {
	IPC   *image.IPC     `json:"ipc,omitempty"`
	Texts map[int][]byte `json:"texts,omitempty"`
	// MqTexts: POSIX queues' texts by name.
	MqTexts map[string][]byte `json:"mq_texts,omitempty"`
	// SemIDs: the sets a "sems" request reads.
	SemIDs []int `json:"sem_ids,omitempty"`
}

// IPC request ops.
const (
	ipcTake   = "take"   // read the namespace; segments stay attached
	ipcHash   = "hash"   // read the namespace; nothing stays attached
	ipcCreate = "create" // recreate Request.IPC; segments stay attached
	ipcDetach = "detach" // detach what take or create attached
	ipcSems   = "sems"   // read the values of Request.SemIDs (and whether a task waits on them)
)

// ipcClient is the supervisor's end of the init's IPC socket.
type ipcClient struct {
	mu sync.Mutex
	fd int
}

func (c *ipcClient) call(op string, req *ipcRequest, reply *sysvipc.Dump) error {
	if c == nil {
		return errors.New("no IPC channel to crrun's init")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	mfd, err := unix.MemfdCreate("crrun-ipc", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("memfd: %w", err)
	}
	f := os.NewFile(uintptr(mfd), "crrun-ipc")
	defer f.Close()
	if req != nil {
		if err := json.NewEncoder(f).Encode(req); err != nil {
			return err
		}
	}
	if err := unix.Sendmsg(c.fd, []byte(op), unix.UnixRights(mfd), nil, 0); err != nil {
		return fmt.Errorf("send %s to the init: %w", op, err)
	}
	pfd := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 120_000); err != nil || n == 0 {
		return fmt.Errorf("no answer to %s from the init (%v)", op, err)
	}
	buf := make([]byte, 4096)
	n, _, _, _, err := unix.Recvmsg(c.fd, buf, nil, 0)
	if err != nil || n == 0 {
		return fmt.Errorf("no answer to %s from the init (%v)", op, err)
	}
	if ans := string(buf[:n]); ans != "ok" {
		return errors.New(strings.TrimPrefix(ans, "error: "))
	}
	if reply == nil {
		return nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return json.NewDecoder(f).Decode(reply)
}

// serveIPC answers the supervisor's IPC requests in the init, inside the
// app's IPC namespace. It never returns.
func serveIPC(fd int) {
	var attached map[int]uint64
	buf := make([]byte, 64)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return // the supervisor is gone
		}
		op := string(buf[:n])
		var mfd = -1
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) == 1 {
			if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) == 1 {
				mfd = fds[0]
			}
		}
		answer := func(err error) {
			msg := "ok"
			if err != nil {
				msg = "error: " + err.Error()
			}
			_ = unix.Sendmsg(fd, []byte(msg), nil, nil, 0)
		}
		if mfd < 0 {
			answer(errors.New("no memfd with the request"))
			continue
		}
		f := os.NewFile(uintptr(mfd), "ipc-request")
		err = func() error {
			var req ipcRequest
			if st, _ := f.Stat(); st != nil && st.Size() > 0 {
				// One open file description with the supervisor's:
				// its offset is past what it wrote.
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					return err
				}
				if err := json.NewDecoder(f).Decode(&req); err != nil {
					return fmt.Errorf("request: %w", err)
				}
			}
			var reply *sysvipc.Dump
			switch op {
			case ipcTake, ipcHash:
				sysvipc.Detach(attached)
				attached = nil
				d, err := sysvipc.Take(op == ipcTake)
				if err != nil {
					return err
				}
				attached, reply = d.Addrs, d
			case ipcCreate:
				if req.IPC == nil {
					return errors.New("create: nothing to create")
				}
				addrs, err := sysvipc.Create(req.IPC, req.Texts, req.MqTexts)
				if err != nil {
					return err
				}
				attached, reply = addrs, &sysvipc.Dump{Addrs: addrs}
			case ipcDetach:
				sysvipc.Detach(attached)
				attached = nil
				return nil
			case ipcSems:
				sems, err := sysvipc.SemStates(req.SemIDs)
				if err != nil {
					return err
				}
				reply = &sysvipc.Dump{Sems: sems}
			default:
				return fmt.Errorf("unknown request %q", op)
			}
			if err := f.Truncate(0); err != nil {
				return err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			return json.NewEncoder(f).Encode(reply)
		}()
		f.Close()
		answer(err)
	}
}

// dumpIPC saves the app's IPC namespace into w, the app frozen: each
// segment's bytes (read from the init's attachment through its memory)
// and each queue's texts as blobs.
func (s *Supervisor) dumpIPC(w *image.Writer) (*image.IPC, uint64, error) {
	var total uint64
	if s.hostIPC() {
		return &image.IPC{Mode: image.IPCHost}, 0, nil
	}
	d, memPid, release, err := s.takeIPC()
	if err != nil {
		return nil, 0, fmt.Errorf("read the app's SysV IPC objects: %w", err)
	}
	defer release()
	if len(d.Refused) > 0 {
		var f []seccomp.Finding
		for _, r := range d.Refused {
			f = append(f, seccomp.Finding{Pid: s.initPid, Kind: "sysv_shm", Fd: -1, Reason: r})
		}
		return nil, 0, &checkpoint.NotCheckpointableError{Findings: f}
	}
	w.RequireFeature("ipc-private")
	if len(d.IPC.Shm) > 0 {
		mem := ptrace.OpenMem(memPid)
		defer mem.Close()
		buf := make([]byte, 8<<20)
		for _, seg := range d.IPC.Shm {
			addr, ok := d.Addrs[seg.ID]
			if !ok {
				return nil, 0, fmt.Errorf("segment %d was not attached by the init", seg.ID)
			}
			b, err := w.CreateBlob(seg.Blob)
			if err != nil {
				return nil, 0, err
			}
			for off := uint64(0); off < seg.Size; {
				n := min(seg.Size-off, uint64(len(buf)))
				if err := mem.ReadUnpinned(uintptr(addr+off), buf[:n]); err != nil {
					b.Close()
					return nil, 0, fmt.Errorf("read SysV segment %d at %d: %w", seg.ID, off, err)
				}
				if _, err := b.Write(buf[:n]); err != nil {
					b.Close()
					return nil, 0, err
				}
				off += n
				total += n
			}
			if err := b.Close(); err != nil {
				return nil, 0, err
			}
		}
	}
	// A queue's message texts, back to back, in one blob.
	texts := func(name string, data []byte) error {
		if name == "" {
			return nil
		}
		b, err := w.CreateBlob(name)
		if err != nil {
			return err
		}
		total += uint64(len(data))
		if _, err := b.Write(data); err != nil {
			b.Close()
			return err
		}
		return b.Close()
	}
	for _, q := range d.IPC.Msg {
		if err := texts(q.Blob, d.Texts[q.ID]); err != nil {
			return nil, 0, err
		}
	}
	for _, q := range d.IPC.Mqueues {
		if err := texts(q.Blob, d.MqTexts[q.Name]); err != nil {
			return nil, 0, err
		}
	}
	return d.IPC, total, nil
}

// takeIPC reads the app's IPC namespace, its segments left attached, for
// reading at d.Addrs, in the memory of pid until release. As root the
// supervisor reads it itself, from a thread it moves into the namespace:
// it needs nothing of crrun's init, which may be stopped (a SIGSTOP from
// outside: a Slurm suspend, a test). An ordinary user cannot enter it
// (setns needs CAP_SYS_ADMIN over the caller's own user namespace too):
// the init reads it.
func (s *Supervisor) takeIPC() (d *sysvipc.Dump, pid int, release func(), err error) {
	if os.Geteuid() == 0 {
		d, err := inIPCNS(s.initPid, func() (*sysvipc.Dump, error) { return sysvipc.Take(true) })
		if err != nil {
			return nil, 0, nil, err
		}
		return d, os.Getpid(), func() { sysvipc.Detach(d.Addrs) }, nil
	}
	if st, err := procfs.Stat(s.initPid); err == nil && st.State == 'T' {
		return nil, 0, nil, fmt.Errorf("crrun's init (pid %d), which reads them for an ordinary user, is stopped: continue it (kill -CONT %d) and checkpoint again", s.initPid, s.initPid)
	}
	d = &sysvipc.Dump{}
	if err := s.ipc.call(ipcTake, nil, d); err != nil {
		return nil, 0, nil, err
	}
	return d, s.initPid, func() {
		if err := s.ipc.call(ipcDetach, nil, nil); err != nil {
			slog.Warn("checkpoint: detach the init from the app's SysV segments", "err", err)
		}
	}, nil
}

// semStates reads the app's semaphore sets ids (checkpoint/semundo.go),
// the app frozen: as root from a thread in the namespace, otherwise
// through crrun's init, as takeIPC.
func (s *Supervisor) semStates(ids []int) (map[int]sysvipc.SemState, error) {
	if os.Geteuid() == 0 {
		d, err := inIPCNS(s.initPid, func() (*sysvipc.Dump, error) {
			sems, err := sysvipc.SemStates(ids)
			return &sysvipc.Dump{Sems: sems}, err
		})
		if err != nil {
			return nil, err
		}
		return d.Sems, nil
	}
	if st, err := procfs.Stat(s.initPid); err == nil && st.State == 'T' {
		return nil, fmt.Errorf("crrun's init (pid %d), which reads them for an ordinary user, is stopped: continue it (kill -CONT %d) and checkpoint again", s.initPid, s.initPid)
	}
	d := &sysvipc.Dump{}
	if err := s.ipc.call(ipcSems, &ipcRequest{SemIDs: ids}, d); err != nil {
		return nil, err
	}
	return d.Sems, nil
}

// inIPCNS runs f on a thread in the IPC namespace of pid (root only). The
// thread is never handed back: it ends with its goroutine.
func inIPCNS(pid int, f func() (*sysvipc.Dump, error)) (*sysvipc.Dump, error) {
	type result struct {
		d   *sysvipc.Dump
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the runtime drops the thread
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/ipc", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{err: err}
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWIPC)
		unix.Close(fd)
		if err != nil {
			ch <- result{err: fmt.Errorf("enter the app's IPC namespace: %w", err)}
			return
		}
		d, err := f()
		ch <- result{d, err}
	}()
	r := <-ch
	return r.d, r.err
}

// createIPC recreates the image's SysV objects in the restored app's new
// IPC namespace, before any process is rebuilt (their shmat needs the
// segments); the init stays attached until verifyIPC.
func (s *Supervisor) createIPC() error {
	m := s.plan.img.Meta()
	if s.hostIPC() {
		return nil
	}
	req := &ipcRequest{IPC: m.IPC, Texts: map[int][]byte{}, MqTexts: map[string][]byte{}}
	// A queue's message texts, back to back in one blob.
	texts := func(name string) ([]byte, error) {
		b, err := s.plan.img.OpenBlob(name)
		if err != nil {
			return nil, err
		}
		defer b.Close()
		t, err := io.ReadAll(b)
		if err != nil {
			return nil, fmt.Errorf("blob %s: %w", name, err)
		}
		return t, nil
	}
	for _, q := range m.IPC.Mqueues {
		if q.Blob != "" {
			t, err := texts(q.Blob)
			if err != nil {
				return err
			}
			req.MqTexts[q.Name] = t
		}
	}
	for _, q := range m.IPC.Msg {
		if q.Blob != "" {
			t, err := texts(q.Blob)
			if err != nil {
				return err
			}
			req.Texts[q.ID] = t
		}
	}
	var d sysvipc.Dump
	if err := s.ipc.call(ipcCreate, req, &d); err != nil {
		return fmt.Errorf("recreate the app's SysV IPC objects: %w", err)
	}
	s.ipcAddrs = d.Addrs
	mem := ptrace.OpenMem(s.initPid)
	defer mem.Close()
	buf := make([]byte, 8<<20)
	for _, seg := range m.IPC.Shm {
		addr, ok := d.Addrs[seg.ID]
		if !ok {
			return fmt.Errorf("SysV segment %d was not attached by the init", seg.ID)
		}
		b, err := s.plan.img.OpenBlob(seg.Blob)
		if err != nil {
			return err
		}
		for off := uint64(0); off < seg.Size; {
			n, err := io.ReadFull(b, buf[:min(seg.Size-off, uint64(len(buf)))])
			if err != nil {
				b.Close()
				return fmt.Errorf("blob %s at %d: %w", seg.Blob, off, err)
			}
			if err := mem.Write(uintptr(addr+off), buf[:n]); err != nil {
				b.Close()
				return fmt.Errorf("fill SysV segment %d at %d: %w", seg.ID, off, err)
			}
			off += uint64(n)
		}
		b.Close()
	}
	return nil
}

// verifyIPC lets go of the segments and compares the restored namespace
// with the image (inventory.IPCFields), before the app runs.
func (s *Supervisor) verifyIPC() error {
	m := s.plan.img.Meta()
	if s.hostIPC() {
		return nil
	}
	if os.Getenv(restore.TestBreakEnv) == "sysv" && len(m.IPC.Shm) > 0 {
		// Tests: change the first byte of the first segment, which the
		// verification must then refuse.
		mem := ptrace.OpenMem(s.initPid)
		b := make([]byte, 1)
		a := uintptr(s.ipcAddrs[m.IPC.Shm[0].ID])
		err := mem.Read(a, b)
		if err == nil {
			b[0] ^= 0xff
			err = mem.Write(a, b)
		}
		mem.Close()
		if err != nil {
			return fmt.Errorf("%s=sysv: %w", restore.TestBreakEnv, err)
		}
		slog.Warn("restore: " + restore.TestBreakEnv + "=sysv: changing a byte of the first SysV segment, for a test")
	}
	if err := s.ipc.call(ipcDetach, nil, nil); err != nil {
		return fmt.Errorf("detach the init from the app's SysV segments: %w", err)
	}
	var d sysvipc.Dump
	if err := s.ipc.call(ipcHash, nil, &d); err != nil {
		return fmt.Errorf("read the restored SysV IPC objects back: %w", err)
	}
	if err := s.ipc.call(ipcDetach, nil, nil); err != nil {
		return err
	}
	if bad := inventory.Compare(0, inventory.IPCFields(m.IPC), inventory.IPCFields(d.IPC)); len(bad) > 0 {
		return &inventory.Error{Mismatches: bad}
	}
	return nil
}
