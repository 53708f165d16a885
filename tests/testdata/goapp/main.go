// goapp is a Go program with goroutines, GC, timers and an open file (so the
// runtime poller's epoll and eventfd exist). It runs until SIGTERM, then checks
// its work and prints PASS or FAIL.
package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"
)

func main() {
	f, err := os.CreateTemp("", "goapp-")
	if err != nil {
		fmt.Println("FAIL:", err)
		os.Exit(1)
	}
	defer os.Remove(f.Name())
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	var mu sync.Mutex
	sums := map[int][32]byte{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			data := []byte{}
			for {
				select {
				case <-stop:
					mu.Lock()
					sums[g] = sha256.Sum256(data)
					mu.Unlock()
					return
				case <-tick.C:
					data = append(data, byte(g))
					_ = make([]byte, 1<<16) // garbage for the GC
				}
			}
		}(g)
	}
	runtime.GC()
	fmt.Println("READY")
	<-term
	close(stop)
	wg.Wait()
	if _, err := f.WriteString("done\n"); err != nil {
		fmt.Println("FAIL:", err)
		os.Exit(1)
	}
	if len(sums) != 8 {
		fmt.Println("FAIL: goroutines", len(sums))
		os.Exit(1)
	}
	fmt.Println("PASS")
}
