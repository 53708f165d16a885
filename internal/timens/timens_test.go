package timens

import (
	"os"
	"testing"
	"time"
)

func TestFormatParse(t *testing.T) {
	for _, o := range []Offsets{
		{},
		{Monotonic: 3600 * time.Second, Boottime: 7200*time.Second + 5},
		{Monotonic: -1500 * time.Millisecond, Boottime: -2*time.Second - 1}, // negative: seconds below, ns in [0, 1e9)
	} {
		s := o.Format()
		got, err := parse("test", []byte(s))
		if err != nil || got != o {
			t.Errorf("%+v: formatted %q, parsed back %+v (%v)", o, s, got, err)
		}
	}
	if got := (Offsets{Monotonic: -1500 * time.Millisecond}).Format(); got != "monotonic -2 500000000\nboottime 0 0\n" {
		t.Errorf("Format = %q", got)
	}
	// the kernel's own layout
	got, err := parse("k", []byte("monotonic           -2 819105651\nboottime          3600         0\n"))
	if err != nil || got.Monotonic != -1180894349 || got.Boottime != time.Hour {
		t.Errorf("parse = %+v, %v", got, err)
	}
	if _, err := parse("k", []byte("monotonic 1 0\n")); err == nil {
		t.Error("parse accepted a file without boottime")
	}
}

func TestContinue(t *testing.T) {
	saved := Clocks{Monotonic: int64(5000 * time.Second), Boottime: int64(6000 * time.Second)}
	host := Clocks{Monotonic: int64(100 * time.Second), Boottime: int64(100 * time.Second)}
	o := Continue(saved, host)
	if o.Monotonic != 4900*time.Second || o.Boottime != 5900*time.Second {
		t.Errorf("Continue = %+v", o)
	}
}

func TestSelf(t *testing.T) {
	if _, err := os.Lstat("/proc/self/ns/time"); err != nil {
		t.Skip("no time namespaces on this kernel")
	}
	if _, err := Read(0); err != nil {
		t.Fatal(err)
	}
	h, err := Host()
	if err != nil || h.Monotonic <= 0 || h.Boottime < h.Monotonic/2 {
		t.Fatalf("Host = %+v, %v", h, err)
	}
	if _, err := Of(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}
