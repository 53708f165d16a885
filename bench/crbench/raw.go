package main

import (
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The machine's raw limits, measured in every round next to the checkpoints.

const chunk = 32 << 20 // crrun's own read size (checkpoint/memory.go)

// Raw-limit keys, in report order.
const (
	rawReadv     = "readv"
	rawWritev    = "writev"
	rawWrite     = "write"
	rawWriteSync = "wsync"
	rawReadCold  = "rcold"
	rawReadWarm  = "rwarm"
	rawMemcpy    = "memcpy"
	rawCRC       = "crc"
)

var rawOrder = []string{rawReadv, rawWritev, rawWrite, rawWriteSync, rawReadCold, rawReadWarm, rawMemcpy, rawCRC}

var rawWhat = map[string][2]string{
	rawReadv:     {"process_vm_readv", "%s of a stopped native memhog (filled, 1 thread), 32 MiB iovecs into one reused buffer (crrun's checkpoint read)"},
	rawWritev:    {"process_vm_writev into fresh pages", "%s into a never-touched MAP_NORESERVE map of the same memhog (restore's fill: first touch in the target)"},
	rawWrite:     {"write, no sync", "%s file in the checkpoint directory's file system, 32 MiB write(2)s of random data (page cache)"},
	rawWriteSync: {"write + fdatasync", "the same, fdatasync included in the time (crrun syncs every file before the commit)"},
	rawReadCold:  {"read, cold", "that file after fdatasync + POSIX_FADV_DONTNEED, 32 MiB read(2)s"},
	rawReadWarm:  {"read, page cache", "that file again, now cached"},
	rawMemcpy:    {"memcpy into fresh pages", "%s fresh anonymous mmap in this process, filled from a 32 MiB buffer (first touch)"},
	rawCRC:       {"CRC-32C", "Go hash/crc32 Castagnoli over 32 MiB buffers, %s in all (crrun checksums every page extent)"},
}

var readyRE = regexp.MustCompile(`addr=(0x[0-9a-f]+) len=(\d+) .* spare=(0x[0-9a-f]+|\(nil\)) spare_len=(\d+)`)

type ready struct {
	addr, length, spare, spareLen uint64
	fillMS                        float64
}

func parseReady(line string) (ready, error) {
	var r ready
	m := readyRE.FindStringSubmatch(line)
	if m == nil {
		return r, fmt.Errorf("cannot parse %q", line)
	}
	r.addr, _ = strconv.ParseUint(m[1], 0, 64)
	r.length, _ = strconv.ParseUint(m[2], 10, 64)
	if m[3] != "(nil)" {
		r.spare, _ = strconv.ParseUint(m[3], 0, 64)
	}
	r.spareLen, _ = strconv.ParseUint(m[4], 10, 64)
	if i := strings.Index(line, "fill_ms="); i >= 0 {
		f := strings.Fields(line[i+len("fill_ms="):])
		if len(f) > 0 {
			r.fillMS, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	return r, nil
}

// mibps is a rate in MiB/s.
func mibps(bytes int64, d time.Duration) float64 {
	return float64(bytes) / (1 << 20) / d.Seconds()
}

// randomBuf is the source data of the raw measurements: incompressible.
func randomBuf(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = r.Read(b)
	return b
}

// rawRound measures every raw limit once; results are MiB/s per key.
func (b *bench) rawRound(round int) (map[string]float64, error) {
	res := map[string]float64{}
	size := int64(b.rawMiB) << 20

	// process_vm_readv / writev against a stopped native memhog.
	out := newLineLog()
	errPath := filepath.Join(b.work, fmt.Sprintf("raw-memhog-%d.err", round))
	mh, err := start("memhog (raw)", []string{b.memhog, "-m", strconv.Itoa(b.rawMiB), "-t", "1", "-p", "1000",
		"-x", strconv.Itoa(b.rawMiB)}, os.Environ(), errPath, out)
	if err != nil {
		return nil, err
	}
	defer mh.kill(time.Second)
	line, _, err := out.waitFor("MEMHOG ready", 0, b.timeout)
	if err != nil {
		return nil, fmt.Errorf("raw memhog: %v (stderr: %s)", err, readTail(errPath))
	}
	rd, err := parseReady(line.text)
	if err != nil {
		return nil, err
	}
	mh.signal(syscall.SIGSTOP)
	if err := waitStopped(mh.pid, 5*time.Second); err != nil {
		return nil, err
	}
	buf := b.buf
	t0 := time.Now()
	for off := uint64(0); off < rd.length; off += chunk {
		n := min(chunk, rd.length-off)
		if err := vmCopy(false, mh.pid, buf[:n], rd.addr+off); err != nil {
			return nil, fmt.Errorf("process_vm_readv: %w", err)
		}
	}
	res[rawReadv] = mibps(int64(rd.length), time.Since(t0))
	t0 = time.Now()
	for off := uint64(0); off < rd.spareLen; off += chunk {
		n := min(chunk, rd.spareLen-off)
		if err := vmCopy(true, mh.pid, buf[:n], rd.spare+off); err != nil {
			return nil, fmt.Errorf("process_vm_writev: %w", err)
		}
	}
	res[rawWritev] = mibps(int64(rd.spareLen), time.Since(t0))
	mh.kill(time.Second) // and free its memory before the next test

	// Writes and reads in the checkpoint file system.
	path := filepath.Join(b.ckpt, "raw-write.bin")
	wr := func(sync bool) (time.Duration, error) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		t0 := time.Now()
		for off := int64(0); off < size; off += chunk {
			if _, err := f.Write(b.src[:min(chunk, size-off)]); err != nil {
				return 0, err
			}
		}
		if sync {
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				return 0, err
			}
		}
		d := time.Since(t0)
		if !sync { // leave nothing dirty behind for the next test
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				return 0, err
			}
		}
		return d, f.Close()
	}
	defer os.Remove(path)
	d, err := wr(false)
	if err != nil {
		return nil, fmt.Errorf("write test: %w", err)
	}
	res[rawWrite] = mibps(size, d)
	_ = os.Remove(path) // a fresh file for the synced test, like a new image
	if d, err = wr(true); err != nil {
		return nil, fmt.Errorf("write+fdatasync test: %w", err)
	}
	res[rawWriteSync] = mibps(size, d)
	for _, key := range []string{rawReadCold, rawReadWarm} {
		if key == rawReadCold {
			if err := evict(path); err != nil {
				return nil, err
			}
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		var n int64
		for {
			k, err := f.Read(buf)
			n += int64(k)
			if err != nil || k == 0 {
				break
			}
		}
		d := time.Since(t0)
		f.Close()
		if n != size {
			return nil, fmt.Errorf("read back %d bytes of %d", n, size)
		}
		res[key] = mibps(size, d)
	}
	_ = os.Remove(path)

	// memcpy into fresh pages.
	m, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	t0 = time.Now()
	for off := int64(0); off < size; off += chunk {
		copy(m[off:off+min(chunk, size-off)], b.src)
	}
	res[rawMemcpy] = mibps(size, time.Since(t0))
	_ = unix.Munmap(m)

	// CRC-32C.
	tab := crc32.MakeTable(crc32.Castagnoli)
	t0 = time.Now()
	var c uint32
	for off := int64(0); off < size; off += chunk {
		c = crc32.Update(c, tab, b.src[:min(chunk, size-off)])
	}
	res[rawCRC] = mibps(size, time.Since(t0))
	_ = c
	return res, nil
}

// vmCopy moves buf to or from addr in pid with process_vm_{readv,writev}.
func vmCopy(write bool, pid int, buf []byte, addr uint64) error {
	for done := 0; done < len(buf); {
		local := []unix.Iovec{{Base: &buf[done]}}
		local[0].SetLen(len(buf) - done)
		remote := []unix.RemoteIovec{{Base: uintptr(addr) + uintptr(done), Len: len(buf) - done}}
		var n int
		var err error
		if write {
			n, err = unix.ProcessVMWritev(pid, local, remote, 0)
		} else {
			n, err = unix.ProcessVMReadv(pid, local, remote, 0)
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("short transfer at %#x", addr+uint64(done))
		}
		done += n
	}
	return nil
}

// waitStopped waits until pid is in state T (stopped).
func waitStopped(pid int, d time.Duration) error {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return err
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && strings.HasPrefix(s[i+1:], " T") {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("pid %d did not stop", pid)
}

// evict drops path's clean pages from the page cache (after syncing it).
func evict(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return err
	}
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// cachedFraction is the part of the regular files under dir that is in the
// page cache (mincore), by bytes.
func cachedFraction(dir string) float64 {
	var total, cached int64
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || st.Size() == 0 {
			return nil
		}
		m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return nil
		}
		defer unix.Munmap(m)
		vec := make([]byte, (st.Size()+4095)/4096)
		if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)),
			uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
			return nil
		}
		for i, v := range vec {
			if v&1 != 0 {
				cached += min(4096, st.Size()-int64(i)*4096)
			}
		}
		total += st.Size()
		return nil
	})
	if total == 0 {
		return 0
	}
	return float64(cached) / float64(total)
}

// evictDir evicts every regular file under dir.
func evictDir(dir string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			return evict(p)
		}
		return nil
	})
}

// diskUsage is what du says of dir (allocated blocks) and the apparent size.
func diskUsage(dir string) (alloc, apparent int64) {
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) == nil {
			alloc += st.Blocks * 512
			apparent += st.Size
		}
		return nil
	})
	return alloc, apparent
}

func readTail(path string) string {
	b, _ := os.ReadFile(path)
	s := strings.TrimSpace(string(b))
	if len(s) > 400 {
		s = "…" + s[len(s)-400:]
	}
	return strings.ReplaceAll(s, "\n", " | ")
}
