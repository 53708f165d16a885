package procfs

import (
	"encoding/binary"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// PagemapEntry is one 64-bit entry of /proc/PID/pagemap, describing one virtual
// page (Documentation/admin-guide/mm/pagemap.rst):
//
//	bit 63     page present in RAM
//	bit 62     page swapped out (or a migration entry)
//	bit 61     page is a file page or shared anonymous (shmem) page; clear for
//	           private anonymous pages, including copy-on-write copies of file pages
//	bit 58     guard region (MADV_GUARD_INSTALL, 6.14+)
//	bit 57     userfaultfd write-protected
//	bit 56     page exclusively mapped (mapcount 1, since 4.2); a page shared
//	           copy-on-write with a forked child is not exclusive
//	bit 55     soft-dirty (not in this project's kernels: CONFIG_MEM_SOFT_DIRTY unset)
//	bits 0-54  page frame number when present (zero without CAP_SYS_ADMIN);
//	           when swapped, bits 0-4 are the swap type and bits 5-54 the offset
type PagemapEntry uint64

// Pagemap entry bits.
const (
	PagemapPresent   PagemapEntry = 1 << 63
	PagemapSwapped   PagemapEntry = 1 << 62
	PagemapFile      PagemapEntry = 1 << 61
	PagemapGuard     PagemapEntry = 1 << 58
	PagemapUffdWP    PagemapEntry = 1 << 57
	PagemapExclusive PagemapEntry = 1 << 56
	PagemapSoftDirty PagemapEntry = 1 << 55
	pagemapPFNMask   PagemapEntry = 1<<55 - 1
)

// Present reports bit 63: the page is in RAM.
func (e PagemapEntry) Present() bool { return e&PagemapPresent != 0 }

// Swapped reports bit 62: the page is in swap.
func (e PagemapEntry) Swapped() bool { return e&PagemapSwapped != 0 }

// FileOrSharedAnon reports bit 61: the page belongs to the page cache of a file or
// to shmem (MAP_SHARED|MAP_ANONYMOUS, SysV shm, memfd), not to the process alone.
func (e PagemapEntry) FileOrSharedAnon() bool { return e&PagemapFile != 0 }

// Exclusive reports bit 56: the page is mapped by this process only.
func (e PagemapEntry) Exclusive() bool { return e&PagemapExclusive != 0 }

// SoftDirty reports bit 55: the page was written since soft-dirty was cleared.
func (e PagemapEntry) SoftDirty() bool { return e&PagemapSoftDirty != 0 }

// UffdWP reports bit 57: the page is write-protected by userfaultfd.
func (e PagemapEntry) UffdWP() bool { return e&PagemapUffdWP != 0 }

// Guard reports bit 58: the page is in a guard region.
func (e PagemapEntry) Guard() bool { return e&PagemapGuard != 0 }

// PFN returns the page frame number of a present page (0 when hidden).
func (e PagemapEntry) PFN() uint64 {
	if !e.Present() {
		return 0
	}
	return uint64(e & pagemapPFNMask)
}

// SwapType returns the swap device index of a swapped page.
func (e PagemapEntry) SwapType() uint64 {
	if !e.Swapped() {
		return 0
	}
	return uint64(e & 0x1f)
}

// SwapOffset returns the offset in the swap device of a swapped page.
func (e PagemapEntry) SwapOffset() uint64 {
	if !e.Swapped() {
		return 0
	}
	return uint64(e&pagemapPFNMask) >> 5
}

// PageRange is a run of pages [Start, End) of a process's address space.
type PageRange struct {
	Start, End uint64
}

// Size returns End-Start.
func (r PageRange) Size() uint64 { return r.End - r.Start }

// maxBatchEntries caps one pread of pagemap: 512 Ki entries is a 4 MiB buffer and
// covers 2 GiB of address space, so every ordinary mapping takes one pread; a
// larger one (a JVM's reserved heap) is read in 2 GiB steps with the same buffer.
const maxBatchEntries = 512 << 10

// Pagemap reads /proc/PID/pagemap. Open it once per process and query every
// mapping through it: buffers are reused across queries. A Pagemap is not safe
// for concurrent use.
type Pagemap struct {
	fd       int
	path     string
	pageSize uint64
	raw      []byte
	ents     []PagemapEntry
	regions  []pageRegion // PAGEMAP_SCAN output, reused
	noScan   bool         // PAGEMAP_SCAN unsupported: use pread only
}

// OpenPagemap opens /proc/PID/pagemap. Reading it needs PTRACE_MODE_READ access to
// the process (crrun is its tracer).
func (f FS) OpenPagemap(pid int) (*Pagemap, error) {
	path := f.pidPath(pid, "pagemap")
	fd, err := openRead(path, 0)
	if err != nil {
		return nil, err
	}
	return &Pagemap{fd: fd, path: path, pageSize: uint64(os.Getpagesize())}, nil
}

// OpenPagemap opens /proc/PID/pagemap with the default FS.
func OpenPagemap(pid int) (*Pagemap, error) { return FS{}.OpenPagemap(pid) }

// Close closes the pagemap file.
func (p *Pagemap) Close() error {
	if p.fd < 0 {
		return nil
	}
	err := unix.Close(p.fd)
	p.fd = -1
	if err != nil {
		return pathErr("close", p.path, err)
	}
	return nil
}

// PageSize is the size of the page each entry describes.
func (p *Pagemap) PageSize() uint64 { return p.pageSize }

// Entries returns the entries of the pages in [start, end); start and end must be
// page-aligned. The slice is reused by the next call on p; copy what must outlive
// it. The slice holds one entry per page, so for a large sparse range prefer
// Ranges, which reads in bounded batches.
func (p *Pagemap) Entries(start, end uint64) ([]PagemapEntry, error) {
	if err := p.check(start, end); err != nil {
		return nil, err
	}
	n := int((end - start) / p.pageSize)
	ents := p.batch(n)
	for done := 0; done < n; {
		batch := min(n-done, maxBatchEntries)
		if err := p.read(start+uint64(done)*p.pageSize, ents[done:done+batch]); err != nil {
			return nil, err
		}
		done += batch
	}
	return ents, nil
}

// PageRanges appends to dst the runs of pages of m whose content must be saved,
// and returns the extended slice:
//
//   - a page counts when it is present (bit 63) or swapped (bit 62);
//   - in a private mapping, a page with bit 61 set is excluded: it is still the
//     file's page-cache page (never written, so never copied), and restore gets
//     it back by mapping the file. Private anonymous memory never has bit 61.
//   - in a shared mapping bit 61 is set on every page and means nothing here.
//
// Caution for shared mappings (MAP_SHARED anonymous, shmem, memfd): pagemap shows
// only the pages mapped in this process's page tables. A page of the shared
// object that this process never touched, or whose PTE was dropped by reclaim,
// does not appear, though another process may have written it. Shared memory must
// be saved from its object (map_files, SEEK_DATA), not from these ranges.
func (p *Pagemap) PageRanges(m *Mapping, dst []PageRange) ([]PageRange, error) {
	var exclude PagemapEntry
	if m.Perms.Private() {
		exclude = PagemapFile
	}
	return p.Ranges(m.Start, m.End, exclude, dst)
}

// Ranges appends to dst the maximal runs of pages in [start, end) that are present
// or swapped and have none of the exclude bits (PagemapFile is the only one
// supported), and returns the extended slice. Runs are not merged with ranges
// already in dst.
//
// On kernels with the PAGEMAP_SCAN ioctl (6.7+) the kernel does the filtering and
// returns only the runs, skipping unpopulated page tables wholesale: a 1 GiB
// reservation with a few pages touched costs microseconds instead of reading 2 MiB
// of entries. Elsewhere the range is read with one pread per 2 GiB of address
// space into a reused buffer. Both paths give the same answer (tested).
func (p *Pagemap) Ranges(start, end uint64, exclude PagemapEntry, dst []PageRange) ([]PageRange, error) {
	if err := p.check(start, end); err != nil {
		return dst, err
	}
	if exclude&^PagemapFile != 0 {
		return dst, &os.PathError{Op: "pagemap", Path: p.path, Err: os.ErrInvalid}
	}
	if !p.noScan {
		out, ok, err := p.scan(start, end, exclude, dst)
		if ok || err != nil {
			return out, err
		}
	}
	return p.rangesPread(start, end, exclude, dst)
}

func (p *Pagemap) rangesPread(start, end uint64, exclude PagemapEntry, dst []PageRange) ([]PageRange, error) {
	const need = PagemapPresent | PagemapSwapped
	runStart, inRun := uint64(0), false
	for addr := start; addr < end; {
		batch := int(min((end-addr)/p.pageSize, maxBatchEntries))
		ents := p.batch(batch)
		if err := p.read(addr, ents); err != nil {
			return dst, err
		}
		for i, e := range ents {
			if e&need != 0 && e&exclude == 0 {
				if !inRun {
					runStart, inRun = addr+uint64(i)*p.pageSize, true
				}
			} else if inRun {
				dst = append(dst, PageRange{runStart, addr + uint64(i)*p.pageSize})
				inRun = false
			}
		}
		addr += uint64(batch) * p.pageSize
	}
	if inRun {
		dst = append(dst, PageRange{runStart, end})
	}
	return dst, nil
}

func (p *Pagemap) check(start, end uint64) error {
	if start%p.pageSize != 0 || end%p.pageSize != 0 || end < start {
		return &os.PathError{Op: "pagemap", Path: p.path, Err: os.ErrInvalid}
	}
	return nil
}

// batch returns the reused entry buffer with length n.
func (p *Pagemap) batch(n int) []PagemapEntry {
	if cap(p.ents) < n {
		p.ents = make([]PagemapEntry, n)
	}
	return p.ents[:n]
}

// read fills dst with the entries starting at virtual address addr: one pread
// (the kernel fills any count in one call unless it reaches the top of the user
// address space).
func (p *Pagemap) read(addr uint64, dst []PagemapEntry) error {
	size := len(dst) * 8
	if cap(p.raw) < size {
		p.raw = make([]byte, size)
	}
	raw := p.raw[:size]
	off := int64(addr / p.pageSize * 8)
	for done := 0; done < size; {
		n, err := unix.Pread(p.fd, raw[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return pathErr("pread", p.path, err)
		}
		if n == 0 {
			// Past the top of the user address space ([vsyscall]).
			return pathErr("pread", p.path, io.ErrUnexpectedEOF)
		}
		done += n
	}
	for i := range dst {
		dst[i] = PagemapEntry(binary.LittleEndian.Uint64(raw[i*8:]))
	}
	return nil
}
