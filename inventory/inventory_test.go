package inventory

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crrun/crrun/internal/gendoc"
)

var update = flag.Bool("update", false, "rewrite the generated state table in docs/nocr.md")

func TestKindOf(t *testing.T) {
	for field, want := range map[string]string{
		"status Uid":                 "credentials",
		"thread 12 CapEff":           "credentials",
		"thread 12 SigBlk":           "signals",
		"fd 3 lock 0":                "file locks",
		"fd 3 flags":                 "file descriptors",
		"fd 12 owner_ex":             "signal-driven I/O",
		"map 7f00-7f10 vmflags":      "memory layout",
		"limit Max open files":       "resource limits",
		"stat policy":                "scheduling",
		"thread 7 Cpus_allowed_list": "scheduling",
		"proc cwd":                   "process attributes",
		"stat ppid":                  "process tree",
	} {
		if got := KindOf(field).Name; got != want {
			t.Errorf("KindOf(%q) = %q, want %q", field, got, want)
		}
	}
}

func TestCompare(t *testing.T) {
	saved := Fields{"a": "1", "b": "2", "c": "3"}
	got := Compare(7, saved, Fields{"a": "1", "b": "20", "d": "4"})
	var s []string
	for _, m := range got {
		s = append(s, m.String())
	}
	want := []string{
		`pid 7: b (other): saved "2", restored "20"`,
		`pid 7: c (other): saved "3", restored (none)`,
		`pid 7: d (other): saved (none), restored "4"`,
	}
	if strings.Join(s, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Compare:\n%s\nwant:\n%s", strings.Join(s, "\n"), strings.Join(want, "\n"))
	}
}

// Two observations of the same stopped child agree, and the class of an
// inode two fds share is the same.
func TestObserveSelfConsistent(t *testing.T) {
	cmd := exec.Command("sh", "-c", "exec 3</etc/hostname 4</etc/hostname 5<&3; kill -STOP $$; :")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	ns := func(h int) (int, bool) { return h, true }
	var obs [2]Fields
	for i := range obs {
		for j := 0; j < 200; j++ {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
			if strings.Contains(string(b), ") T ") {
				break
			}
			exec.Command("sleep", "0.01").Run()
		}
		f, err := NewTree(ns).Observe(Proc{Host: cmd.Process.Pid})
		if err != nil {
			t.Fatal(err)
		}
		obs[i] = f
	}
	if d := Compare(1, obs[0], obs[1]); len(d) != 0 {
		t.Fatalf("two observations differ: %v", d)
	}
	if obs[0]["fd 3"] != obs[0]["fd 4"] || !strings.HasPrefix(obs[0]["fd 3"], "/etc/hostname #") {
		t.Errorf("fd 3 %q, fd 4 %q: want the same file and class", obs[0]["fd 3"], obs[0]["fd 4"])
	}
	for _, k := range []string{"status Uid", "limit Max open files", "proc cwd", "stat policy", "fd 5 flags"} {
		if obs[0][k] == "" {
			t.Errorf("no field %q", k)
		}
	}
}

