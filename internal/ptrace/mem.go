package ptrace

import (
	"fmt"
	"math"
	"os"

	"golang.org/x/sys/unix"
)

// Memory access to another process. Neither path needs the tracer thread or
// even a ptrace attachment: both check PTRACE_MODE_ATTACH_FSCREDS against the
// caller's credentials. pid may be any tid of the process; a zombie thread has
// no mm any more (ESRCH), so when the leader of a process has exited, use a
// live thread's tid.
//
// process_vm_readv/writev is the fast path (DESIGN: ~1.5 GiB/s against
// ~0.7 GiB/s for /proc/PID/mem). It honours page protections: it stops at a
// PROT_NONE page, and writev stops at a read-only one (EFAULT, or a short
// count). /proc/PID/mem goes through access_remote_vm with FOLL_FORCE, which
// reads PROT_NONE pages (of a VM_MAYREAD mapping) and writes read-only private
// ones by breaking COW, as a debugger does. Verified by the tests on 6.18:
// process_vm_readv of a PROT_NONE page fails with EFAULT, /proc/PID/mem reads
// it; a PROT_READ private page is written through /proc/PID/mem.

// Mem reads and writes the memory of one process, keeping /proc/PID/mem open
// once it has been needed. Not safe for concurrent use.
type Mem struct {
	pid  int
	file *os.File
	wr   bool
}

// OpenMem returns a Mem for pid. Nothing is opened until needed.
func OpenMem(pid int) *Mem { return &Mem{pid: pid} }

// Close closes /proc/PID/mem if it was opened.
func (m *Mem) Close() error {
	if m.file == nil {
		return nil
	}
	err := m.file.Close()
	m.file = nil
	return err
}

// Read fills buf from addr: process_vm_readv first, /proc/PID/mem for what it
// could not read. Either all of buf is read or an error says where it stopped.
func (m *Mem) Read(addr uintptr, buf []byte) error {
	done := vmTransfer(m.pid, addr, buf, false)
	if done == len(buf) {
		return nil
	}
	return m.procMem(addr+uintptr(done), buf[done:], false)
}

// ReadUnpinned fills buf from addr through /proc/PID/mem only. Unlike
// process_vm_readv, which pins the pages it reads (FOLL_PIN) and so makes
// the kernel unshare every anonymous page shared copy-on-write with another
// process (a forked child, a KSM page) by copying it, /proc/PID/mem only
// takes references: reading a process does not change its memory use.
func (m *Mem) ReadUnpinned(addr uintptr, buf []byte) error {
	return m.procMem(addr, buf, false)
}

// Write copies data to addr: process_vm_writev first, /proc/PID/mem for what
// it could not write (read-only and PROT_NONE pages).
func (m *Mem) Write(addr uintptr, data []byte) error {
	done := vmTransfer(m.pid, addr, data, true)
	if done == len(data) {
		return nil
	}
	return m.procMem(addr+uintptr(done), data[done:], true)
}

// ReadMem reads len(buf) bytes at addr of process pid (see Mem.Read).
func ReadMem(pid int, addr uintptr, buf []byte) error {
	m := OpenMem(pid)
	defer m.Close()
	return m.Read(addr, buf)
}

// WriteMem writes data at addr of process pid (see Mem.Write).
func WriteMem(pid int, addr uintptr, data []byte) error {
	m := OpenMem(pid)
	defer m.Close()
	return m.Write(addr, data)
}

// vmTransfer moves as much as process_vm_readv/writev can, from the start,
// and returns how many bytes it moved. A transfer stops short at the first
// page it cannot access.
func vmTransfer(pid int, addr uintptr, buf []byte, write bool) int {
	done := 0
	for done < len(buf) {
		n, err := vmOnce(pid, addr+uintptr(done), buf[done:], write)
		if err != nil || n <= 0 {
			break
		}
		done += n
	}
	return done
}

