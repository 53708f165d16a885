package checkpoint

import (
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
	if !overlaps(runs, 9, 11) || overlaps(runs, 10, 20) || overlaps(nil, 0, 1) {
		t.Error("overlaps")
	}
}

func TestStripUW(t *testing.T) {
	in := "7f00-7f01 rw-p 0 00:00 0\nVmFlags: rd wr mr mw me ac uw sd\nVmFlags: rd uw\nVmFlags: rd wr\n"
	want := "7f00-7f01 rw-p 0 00:00 0\nVmFlags: rd wr mr mw me ac sd\nVmFlags: rd\nVmFlags: rd wr\n"
	if got := string(stripUW([]byte(in))); got != want {
		t.Errorf("stripUW = %q, want %q", got, want)
	}
}
