package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Every process the benchmark starts goes through a registry: it runs in a
// session of its own with PDEATHSIG=SIGKILL, and is killed (with everything
// below it) and reaped on any exit path, signals included.

type child struct {
	name string
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed once reaped
	err  error         // cmd.Wait's result, valid after done
	out  *lineLog      // stdout lines, when captured
}

type registry struct {
	mu      sync.Mutex
	closing bool
	live    map[int]*child
}

var reg = &registry{live: map[int]*child{}}

// start runs argv in a new session with stdin /dev/null, stderr appended to
// errPath and stdout captured line by line (timestamped) when out is non-nil,
// else sent to errPath too.
func start(name string, argv, env []string, errPath string, out *lineLog) (*child, error) {
	if stopping.Load() {
		return nil, errors.New("shutting down")
	}
	ef, err := os.OpenFile(errPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer ef.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stderr = ef
	cmd.Stdout = ef
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	var pr, pw *os.File
	if out != nil {
		if pr, pw, err = os.Pipe(); err != nil {
			return nil, err
		}
		cmd.Stdout = pw
	}
	reg.mu.Lock()
	if reg.closing {
		reg.mu.Unlock()
		if pr != nil {
			pr.Close()
			pw.Close()
		}
		return nil, errors.New("shutting down")
	}
	err = cmd.Start()
	if pw != nil {
		pw.Close()
	}
	if err != nil {
		reg.mu.Unlock()
		if pr != nil {
			pr.Close()
		}
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{}), out: out}
	reg.live[c.pid] = c
	reg.mu.Unlock()
	if pr != nil {
		go out.read(pr)
	}
	go func() {
		c.err = cmd.Wait()
		reg.mu.Lock()
		delete(reg.live, c.pid)
		reg.mu.Unlock()
		close(c.done)
	}()
	return c, nil
}

// wait waits up to d for c to exit; false on timeout.
func (c *child) wait(d time.Duration) bool {
	select {
	case <-c.done:
		return true
	case <-time.After(d):
		return false
	}
}

// exitDesc describes how a reaped child ended: "exit N" or "signal S".
func (c *child) exitDesc() string {
	ps := c.cmd.ProcessState
	if ps == nil {
		return "not reaped"
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return "exit " + strconv.Itoa(ps.ExitCode())
}

func (c *child) signal(s syscall.Signal) { _ = unix.Kill(c.pid, s) }

type procID struct {
	pid   int
	start string // /proc/PID/stat field 22: guards against pid reuse
}

// statOf returns PPID and start time of pid from /proc/PID/stat.
func statOf(pid int) (ppid int, start string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, "", false
	}
	f := strings.Fields(s[i+1:]) // f[0] = state, f[1] = ppid, f[19] = starttime
	if len(f) < 20 {
		return 0, "", false
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[19], true
}

// descendants lists every descendant of root (any depth) from one /proc pass.
func descendants(root int) []procID {
	ents, _ := os.ReadDir("/proc")
	kids := map[int][]procID{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, st, ok := statOf(pid); ok {
			kids[ppid] = append(kids[ppid], procID{pid, st})
		}
	}
	var out []procID
	q := []int{root}
	for len(q) > 0 {
		p := q[0]
		q = q[1:]
		for _, k := range kids[p] {
			out = append(out, k)
			q = append(q, k.pid)
		}
	}
	return out
}

func (p procID) alive() bool {
	_, st, ok := statOf(p.pid)
	return ok && st == p.start
}

// kill ends c and everything below it, then reaps c: SIGTERM to c alone
// first (crrun forwards it to the app and reaps its own tree), SIGKILL to
// whatever is left after grace.
func (c *child) kill(grace time.Duration) {
	select {
	case <-c.done:
		killSession(c.pid)
		return
	default:
	}
	below := descendants(c.pid)
	c.signal(syscall.SIGTERM)
	if !c.wait(grace) {
		below = append(below, descendants(c.pid)...)
		c.signal(syscall.SIGKILL)
	}
	for _, p := range below {
		if p.alive() {
			_ = unix.Kill(p.pid, syscall.SIGKILL)
		}
	}
	killSession(c.pid)
	if !c.wait(10 * time.Second) {
		logf("warning: %s (pid %d) not reaped 10 s after SIGKILL", c.name, c.pid)
	}
}

// killSession SIGKILLs what is left of the process group the child's setsid
// made; true if there was something. Its pid stays reserved while the group
// has members, so this cannot hit an unrelated process.
func killSession(pid int) bool {
	if unix.Kill(-pid, 0) != nil {
		return false
	}
	_ = unix.Kill(-pid, syscall.SIGKILL)
	return true
}

// shutdown kills and reaps every live child; later starts fail.
func shutdown() {
	reg.mu.Lock()
	reg.closing = true
	var cs []*child
	for _, c := range reg.live {
		cs = append(cs, c)
	}
	reg.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() { defer wg.Done(); c.kill(2 * time.Second) }()
	}
	wg.Wait()
}