// ObserveAll numbers the inodes the processes share as observing them one
// after the other in the order given does, whichever observation ends
// first: stopped children holding a pipe, a file and a socketpair, each
// meeting them in another order (and the shared libraries, in their maps).
func TestObserveAllSequential(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	scripts := []string{
		"exec 3<" + file + " 4<&0; kill -STOP $$; :",
		"exec 3<&0 4<" + file + " 5<&1; kill -STOP $$; :",
		"exec 3<&1 4<" + file + " 5<&0; kill -STOP $$; :",
		"exec 3</etc/hostname 4<&1; kill -STOP $$; :",
		"exec 3<" + file + "; kill -STOP $$; :",
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	var ps []Proc
	for _, sc := range scripts {
		cmd := exec.Command("sh", "-c", sc)
		cmd.Stdin, cmd.Stdout = pr, pw
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		ps = append(ps, Proc{Host: cmd.Process.Pid})
	}
	for _, p := range ps {
		for j := 0; j < 500; j++ {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Host))
			if strings.Contains(string(b), ") T ") {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ns := func(h int) (int, bool) { return h, true }
	seq := NewTree(ns)
	var want []Fields
	for _, p := range ps {
		f, err := seq.Observe(p)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, f)
	}
	for _, workers := range []int{1, 2, len(ps)} {
		got, err := NewTree(ns).ObserveAll(ps, workers)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ps {
			if d := Compare(ps[i].Host, want[i], got[i]); len(d) != 0 {
				t.Errorf("%d workers, process %d: %v", workers, i, d)
			}
			for k, v := range got[i] {
				if strings.ContainsRune(k+v, 0) {
					t.Errorf("%d workers: a placeholder left in %q: %q", workers, k, v)
				}
			}
		}
	}
	if !strings.HasPrefix(want[1]["fd 4"], file+" #") || want[1]["fd 4"] != want[0]["fd 3"] {
		t.Errorf("fd 4 of the second %q, fd 3 of the first %q: want the same file and class", want[1]["fd 4"], want[0]["fd 3"])
	}
	if _, err := NewTree(ns).ObserveAll(append(ps[:1:1], Proc{Host: 1 << 30}), 2); err == nil {
		t.Errorf("ObserveAll of a pid that does not exist: no error")
	}
}

func renderKinds() string {
	var b strings.Builder
	b.WriteString("| state | saved | restored | compared after restore | refused at checkpoint |\n|---|---|---|---|---|\n")
	for _, k := range Kinds {
		r := k.Refused
		if r == "" {
			r = "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", k.Name, k.Saved, k.Restored, k.Compared, r)
	}
	b.WriteString("\nNot saved (out of scope for now): each is refused before a checkpoint could lose it, except where the row says otherwise:\n\n| state | refused by | why |\n|---|---|---|\n")
	for _, o := range OutOfScope {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", o.Name, o.Refused, o.Why)
	}
	return b.String()
}

// docs/nocr.md carries the state table generated from Kinds (go test
// ./inventory -run TestDocsKinds -update rewrites it).
func TestDocsKinds(t *testing.T) {
	gendoc.Check(t, "../docs/nocr.md", "kinds", renderKinds(), *update, "go test ./inventory -run TestDocsKinds -update")
}

// BenchmarkObserve is the verifier's cost per process (make bench reports
// it): one observation of a stopped dynamic C-library process with a few fds
// (`sh`), and of this Go test process (≈10 threads, ≈100 mappings).
func BenchmarkObserve(b *testing.B) {
	cmd := exec.Command("sh", "-c", "exec 3</etc/hostname 4>/dev/null; kill -STOP $$; :")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// A C program with 64 threads and 32 fds (files, pipes, an eventfd), stopped.
	src := filepath.Join(b.TempDir(), "t64.c")
	os.WriteFile(src, []byte(`#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>
static void *idle(void *a) { for (;;) pause(); return a; }
int main(void) {
	pthread_t t;
	for (int i = 0; i < 63; i++) pthread_create(&t, 0, idle, 0);
	for (int i = 0; i < 10; i++) { int p[2]; pipe(p); open("/etc/hostname", O_RDONLY); }
	eventfd(3, 0);
	raise(SIGSTOP);
	return 0;
}
`), 0o644)
	bin := strings.TrimSuffix(src, ".c")
	if out, err := exec.Command("gcc", "-O1", "-pthread", "-o", bin, src).CombinedOutput(); err != nil {
		b.Fatalf("gcc: %v\n%s", err, out)
	}
	c64 := exec.Command(bin)
	if err := c64.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { c64.Process.Kill(); c64.Wait() }()
	ns := func(h int) (int, bool) { return h, true }
	// A Go process (this test binary, stopped by itself: observing the
	// running test process itself raced with the observation's own fds).
	gop := exec.Command(os.Args[0], "-test.run=^TestObserveHelperStopped$")
	gop.Env = append(os.Environ(), "CRRUN_INVENTORY_HELPER=stop")
	if err := gop.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { gop.Process.Kill(); gop.Wait() }()
	for _, pid := range []int{c64.Process.Pid, gop.Process.Pid} {
		for i := 0; i < 500; i++ {
			st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if strings.Contains(string(st), ") T ") {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, c := range []struct {
		name string
		pid  int
	}{{"sh", cmd.Process.Pid}, {"c-64threads-32fds", c64.Process.Pid}, {"gotest", gop.Process.Pid}} {
		b.Run(c.name, func(b *testing.B) {
			var n int
			for i := 0; i < b.N; i++ {
				f, err := NewTree(ns).Observe(Proc{Host: c.pid})
				if err != nil {
					b.Fatal(err)
				}
				n = len(f)
				Compare(1, f, f)
			}
			b.ReportMetric(float64(n), "fields")
		})
	}
}

// TestObserveHelperStopped is BenchmarkObserve's Go process: it starts a
// few goroutines and stops itself.
func TestObserveHelperStopped(t *testing.T) {
	if os.Getenv("CRRUN_INVENTORY_HELPER") != "stop" {
		t.Skip("the helper process of BenchmarkObserve")
	}
	for range 4 {
		go func() { time.Sleep(time.Hour) }()
	}
	syscall.Kill(os.Getpid(), syscall.SIGSTOP)
	time.Sleep(time.Hour)
}

// What the restore does not set (the restorer's value) refuses the
// checkpoint when the app's differs from crrun's own; what it sets (nice,
// affinity, ids, oom_score_adj) does not.
func TestInheritedRefusals(t *testing.T) {
	base := Fields{"stat nice": "0", "thread Cpus_allowed_list": "0-1", "status Uid": "0 0 0 0", "proc oom_score_adj": "0",
		"status Mems_allowed_list": "0", "status untag_mask": "0xffffffffffffffff"}
	app := Fields{"stat nice": "5", "thread 103 Cpus_allowed_list": "0-1", "thread 104 Cpus_allowed_list": "1",
		"status Uid": "1000 1000 1000 1000", "proc oom_score_adj": "500", "limit Max open files": "1 2 files",
		"status Mems_allowed_list": "1", "status untag_mask": "0xffffffffffffffff"}
	got := InheritedRefusals(app, base)
	if len(got) != 1 || !strings.Contains(got[0], `status Mems_allowed_list is "1" in the app, "0" in crrun`) {
		t.Fatalf("InheritedRefusals = %q", got)
	}
}

// BenchmarkObserveAll: 16 stopped processes observed one after the other
// (workers=1: what the checkpoint did before ObserveAll) and in parallel.
func BenchmarkObserveAll(b *testing.B) {
	var ps []Proc
	for range 16 {
		cmd := exec.Command("sh", "-c", "exec 3</etc/hostname 4>/dev/null; kill -STOP $$; :")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		ps = append(ps, Proc{Host: cmd.Process.Pid})
	}
	time.Sleep(100 * time.Millisecond)
	ns := func(h int) (int, bool) { return h, true }
	for _, w := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			for b.Loop() {
				if _, err := NewTree(ns).ObserveAll(ps, w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// normField by hand gives what the regular expressions it replaced gave.
func TestNormField(t *testing.T) {
	threadRe := regexp.MustCompile(`^thread \d+ `)
	fdRe := regexp.MustCompile(`^fd \d+ (lock|epoll|inotify) \d+$`)
	fdFieldRe := regexp.MustCompile(`^fd \d+ `)
	old := func(f string) string {
		f = threadRe.ReplaceAllString(f, "thread ")
		if m := fdRe.FindStringSubmatch(f); m != nil {
			return "fd " + m[1]
		}
		return fdFieldRe.ReplaceAllString(f, "fd ")
	}
	cases := []string{"thread 12 SigBlk", "thread 12", "thread  SigBlk", "thread x SigBlk", "thread 1 fd 3 flags",
		"fd 3 lock 0", "fd 3 lock 0 x", "fd 3 lock", "fd 3 lock x", "fd 3 epoll 12", "fd 3 inotify 7", "fd 3 inotifyx 7",
		"fd 3 flags", "fd 3", "fd x flags", "fd  flags", "fd 12 lock 3 4", "status Uid", "stat nice", "", "fd", "thread",
		"fd 3 lock 0\n", "fd 3 epoll 1a", "thread 0 Cpus_allowed_list", "fd 250 inet", "fd 3 lock 00"}
	for _, k := range Kinds {
		cases = append(cases, k.Fields...)
		for _, f := range k.Fields {
			cases = append(cases, strings.Replace(f, "thread ", "thread 4242 ", 1), strings.Replace(f, "fd ", "fd 17 ", 1))
		}
	}
	for _, c := range cases {
		if got, want := normField(c), old(c); got != want {
			t.Errorf("normField(%q) = %q, want %q", c, got, want)
		}
	}
}
