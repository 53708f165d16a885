package image

import (
	"log/slog"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Page files are written with O_DIRECT where the file system takes it.
// A buffered write copies every byte into the page cache, and on a VM
// that copy into fresh page-cache pages was most of a checkpoint's CPU
// (perf: copy_folio_from_iter_atomic, 71 % of crrun's samples saving
// 1 GiB); a direct write goes from crrun's buffers to the device. It
// also leaves the node's page cache to the app (a checkpoint of tens of
// GiB no longer evicts the app's own files). Every extent starts on a
// page and spans whole pages (compressed frames are padded in their own
// buffer), and crrun's page buffers are page-aligned, so a batch goes
// direct when all its iovecs are page-aligned; any other batch, and every
// batch after the file system refused a direct write (EINVAL), goes
// through the buffered fd, at the same explicit offsets (pwritev). Commit
// fdatasyncs each file once either way.

// openDirect opens page file name of the writer for direct writes (-1 if
// it cannot be, or the writer does not want them).
func (w *Writer) openDirect(name string) int {
	if w.noDirect {
		return -1
	}
	fd, err := unix.Open(filepath.Join(w.tmp, name), unix.O_WRONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		slog.Debug("image: page file written through the page cache", "file", name, "err", err)
		return -1
	}
	return fd
}

// SetDirectIO turns the direct writes of page files created from now on
// off (or on again, where the file system takes them).
func (w *Writer) SetDirectIO(on bool) {
	w.mu.Lock()
	w.noDirect = !on
	w.mu.Unlock()
}

// closeDirect closes pf's direct fd. Under pf.mu.
func (pf *pageFile) closeDirect() {
	if pf.direct >= 0 {
		unix.Close(pf.direct)
		pf.direct = -1
	}
}

// pwrite writes the n bytes of iovs at off: direct when they all are
// page-aligned and the file system takes it (direct true), else through
// the page cache. Under pf.mu.
func (pf *pageFile) pwrite(iovs [][]byte, n int, off int64) (direct bool, err error) {
	if pf.direct >= 0 && off%PageSize == 0 && aligned(iovs) {
		// pwritevAll moves through its iovecs in place: a copy, for
		// the buffered write after a refusal.
		err := pwritevAll(pf.direct, append([][]byte(nil), iovs...), n, off)
		if err != unix.EINVAL {
			return err == nil, err
		}
		// Refused (a file system without O_DIRECT for this file, or an
		// alignment it wants larger than a page): buffered from now on.
		// A short direct write before the refusal is rewritten whole.
		slog.Debug("image: direct write refused: page file written through the page cache", "file", pf.name)
		pf.closeDirect()
	}
	return false, pwritevAll(int(pf.f.Fd()), iovs, n, off)
}

// DirectBytes is how many bytes of page files were written with O_DIRECT
// so far.
func (w *Writer) DirectBytes() int64 { return w.directBytes.Load() }

// aligned says whether every iovec starts on a page and spans whole
// pages.
func aligned(iovs [][]byte) bool {
	for _, v := range iovs {
		if len(v)%PageSize != 0 || (len(v) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(v)))%PageSize != 0) {
			return false
		}
	}
	return true
}