// sweep SIGKILLs every process whose argv[0] lies under dir (our memhog
// copies, wherever they run, restored ones included) and returns how many.
func sweep(dir string) int {
	ents, _ := os.ReadDir("/proc")
	n := 0
	prefix := filepath.Clean(dir) + "/"
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		arg0, _, _ := strings.Cut(string(b), "\x00")
		if strings.HasPrefix(arg0, prefix) && !strings.HasSuffix(arg0, "/crrun") {
			_ = unix.Kill(pid, syscall.SIGKILL)
			n++
		}
	}
	return n
}

// lineLog collects the stdout lines of a child with their arrival time. The
// reader never blocks on the consumer: the app must never stall on a full
// pipe because the benchmark is busy elsewhere.
type lineLog struct {
	mu     sync.Mutex
	lines  []stamped
	eof    bool
	notify chan struct{} // 1-buffered, poked on every line and at EOF
}

type stamped struct {
	t    time.Time
	text string
}

func newLineLog() *lineLog { return &lineLog{notify: make(chan struct{}, 1)} }

func (l *lineLog) read(r *os.File) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		t := time.Now()
		l.mu.Lock()
		l.lines = append(l.lines, stamped{t, sc.Text()})
		l.mu.Unlock()
		l.poke()
	}
	l.mu.Lock()
	l.eof = true
	l.mu.Unlock()
	l.poke()
}

func (l *lineLog) poke() {
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

// waitFor returns the first line at index >= from whose text starts with
// prefix, and its index; an error at EOF or after timeout.
func (l *lineLog) waitFor(prefix string, from int, timeout time.Duration) (stamped, int, error) {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		for i := from; i < len(l.lines); i++ {
			if strings.HasPrefix(l.lines[i].text, prefix) {
				s := l.lines[i]
				l.mu.Unlock()
				return s, i, nil
			}
		}
		eof := l.eof
		l.mu.Unlock()
		if eof {
			return stamped{}, -1, fmt.Errorf("no %q line before the output ended", prefix)
		}
		select {
		case <-l.notify:
		case <-deadline:
			return stamped{}, -1, fmt.Errorf("no %q line within %v", prefix, timeout)
		}
	}
}

// snapshot copies the lines so far.
func (l *lineLog) snapshot() []stamped {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]stamped(nil), l.lines...)
}

// tail returns the last n lines as one string, for error messages.
func (l *lineLog) tail(n int) string {
	s := l.snapshot()
	var parts []string
	for _, x := range s[max(0, len(s)-n):] {
		parts = append(parts, x.text)
	}
	return strings.Join(parts, " | ")
}

// schedSum adds up /proc/PID/task/*/schedstat: time on a CPU and time
// runnable but waiting for one, over the live threads of pid.
func schedSum(pid int) (cpu, wait time.Duration) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "schedstat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		c, _ := strconv.ParseInt(f[0], 10, 64)
		w, _ := strconv.ParseInt(f[1], 10, 64)
		cpu += time.Duration(c)
		wait += time.Duration(w)
	}
	return cpu, wait
}
