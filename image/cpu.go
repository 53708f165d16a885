package image

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// CPU identifies the processor a checkpoint was taken on. A restore on
// another machine compares it with its own (restore/cpu.go): the app's code
// was chosen for this one's instruction set.
type CPU struct {
	// Model is /proc/cpuinfo's "model name", for people.
	Model string `json:"model,omitempty"`
	// Flags are /proc/cpuinfo's "flags" (the kernel's names of the CPU's
	// features, instruction-set extensions among them), sorted.
	Flags []string `json:"flags"`
}

// ThisCPU is the running machine's CPU from /proc/cpuinfo (its first
// processor: the kernel shows every processor the features all share);
// nil if it cannot be read. Read once per process: the checkpoint asks for
// it inside the pause, and on a node of many CPUs /proc/cpuinfo is long to
// make. The result is shared: not to be modified.
func ThisCPU() *CPU { return thisCPU() }

var thisCPU = sync.OnceValue(readCPU)

func readCPU() *CPU {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var c CPU
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name":
			if c.Model == "" {
				c.Model = strings.TrimSpace(v)
			}
		case "flags":
			c.Flags = strings.Fields(v)
			slices.Sort(c.Flags)
			return &c
		}
	}
	return nil
}

// Affinity reads the CPU affinity of task tid as ThreadAttrs.Affinity holds
// it: the mask's 64-bit words, trailing zero words dropped.
func Affinity(tid int) ([]Hex, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(tid, &set); err != nil {
		return nil, err
	}
	n := len(set)
	for n > 1 && set[n-1] == 0 {
		n--
	}
	out := make([]Hex, 0, n)
	for _, w := range set[:n] {
		out = append(out, Hex(w))
	}
	return out, nil
}

// CPUList writes an affinity mask as the kernel's CPU lists ("0-3,8").
func CPUList(mask []Hex) string {
	var parts []string
	n := len(mask) * 64
	for c := 0; c < n; {
		if mask[c/64]&(1<<(c%64)) == 0 {
			c++
			continue
		}
		e := c
		for e+1 < n && mask[(e+1)/64]&(1<<((e+1)%64)) != 0 {
			e++
		}
		if e == c {
			parts = append(parts, strconv.Itoa(c))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", c, e))
		}
		c = e + 1
	}
	return strings.Join(parts, ",")
}
