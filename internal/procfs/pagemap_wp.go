package procfs

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PAGEMAP_SCAN's write-protect part (include/uapi/linux/fs.h), for dirty
// tracking with userfaultfd write-protection in async mode
// (UFFD_FEATURE_WP_ASYNC): a page is "written" once a write cleared its
// uffd-wp bit.
const (
	pmScanWPMatching    = 1 << 0 // write-protect the pages that match
	pmScanCheckWPAsync  = 1 << 1 // fail unless every VMA is registered WP_ASYNC
	pageIsWritten       = 1 << 1
	pmScanWrittenRegion = scanRegions // at most 512: see scanRegions
)

// ScanWritten appends to dst the runs of present or swapped pages in
// [start, end) written since they were last write-protected (or never
// protected), and, with protect, write-protects them again in
// the same walk, atomically for each page table. Every mapping of the range
// must be registered with a userfaultfd in WP_ASYNC mode (else EPERM).
func (p *Pagemap) ScanWritten(start, end uint64, protect bool, dst []PageRange) ([]PageRange, error) {
	if err := p.check(start, end); err != nil {
		return dst, err
	}
	regions := make([]pageRegion, pmScanWrittenRegion)
	arg := pmScanArg{
		size:         uint64(unsafe.Sizeof(pmScanArg{})),
		flags:        pmScanCheckWPAsync,
		end:          end,
		vec:          uint64(uintptr(unsafe.Pointer(&regions[0]))),
		vecLen:       uint64(len(regions)),
		categoryMask: pageIsWritten,
		// Present or swapped pages only: a none PTE (never touched, or
		// dropped) matches "written" in a VMA without WP_UNPOPULATED, and
		// protecting it would install a uffd-wp marker, which pagemap then
		// shows as swapped and which /proc/PID/mem cannot read (EIO).
		// Pages not present are told apart by their presence anyway.
		categoryAnyofMask: pageIsPresent | pageIsSwapped,
		returnMask:        pageIsWritten,
	}
	if protect {
		arg.flags |= pmScanWPMatching
	}
	for addr := start; addr < end; {
		arg.start = addr
		n, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(p.fd), pagemapScan, uintptr(unsafe.Pointer(&arg)))
		runtime.KeepAlive(regions)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return dst, pathErr("ioctl PAGEMAP_SCAN (written)", p.path, errno)
		}
		for _, r := range regions[:n] {
			if l := len(dst); l > 0 && dst[l-1].End == r.start {
				dst[l-1].End = r.end
				continue
			}
			dst = append(dst, PageRange{r.start, r.end})
		}
		if arg.walkEnd <= addr {
			return dst, pathErr("ioctl PAGEMAP_SCAN (written)", p.path, unix.EIO)
		}
		addr = arg.walkEnd
	}
	return dst, nil
}
