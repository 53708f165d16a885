package ptrace

import (
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkInject measures one injected getpid into a stopped thread: the
// unit cost of everything the checkpoint and restore engines do inside the
// app (go test -run XXX -bench Inject ./internal/ptrace).
func BenchmarkInject(b *testing.B) {
	e := setup(b)
	v := e.start("threads", "3", "0")
	f, err := e.tr.FreezeProcess(v.pid, TraceClone)
	if err != nil {
		b.Fatal(err)
	}
	for _, which := range []struct {
		name string
		tid  int
	}{{"leader", f.Threads[0]}, {"thread", f.Threads[len(f.Threads)-1]}} {
		b.Run(which.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := e.tr.Inject(which.tid, unix.SYS_GETPID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	_ = e.tr.Thaw(f)
}

// BenchmarkDo measures the hand-off to the tracer thread alone.
func BenchmarkDo(b *testing.B) {
	tr := New()
	defer tr.Close()
	for i := 0; i < b.N; i++ {
		_ = tr.Do(func() error { return nil })
	}
}
