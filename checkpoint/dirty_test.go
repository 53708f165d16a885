package checkpoint

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/crrun/crrun/internal/procfs"
)

func TestRunSets(t *testing.T) {
	r := func(a, b uint64) procfs.PageRange { return procfs.PageRange{Start: a, End: b} }
	runs := []procfs.PageRange{r(0, 10), r(20, 30), r(40, 50)}
	got := subtract(runs, []procfs.PageRange{r(0, 2), r(5, 22), r(25, 26), r(45, 60)})
	want := []procfs.PageRange{r(2, 5), r(22, 25), r(26, 30), r(40, 45)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("subtract = %v, want %v", got, want)
	}
	if got := subtract(runs, nil); !reflect.DeepEqual(got, runs) {
		t.Errorf("subtract nothing = %v", got)
	}
	if !covered(runs, 20, 30) || covered(runs, 9, 11) || covered(runs, 30, 31) {
		t.Error("covered")
	}
}

// TestRunWindows checks the one-pass helpers of incremental against their
// definitions, on random sorted runs and extents.
func TestRunWindows(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	runs := func(n int) []procfs.PageRange {
		var out []procfs.PageRange
		a := uint64(0)
		for range n {
			a += uint64(rng.IntN(5))
			b := a + 1 + uint64(rng.IntN(6))
			out = append(out, procfs.PageRange{Start: a, End: b})
			a = b + 1
		}
		return out
	}
	for iter := range 200 {
		present, written := runs(rng.IntN(40)), runs(rng.IntN(40))
		var clean, naive []procfs.PageRange
		pi, wi := 0, 0
		for lo := uint64(0); lo < 300; {
			hi := lo + 1 + uint64(rng.IntN(20))
			pw, ww := window(present, &pi, lo, hi), window(written, &wi, lo, hi)
			for _, c := range []struct{ all, got []procfs.PageRange }{{present, pw}, {written, ww}} {
				var want []procfs.PageRange
				for _, r := range c.all {
					if r.Start < hi && lo < r.End {
						want = append(want, r)
					}
				}
				if len(want) != len(c.got) || (len(want) > 0 && !reflect.DeepEqual(want, c.got)) {
					t.Fatalf("iter %d: window [%d,%d) = %v, want %v", iter, lo, hi, c.got, want)
				}
			}
			if covered(pw, lo, hi) != covered(present, lo, hi) {
				t.Fatalf("iter %d: covered differs on the window", iter)
			}
			keep := unchanged(lo, hi, pw, ww)
			clean = appendRuns(clean, keep...)
			naive = mergeRuns(naive, keep)
			lo = hi + uint64(rng.IntN(3))
		}
		if len(clean) != len(naive) || (len(clean) > 0 && !reflect.DeepEqual(clean, naive)) {
			t.Fatalf("iter %d: appendRuns = %v, mergeRuns = %v", iter, clean, naive)
		}
	}
	// Out of order: merged in all the same.
	r := func(a, b uint64) procfs.PageRange { return procfs.PageRange{Start: a, End: b} }
	if got := appendRuns([]procfs.PageRange{r(10, 20)}, r(0, 5), r(5, 10), r(20, 21)); !reflect.DeepEqual(got, []procfs.PageRange{r(0, 21)}) {
		t.Errorf("appendRuns out of order = %v", got)
	}
}

func TestStripUW(t *testing.T) {
	in := "7f00-7f01 rw-p 0 00:00 0\nVmFlags: rd wr mr mw me ac uw sd\nVmFlags: rd uw\nVmFlags: rd wr\n"
	want := "7f00-7f01 rw-p 0 00:00 0\nVmFlags: rd wr mr mw me ac sd\nVmFlags: rd\nVmFlags: rd wr\n"
	if got := string(stripUW([]byte(in))); got != want {
		t.Errorf("stripUW = %q, want %q", got, want)
	}
}
