package procfs

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The PAGEMAP_SCAN ioctl on a pagemap fd (Linux 6.7+, include/uapi/linux/fs.h;
// not yet in x/sys/unix nor in Debian 12's headers).
const (
	// _IOWR('f', 16, struct pm_scan_arg): dir 3<<30 | size 96<<16 | 'f'<<8 | 16.
	pagemapScan = 0xc0606610

	pageIsFile    = 1 << 2 // not an anonymous page (same test as pagemap bit 61)
	pageIsPresent = 1 << 3
	pageIsSwapped = 1 << 4
)

// pmScanArg is struct pm_scan_arg.
type pmScanArg struct {
	size              uint64
	flags             uint64
	start             uint64
	end               uint64
	walkEnd           uint64 // where the walk stopped (written by the kernel)
	vec               uint64 // *pageRegion
	vecLen            uint64
	maxPages          uint64
	categoryInverted  uint64 // categories that match when 0
	categoryMask      uint64 // all of these must match
	categoryAnyofMask uint64 // at least one of these must match
	returnMask        uint64 // categories reported per region
}

// pageRegion is struct page_region.
type pageRegion struct {
	start, end, categories uint64
}

// scanRegions is the regions per PAGEMAP_SCAN call; more calls follow
// walkEnd. At most 512, the kernel's own buffer (a PMD's pages): a longer
// vector, with write-protection, gave regions that overlapped the next
// call's on this kernel (a checkpoint then failed: "saved pages … overlap").
const scanRegions = 512

// scan runs PAGEMAP_SCAN over [start, end). ok is false, with dst unchanged and a
// nil error, when the kernel (or the file: a test fixture) does not support it;
// p.noScan then remembers that.
//
// The kernel classifies pages exactly as pagemap does (fs/proc/task_mmu.c:
// pagemap_page_category sets PAGE_IS_FILE for a page that is not anonymous, the
// same test as bit 61), so "present or swapped, and not file if excluded" is:
// anyof = PRESENT|SWAPPED, and FILE inverted and required when excluded. With a
// zero return mask every matching page has the same (empty) categories, so the
// kernel merges adjacent pages into maximal regions.
func (p *Pagemap) scan(start, end uint64, exclude PagemapEntry, dst []PageRange) (out []PageRange, ok bool, err error) {
	if p.regions == nil {
		p.regions = make([]pageRegion, scanRegions)
	}
	arg := pmScanArg{
		size:              uint64(unsafe.Sizeof(pmScanArg{})),
		end:               end,
		vec:               uint64(uintptr(unsafe.Pointer(&p.regions[0]))),
		vecLen:            uint64(len(p.regions)),
		categoryAnyofMask: pageIsPresent | pageIsSwapped,
	}
	if exclude&PagemapFile != 0 {
		arg.categoryInverted = pageIsFile
		arg.categoryMask = pageIsFile
	}
	base := len(dst)
	for addr := start; addr < end; {
		arg.start = addr
		n, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(p.fd), pagemapScan, uintptr(unsafe.Pointer(&arg)))
		runtime.KeepAlive(p.regions) // the kernel writes them through arg.vec
		switch {
		case errno == unix.EINTR:
			continue
		case errno == unix.ENOTTY || errno == unix.EINVAL || errno == unix.EOPNOTSUPP:
			if addr == start {
				p.noScan = errno == unix.ENOTTY || errno == unix.EOPNOTSUPP
				return dst[:base], false, nil
			}
			return dst, false, pathErr("ioctl PAGEMAP_SCAN", p.path, errno)
		case errno == unix.EFAULT && addr == start:
			// Not a user address ([vsyscall]): let pread give the answer.
			return dst[:base], false, nil
		case errno != 0:
			return dst, false, pathErr("ioctl PAGEMAP_SCAN", p.path, errno)
		}
		for _, r := range p.regions[:n] {
			if l := len(dst); l > base && dst[l-1].End == r.start {
				dst[l-1].End = r.end
				continue
			}
			dst = append(dst, PageRange{r.start, r.end})
		}
		if arg.walkEnd <= addr {
			return dst, false, pathErr("ioctl PAGEMAP_SCAN", p.path, unix.EIO) // no progress
		}
		addr = arg.walkEnd
	}
	return dst, true, nil
}
