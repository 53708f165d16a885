// gopipe is a Go victim for the tree tests: it starts itself as a child
// with os/exec and reads the child's stdout through cmd.StdoutPipe, so the
// runtime poller's epoll watches the pipe (and, since Go 1.23, os/exec
// holds a pidfd of the child).
//
//	gopipe [BURSTS]
//
// The child writes BURSTS bursts (default 20) of 64 KiB of deterministic
// bytes, 160 ms apart; the parent reads 8 KiB every 15 ms, slower than
// that, so data waits in the pipe (~3.3 s in all). The parent hashes what it
// reads and prints a running SHA-256 every 128 KiB; at the end it checks the
// total and the hash against a local computation and the child's exit
// status (0) and pid.
//
// stdout (deterministic, the parent's only): a header, 10 progress lines, a
// result line, then exactly "PASS" or "FAIL: <what>". stderr: "gopipe:
// pid=N", "gopipe: running", "gopipe: end pid=N".
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

const (
	burst = 64 << 10
	piece = 8 << 10
	every = 128 << 10
)

// fill writes bytes [off, off+len(b)) of the stream into b.
func fill(b []byte, off int) {
	for i := 0; i < len(b); i += 8 {
		x := uint64(off+i)*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
		x ^= x >> 29
		x *= 0xbf58476d1ce4e5b9
		x ^= x >> 32
		binary.LittleEndian.PutUint64(b[i:], x)
	}
}

func child(bursts int) {
	buf := make([]byte, burst)
	for k := 0; k < bursts; k++ {
		fill(buf, k*burst)
		if _, err := os.Stdout.Write(buf); err != nil {
			fmt.Fprintln(os.Stderr, "gopipe child:", err)
			os.Exit(3)
		}
		time.Sleep(160 * time.Millisecond)
	}
}

func main() {
	bursts := 20
	if len(os.Args) > 2 && os.Args[1] == "child" {
		if n, err := strconv.Atoi(os.Args[2]); err == nil && n > 0 {
			child(n)
			return
		}
	}
	if len(os.Args) > 1 {
		n, err := strconv.Atoi(os.Args[1])
		if err != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, "usage: gopipe [BURSTS]")
			os.Exit(2)
		}
		bursts = n
	}
	if err := run(bursts); err != nil {
		fmt.Println("FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("PASS")
}

func run(bursts int) error {
	pid := os.Getpid()
	fmt.Fprintf(os.Stderr, "gopipe: pid=%d\n", pid)
	fmt.Printf("gopipe: child writes %d bursts of %d KiB, parent reads %d KiB every 15 ms\n", bursts, burst>>10, piece>>10)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "child", strconv.Itoa(bursts))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	childPid := cmd.Process.Pid
	fmt.Fprintln(os.Stderr, "gopipe: running")
	h := sha256.New()
	buf := make([]byte, piece)
	total := 0
	var readErr error
	for {
		n, err := io.ReadFull(out, buf)
		h.Write(buf[:n])
		total += n
		if total%every == 0 && n > 0 {
			fmt.Printf("read %d KiB sha256=%s\n", total>>10, hex.EncodeToString(h.Sum(nil))[:16])
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				readErr = err
			}
			break
		}
		time.Sleep(15 * time.Millisecond)
	}
	waitErr := cmd.Wait()
	fmt.Fprintf(os.Stderr, "gopipe: end pid=%d\n", os.Getpid())

	var fails []string
	if os.Getpid() != pid {
		fails = append(fails, fmt.Sprintf("getpid() is %d, was %d", os.Getpid(), pid))
	}
	if readErr != nil {
		fails = append(fails, fmt.Sprintf("read: %v", readErr))
	}
	if waitErr != nil {
		fails = append(fails, fmt.Sprintf("the child: %v", waitErr))
	} else if cmd.ProcessState.Pid() != childPid {
		fails = append(fails, fmt.Sprintf("wait returned pid %d, started %d", cmd.ProcessState.Pid(), childPid))
	}
	want := sha256.New()
	all := make([]byte, burst)
	for k := 0; k < bursts; k++ {
		fill(all, k*burst)
		want.Write(all)
	}
	if total != bursts*burst {
		fails = append(fails, fmt.Sprintf("read %d bytes, want %d", total, bursts*burst))
	}
	got, exp := hex.EncodeToString(h.Sum(nil)), hex.EncodeToString(want.Sum(nil))
	fmt.Printf("result: %d bytes sha256=%s\n", total, got)
	if got != exp {
		fails = append(fails, fmt.Sprintf("sha256 %s, want %s", got, exp))
	}
	if len(fails) > 0 {
		return errors.New(strings.Join(fails, "; "))
	}
	return nil
}