func vmOnce(pid int, addr uintptr, buf []byte, write bool) (int, error) {
	local := []unix.Iovec{{Base: &buf[0]}}
	local[0].SetLen(len(buf))
	remote := []unix.RemoteIovec{{Base: addr, Len: len(buf)}}
	var n int
	err := ignoringEINTR(func() error {
		var err error
		if write {
			n, err = unix.ProcessVMWritev(pid, local, remote, 0)
		} else {
			n, err = unix.ProcessVMReadv(pid, local, remote, 0)
		}
		return err
	})
	return n, err
}

func (m *Mem) procMem(addr uintptr, buf []byte, write bool) error {
	op := "read /proc/PID/mem"
	if write {
		op = "write /proc/PID/mem"
	}
	fail := func(at uintptr, err error) error {
		return &Error{Tid: m.pid, Op: fmt.Sprintf("%s at %#x", op, at), Err: err}
	}
	if m.file == nil || (write && !m.wr) {
		flag := os.O_RDONLY
		if write {
			flag = os.O_RDWR
		}
		f, err := os.OpenFile(fmt.Sprintf("/proc/%d/mem", m.pid), flag, 0)
		if err != nil {
			if os.IsNotExist(err) {
				err = unix.ESRCH
			}
			return fail(addr, err)
		}
		if m.file != nil {
			m.file.Close()
		}
		m.file, m.wr = f, write
	}
	for len(buf) > 0 {
		// pread/pwrite take a signed offset; user addresses are below 2^47.
		if uint64(addr) > math.MaxInt64 {
			return fail(addr, unix.EINVAL)
		}
		var n int
		err := ignoringEINTR(func() error {
			var err error
			if write {
				n, err = unix.Pwrite(int(m.file.Fd()), buf, int64(addr))
			} else {
				n, err = unix.Pread(int(m.file.Fd()), buf, int64(addr))
			}
			return err
		})
		if err != nil {
			return fail(addr, err)
		}
		if n == 0 {
			// The kernel returns 0 when the process has no mm any more or
			// the page could not be reached at all.
			return fail(addr, unix.EIO)
		}
		addr += uintptr(n)
		buf = buf[n:]
	}
	return nil
}

// CopyFd lends crrun a copy of fd of process pid (pidfd_open +
// pidfd_getfd, which needs PTRACE_MODE_ATTACH on it, as a tracer has): the
// same open file description, close-on-exec. The caller closes it. Like
// ReadMem it needs no tracer thread.
func CopyFd(pid, fd int) (int, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, &Error{Tid: pid, Op: "pidfd_open", Err: err}
	}
	defer unix.Close(pidfd)
	c, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return -1, &Error{Tid: pid, Op: fmt.Sprintf("pidfd_getfd(%d)", fd), Err: err}
	}
	return c, nil
}

// ReadVec reads the ranges remote, back to back, into buf (at least as long
// as their sum) with process_vm_readv, up to IOV_MAX ranges a call, and
// returns how many bytes it read: fewer than the sum when it met a page it
// cannot read (PROT_NONE, gone) — Read, or ReadUnpinned, goes on from
// there. It pins the pages it reads (FOLL_PIN): use it only on memory no
// other process shares copy-on-write (see ReadUnpinned).
func (m *Mem) ReadVec(remote []unix.RemoteIovec, buf []byte) int {
	const iovMax = 1024
	done := 0
	for len(remote) > 0 {
		k := min(len(remote), iovMax)
		want := 0
		for _, r := range remote[:k] {
			want += r.Len
		}
		local := []unix.Iovec{{Base: &buf[done]}}
		local[0].SetLen(want)
		var n int
		err := ignoringEINTR(func() error {
			var err error
			n, err = unix.ProcessVMReadv(m.pid, local, remote[:k], 0)
			return err
		})
		if err != nil || n <= 0 {
			return done
		}
		done += n
		if n < want {
			return done
		}
		remote = remote[k:]
	}
	return done
}
