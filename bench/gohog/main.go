// gohog is a Go program for bench/pause.sh: the Go runtime catches every
// signal and runs several threads, the fixed costs a Go app brings to a
// checkpoint's pause. It touches -m MiB, prints "ready", then rewrites a
// page every millisecond until killed.
package main

import (
	"flag"
	"fmt"
	"time"
)

func main() {
	mib := flag.Int("m", 16, "MiB of memory to touch")
	flag.Parse()
	mem := make([]byte, *mib<<20)
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 1
	}
	fmt.Println("ready")
	for i := 0; ; i++ {
		mem[(i*4096)%len(mem)]++
		time.Sleep(time.Millisecond)
	}
}
