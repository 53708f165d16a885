package procfs

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func BenchmarkStatus(b *testing.B) {
	pid := os.Getpid()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Status(pid); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStat(b *testing.B) {
	pid := os.Getpid()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Stat(pid); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMaps(b *testing.B) {
	pid := os.Getpid()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Maps(pid); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSmaps(b *testing.B) {
	pid := os.Getpid()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Smaps(pid); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFds(b *testing.B) {
	pid := os.Getpid()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Fds(pid); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPageRangesSparse1GiB: a 1 GiB reservation with three pages touched,
// the case of a runtime's reserved heap.
func BenchmarkPageRangesSparse1GiB(b *testing.B) {
	const size = 1 << 30
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Munmap(mem)
	unix.Madvise(mem, unix.MADV_NOHUGEPAGE)
	mem[0], mem[size/2], mem[size-1] = 1, 1, 1
	maps, err := Maps(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	var m *Mapping
	for i := range maps {
		if maps[i].Size() == size && maps[i].Inode == 0 {
			m = &maps[i]
		}
	}
	if m == nil {
		b.Fatal("mapping not found")
	}
	pm, err := OpenPagemap(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	defer pm.Close()
	var dst []PageRange
	b.ReportAllocs()
	b.SetBytes(size)
	for b.Loop() {
		dst, err = pm.PageRanges(m, dst[:0])
		if err != nil {
			b.Fatal(err)
		}
		if len(dst) != 3 {
			b.Fatalf("ranges %v", dst)
		}
	}
}
