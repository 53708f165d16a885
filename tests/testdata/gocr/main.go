// gocr is a Go checkpoint/restore victim: goroutines paced by time.Ticker,
// GC pressure with a large live heap, and an open file that the goroutines
// append records to (so the runtime poller's epoll and eventfd exist).
//
//	gocr [STEPS [DIR]]
//
// Each of 8 goroutines runs STEPS steps (one per tick of its 1 ms ticker):
// it extends a SHA-256 chain, allocates garbage, and appends a record to the
// file. At the end the file is read back and every goroutine's records are
// checked in order, the live heap is checked against its formula, and the
// pid is compared with the one at start.
//
// stdout (deterministic): a header, 10 progress lines, one result line per
// goroutine, then exactly "PASS" or "FAIL: <what>". stderr: "gocr: pid=N",
// "gocr: running", "gocr: end pid=N".
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	goroutines   = 8
	defaultSteps = 2400
	liveBlocks   = 512 // live heap: 512 blocks of 128 KiB = 64 MiB
	blockSize    = 128 << 10
)

func step(h [32]byte, g, i int) [32]byte {
	var b [48]byte
	copy(b[:], h[:])
	binary.LittleEndian.PutUint64(b[32:], uint64(g))
	binary.LittleEndian.PutUint64(b[40:], uint64(i))
	return sha256.Sum256(b[:])
}

func fillBlock(b []byte, k int) {
	x := uint64(k)*0x9e3779b97f4a7c15 + 1
	for i := 0; i+8 <= len(b); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(b[i:], x)
	}
}

func main() {
	steps := defaultSteps
	dir := os.TempDir()
	if len(os.Args) > 1 {
		n, err := strconv.Atoi(os.Args[1])
		if err != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, "usage: gocr [STEPS [DIR]]")
			os.Exit(2)
		}
		steps = n
	}
	if len(os.Args) > 2 {
		dir = os.Args[2]
	}
	pid := os.Getpid()
	fmt.Fprintf(os.Stderr, "gocr: pid=%d\n", pid)
	fmt.Printf("gocr: goroutines=%d steps=%d\n", goroutines, steps)
	debug.SetGCPercent(50)

	tmp, err := os.CreateTemp(dir, "gocr-*.log")
	if err != nil {
		fmt.Println("FAIL:", err)
		os.Exit(1)
	}
	name := tmp.Name()
	tmp.Close()
	defer os.Remove(name)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		fmt.Println("FAIL:", err)
		os.Exit(1)
	}

	live := make([][]byte, liveBlocks)
	for k := range live {
		live[k] = make([]byte, blockSize)
		fillBlock(live[k], k)
	}

	var (
		mu       sync.Mutex // the file and the failures
		failures []string
		wg       sync.WaitGroup
		finals   [goroutines][32]byte
		progress = make(chan int, 16)
	)
	failf := func(format string, a ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, a...))
		mu.Unlock()
	}
	fmt.Fprintln(os.Stderr, "gocr: running")
	start := time.Now()
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			var h [32]byte
			var garbage [][]byte
			for i := 0; i < steps; i++ {
				<-tick.C
				h = step(h, g, i)
				// GC pressure: short-lived allocations, some kept a while.
				b := make([]byte, 16<<10+i%4096)
				b[0] = h[0]
				garbage = append(garbage, b)
				if len(garbage) > 32 {
					garbage = garbage[1:]
				}
				rec := fmt.Sprintf("g%d %d %s\n", g, i, hex.EncodeToString(h[:8]))
				mu.Lock()
				_, err := f.WriteString(rec)
				mu.Unlock()
				if err != nil {
					failf("goroutine %d: append: %v", g, err)
					return
				}
				if g == 0 && (i+1)%max(steps/10, 1) == 0 {
					progress <- i + 1
				}
			}
			finals[g] = h
		}(g)
	}
	go func() { wg.Wait(); close(progress) }()
	for i := range progress {
		fmt.Printf("step %d/%d\n", i, steps)
	}
	fmt.Fprintf(os.Stderr, "gocr: end pid=%d (%.1fs, %d GCs)\n", os.Getpid(), time.Since(start).Seconds(), gcCount())
	if err := f.Close(); err != nil {
		failf("close: %v", err)
	}

	// Check the file: every goroutine's records, in order, once.
	next := make([]int, goroutines)
	hs := make([][32]byte, goroutines)
	rf, err := os.Open(name)
	if err != nil {
		failf("reopen: %v", err)
	} else {
		sc := bufio.NewScanner(rf)
		line := 0
		for sc.Scan() {
			line++
			var g, i int
			var hx string
			if _, err := fmt.Sscanf(sc.Text(), "g%d %d %s", &g, &i, &hx); err != nil || g < 0 || g >= goroutines {
				failf("line %d of the file is garbage: %q", line, sc.Text())
				break
			}
			if i != next[g] {
				failf("line %d: goroutine %d record %d, want record %d (duplicate or lost records)", line, g, i, next[g])
				break
			}
			hs[g] = step(hs[g], g, i)
			if hx != hex.EncodeToString(hs[g][:8]) {
				failf("line %d: goroutine %d record %d has a wrong hash", line, g, i)
				break
			}
			next[g]++
		}
		rf.Close()
		for g := 0; g < goroutines; g++ {
			if next[g] != steps {
				failf("goroutine %d has %d records in the file, want %d", g, next[g], steps)
				break
			}
		}
	}
	for g := 0; g < goroutines; g++ {
		if finals[g] != hs[g] && len(failures) == 0 {
			failf("goroutine %d: final hash differs from the file's chain", g)
		}
	}
	// The live heap.
	want := make([]byte, blockSize)
	for k := range live {
		fillBlock(want, k)
		if string(live[k]) != string(want) {
			failf("live heap block %d changed", k)
			break
		}
	}
	if os.Getpid() != pid {
		failf("getpid() is %d, was %d", os.Getpid(), pid)
	}
	for g := 0; g < goroutines; g++ {
		fmt.Printf("result: g%d %s\n", g, hex.EncodeToString(finals[g][:]))
	}
	if len(failures) > 0 {
		fmt.Println("FAIL: " + strings.Join(failures, "; "))
		os.Exit(1)
	}
	fmt.Println("PASS")
}

func gcCount() uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.NumGC
}
