package inventory

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/crrun/crrun/image"

	"golang.org/x/sys/unix"
)

// Fields is one observation of a process: field name → value.
type Fields map[string]string

// Tree observes the processes of one app, in image order, with one
// numbering of the inodes they share. Use one Tree for the checkpoint's
// observation and one for the restore's.
type Tree struct {
	// NS maps a host pid or tid to the app's namespace (ok false: outside
	// the app, e.g. crrun's own processes).
	NS func(host int) (int, bool)
	// Root, when not "/", is prefixed to nothing: paths are compared as the
	// app sees them.
	classes map[inodeKey]int
	anon    map[string]int
}

type inodeKey struct {
	dev string
	ino uint64
}

// NewTree starts an observation of one tree.
func NewTree(ns func(host int) (int, bool)) *Tree {
	return &Tree{NS: ns, classes: map[inodeKey]int{}, anon: map[string]int{}}
}

// class numbers an inode by its first appearance in the tree.
func (t *Tree) class(dev string, ino uint64) string {
	k := inodeKey{dev, ino}
	n, ok := t.classes[k]
	if !ok {
		n = len(t.classes) + 1
		t.classes[k] = n
	}
	return "#" + strconv.Itoa(n)
}

// Proc says what the observer must know of a process beyond its pid.
type Proc struct {
	Host int // host pid
	// Skip are fds not compared beyond their number: the supervisor's own
	// stdio, which a restore replaces by the restorer's.
	Skip map[int]bool
	// Exclude is an address range left out of the mappings (the restorer's
	// scratch area, still mapped while the restore observes).
	ExcludeStart, ExcludeEnd uint64
	// DropPending are signals left out of the pending sets (signals a
	// checkpoint deliberately does not save, e.g. Slurm's SIGTERM).
	DropPending uint64
	// Smaps, when set, is the text of /proc/PID/smaps the caller read while
	// the process was frozen, with nothing mapped or unmapped since: used
	// instead of reading it again (each read walks the page tables).
	Smaps []byte
}

// StdioFDs are the fds of a saved process that are crrun's own stdio (the
// restorer's after a restore): Proc.Skip.
func StdioFDs(p *image.Process) map[int]bool {
	skip := map[int]bool{}
	for _, fd := range p.FDs {
		if fd.Stdio != nil {
			skip[fd.FD] = true
		}
	}
	return skip
}

// Observe reads the kernel's view of process p.
func (t *Tree) Observe(p Proc) (Fields, error) {
	o := &observer{t: t, p: p, f: Fields{}}
	if err := o.observe(); err != nil {
		return nil, err
	}
	return o.f, nil
}

func (o *observer) observe() error {
	// The threads' status files are read on another goroutine while the
	// rest (smaps above all) is read here: for a process of 1,000 threads
	// and 2,000 mappings these are the two largest reads, and the kernel
	// formats each on the CPU of its reader. tasks uses nothing of the
	// Tree (no inode numbering), only its own observer and fields.
	to := &observer{t: o.t, p: o.p, f: Fields{}}
	tdone := make(chan error, 1)
	go func() { tdone <- to.tasks() }()
	var err error
	for _, step := range []func() error{o.status, o.stat, o.misc, o.limits, o.fds, o.maps} {
		if err = step(); err != nil {
			break
		}
	}
	if terr := <-tdone; err == nil {
		err = terr
	}
	if err != nil {
		return fmt.Errorf("observe pid %d: %w", o.p.Host, err)
	}
	for k, v := range to.f {
		o.f[k] = v
	}
	return nil
}

// ObserveAll observes the processes ps, up to workers at a time, and
// returns their fields in the order of ps: exactly what Observe of each,
// one after the other in that order, returns (an error: the first
// process's in that order that failed). The observations run in
// parallel, each numbering the inodes it meets in a numbering of its own
// (placeholders, in the order it met them); then, process after process
// in the order of ps, each placeholder becomes the tree's class of its
// inode, the tree numbering the inodes it had not seen yet in the order
// that process met them: the numbers a sequential observation gives.
// t.NS is called under a lock.
func (t *Tree) ObserveAll(ps []Proc, workers int) ([]Fields, error) {
	a := t.Async(workers)
	for _, p := range ps {
		a.Start(p)
	}
	return a.Wait()
}

// Async observes processes as they are handed to it (Start), up to workers
// at a time, while the caller goes on: the checkpoint observes each
// process as soon as it is saved, while it saves the next. Wait returns
// every process's fields in the order they were started, numbered as
// ObserveAll numbers them.
type Async struct {
	t   *Tree
	lt  *Tree // t with NS under a lock, for the workers
	sem chan struct{}
	wg  sync.WaitGroup
	obs []*asyncObs
}

type asyncObs struct {
	o   *observer
	err error // written by its worker, read after Wait's wg.Wait
}

// Async starts an asynchronous observation of t's processes.
func (t *Tree) Async(workers int) *Async {
	var mu sync.Mutex
	ns := t.NS
	return &Async{t: t, sem: make(chan struct{}, max(1, workers)), lt: &Tree{NS: func(h int) (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		return ns(h)
	}}}
}

// Start observes p on a worker. Not safe for concurrent use.
func (a *Async) Start(p Proc) {
	ao := &asyncObs{o: &observer{t: a.lt, p: p, f: Fields{}, local: &localClasses{index: map[inodeKey]int{}}}}
	a.obs = append(a.obs, ao)
	a.wg.Add(1)
	go func() { // the caller never waits for a worker
		defer a.wg.Done()
		a.sem <- struct{}{}
		defer func() { <-a.sem }()
		ao.err = ao.o.observe()
	}()
}

// Wait waits for every observation started and returns their fields in
// the order they were started (an error: the first one's, in that order,
// that failed).
func (a *Async) Wait() ([]Fields, error) {
	a.wg.Wait()
	out := make([]Fields, len(a.obs))
	for i, ao := range a.obs {
		if ao.err != nil {
			return nil, ao.err
		}
		out[i] = ao.o.local.resolve(a.t, ao.o.f)
	}
	return out, nil
}

// localClasses numbers the inodes one observation meets, for ObserveAll:
// o.class returns a placeholder, resolve replaces it by the tree's class.
type localClasses struct {
	keys  []inodeKey
	index map[inodeKey]int
}

// placeholder marks: NUL never appears in a field a /proc file or a path
// gives.
const localMark = "#\x00"

func (l *localClasses) class(dev string, ino uint64) string {
	k := inodeKey{dev, ino}
	n, ok := l.index[k]
	if !ok {
		n = len(l.keys)
		l.keys = append(l.keys, k)
		l.index[k] = n
	}
	return localMark + strconv.Itoa(n) + "\x00"
}

// resolve numbers l's inodes in t in the order they were met, and
// rewrites the placeholders of f with their classes.
func (l *localClasses) resolve(t *Tree, f Fields) Fields {
	if len(l.keys) == 0 {
		return f
	}
	names := make([]string, len(l.keys))
	for i, k := range l.keys {
		names[i] = t.class(k.dev, k.ino)
	}
	sub := func(s string) string {
		if !strings.Contains(s, localMark) {
			return s
		}
		var b strings.Builder
		for {
			i := strings.Index(s, localMark)
			if i < 0 {
				b.WriteString(s)
				return b.String()
			}
			b.WriteString(s[:i])
			s = s[i+len(localMark):]
			j := strings.IndexByte(s, 0)
			n, _ := strconv.Atoi(s[:j])
			b.WriteString(names[n])
			s = s[j+1:]
		}
	}
	out := make(Fields, len(f))
	for k, v := range f {
		out[sub(k)] = sub(v)
	}
	return out
}

// class is the tree's class of an inode, or a placeholder for it in an
// observation of ObserveAll.
func (o *observer) class(dev string, ino uint64) string {
	if o.local != nil {
		return o.local.class(dev, ino)
	}
	return o.t.class(dev, ino)
}

// Baseline observes what a process passes on to its children (ids, limits
// of inheritance: affinity, nice, oom_score_adj…): the status, stat and
// misc fields, and its main thread's fields as "thread" fields. The
// checkpoint takes crrun's own, the values a restored process gets for what
// the restore does not set itself (Inherited).
func Baseline(pid int) (Fields, error) {
	o := &observer{t: NewTree(func(int) (int, bool) { return 0, false }), p: Proc{Host: pid}, f: Fields{}}
	for _, step := range []func() error{o.status, o.stat, o.misc} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	b, err := o.read("status")
	if err != nil {
		return nil, err
	}
	m := statusLines(b)
	for _, k := range taskKeys {
		if v, ok := m[k]; ok {
			o.f["thread "+k] = v
		}
	}
	return o.f, nil
}

type observer struct {
	t     *Tree
	p     Proc
	f     Fields
	buf   []byte
	local *localClasses // ObserveAll's numbering, nil in Observe
	// nsIDs are the NSpgid and NSsid lines of the status: the group and
	// session as the app sees them, even when their leader is gone.
	nsIDs map[string]string
}

func (o *observer) path(rest string) string { return fmt.Sprintf("/proc/%d/%s", o.p.Host, rest) }

// read reads a /proc file with plain syscalls into the observer's buffer
// (valid until the next read): os.ReadFile's poller registration costs
// more than the read of a small /proc file.
func (o *observer) read(rest string) ([]byte, error) { return readRaw(o.path(rest), &o.buf) }

func readRaw(path string, buf *[]byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if cap(*buf) < 16<<10 {
		*buf = make([]byte, 0, 64<<10)
	}
	b := (*buf)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			*buf = b
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

// statusKeys are the /proc/PID/status lines compared, process-wide.
var statusKeys = []string{"Umask", "Uid", "Gid", "Groups", "NoNewPrivs", "Seccomp", "Seccomp_filters",
	"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "SigIgn", "SigCgt", "ShdPnd", "THP_enabled",
	"Speculation_Store_Bypass", "SpeculationIndirectBranch", "Mems_allowed_list", "untag_mask"}

// taskKeys are compared per thread.
var taskKeys = []string{"SigBlk", "SigPnd", "Cpus_allowed_list", "CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd", "Uid", "Gid", "Groups", "Seccomp_filters"}

// taskWant are the status lines tasks() reads: the compared ones, the name
// and the thread's id in the app's namespace.
var taskWant = func() map[string]bool {
	m := map[string]bool{"Name": true, "NSpid": true}
	for _, k := range taskKeys {
		m[k] = true
	}
	return m
}()

// pickLines is statusLines for the wanted keys only (a thread's status is
// read once per thread: this is the verifier's inner loop).
func pickLines(b []byte, want map[string]bool) map[string]string {
	m := make(map[string]string, len(want))
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		i := bytes.IndexByte(line, ':')
		if i < 0 || !want[string(line[:i])] {
			continue
		}
		m[string(line[:i])] = strings.Join(strings.Fields(string(line[i+1:])), " ")
	}
	return m
}

func statusLines(b []byte) map[string]string {
	m := map[string]string{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok {
			m[string(k)] = strings.Join(strings.Fields(string(v)), " ")
		}
	}
	return m
}

func (o *observer) pendingMask(v string) string {
	n, err := strconv.ParseUint(v, 16, 64)
	if err != nil || o.p.DropPending == 0 {
		return v
	}
	return fmt.Sprintf("%016x", n&^o.p.DropPending)
}

func (o *observer) status() error {
	b, err := o.read("status")
	if err != nil {
		return err
	}
	m := statusLines(b)
	o.nsIDs = map[string]string{"pgrp": m["NSpgid"], "session": m["NSsid"]}
	for _, k := range statusKeys {
		if v, ok := m[k]; ok {
			if k == "ShdPnd" {
				v = o.pendingMask(v)
			}
			o.f["status "+k] = v
		}
	}
	return nil
}

func (o *observer) tasks() error {
	ents, err := os.ReadDir(o.path("task"))
	if err != nil {
		return err
	}
	n := 0
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		n++
		b, err := o.read("task/" + e.Name() + "/status")
		if err != nil {
			return err
		}
		m := pickLines(b, taskWant)
		// A thread of an app process is in the app: its id there is the
		// last of its NSpid line.
		w := strings.Fields(m["NSpid"])
		if len(w) == 0 {
			return fmt.Errorf("thread %d has no NSpid", tid)
		}
		ns, err := strconv.Atoi(w[len(w)-1])
		if err != nil {
			return fmt.Errorf("thread %d: NSpid %q", tid, m["NSpid"])
		}
		pre := "thread " + strconv.Itoa(ns) + " "
		for _, k := range taskKeys {
			if v, ok := m[k]; ok {
				if k == "SigPnd" {
					v = o.pendingMask(v)
				}
				o.f[pre+k] = v
			}
		}
		o.f[pre+"comm"] = m["Name"] // as comm, with the kernel's escapes
	}
	o.f["threads"] = strconv.Itoa(n)
	return nil
}

// statFields are the /proc/PID/stat fields compared (1-based, as proc(5)).
var statFields = []struct {
	n    int
	name string
	pid  bool // a pid: mapped to the app's namespace
}{
	{4, "ppid", true}, {5, "pgrp", true}, {6, "session", true},
	{18, "priority", false}, {19, "nice", false}, {38, "exit_signal", false},
	{40, "rt_priority", false}, {41, "policy", false},
	{26, "start_code", false}, {27, "end_code", false}, {28, "start_stack", false},
	{45, "start_data", false}, {46, "end_data", false}, {47, "start_brk", false},
	{48, "arg_start", false}, {49, "arg_end", false}, {50, "env_start", false}, {51, "env_end", false},
}

func (o *observer) stat() error {
	b, err := o.read("stat")
	if err != nil {
		return err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return fmt.Errorf("%s: no ')'", o.path("stat"))
	}
	fs := strings.Fields(string(b[i+1:])) // fs[0] is field 3
	for _, sf := range statFields {
		if sf.n-3 >= len(fs) {
			continue
		}
		v := fs[sf.n-3]
		if ids := strings.Fields(o.nsIDs[sf.name]); len(ids) > 0 {
			// A group or session is named by its id in the app's namespace
			// (NSpgid, NSsid: 0 outside it): its leader may be gone (a
			// daemon's double fork, `cmd &` of a shell that exited), and a
			// lookup of the id as a process would say "outside the app" or
			// not depending on whether the leader is still a zombie.
			if v = ids[len(ids)-1]; v == "0" {
				v = "outside the app"
			}
			o.f["stat "+sf.name] = v
			continue
		}
		if sf.pid {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				if ns, ok := o.t.NS(n); ok {
					v = strconv.Itoa(ns)
				} else {
					v = "outside the app"
				}
			}
		}
		o.f["stat "+sf.name] = v
	}
	return nil
}

func (o *observer) misc() error {
	for _, name := range []string{"personality", "oom_score_adj", "loginuid", "timerslack_ns", "comm"} {
		b, err := o.read(name)
		if err != nil {
			continue // not readable here (timerslack_ns without CAP_SYS_NICE): not compared
		}
		o.f["proc "+name] = strings.TrimSpace(string(b))
	}
	for _, name := range []string{"cwd", "root", "exe"} {
		s, err := os.Readlink(o.path(name))
		if err != nil {
			return err
		}
		o.f["proc "+name] = s
	}
	o.f["proc net"] = netOf(o.path("ns/net"))
	return nil
}

func (o *observer) limits() error {
	b, err := o.read("limits")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if len(line) < 26 {
			continue
		}
		name := strings.TrimSpace(line[:26])
		o.f["limit "+name] = strings.Join(strings.Fields(line[26:]), " ")
	}
	return nil
}

// deleted stands for the path of a deleted file: a restore recreates it
// under another name (docs/design.md), so only "deleted" is compared, with
// its mode, owner, size and inode class.
const deleted = "(a deleted file)"

// fdinfoSkip are fdinfo keys that are not state (mnt_id, ino: host numbers
// compared through the inode class) or that move with time (a timerfd's
// time left).
var fdinfoSkip = map[string]bool{"pos": true, "flags": true, "mnt_id": true, "ino": true, "it_value": true,
	"eventfd-id": true, "tty-index": true, "NSpid": true}

func (o *observer) fds() error {
	ents, err := os.ReadDir(o.path("fd"))
	if err != nil {
		return err
	}
	var nums []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	var pidfd = -1
	defer func() {
		if pidfd >= 0 {
			unix.Close(pidfd)
		}
	}()
	for _, fd := range nums {
		pre := "fd " + strconv.Itoa(fd)
		if o.p.Skip[fd] {
			o.f[pre] = "crrun's stdio"
			continue
		}
		target, err := os.Readlink(o.path("fd/" + strconv.Itoa(fd)))
		if err != nil {
			return err
		}
		var st unix.Stat_t
		statErr := unix.Stat(o.path("fd/"+strconv.Itoa(fd)), &st)
		o.f[pre] = o.target(target, st, statErr == nil)
		if statErr == nil && !strings.HasPrefix(target, "anon_inode:") {
			o.f[pre+" mode"] = fmt.Sprintf("%#o", st.Mode)
			o.f[pre+" owner"] = fmt.Sprintf("%d:%d", st.Uid, st.Gid)
			if st.Mode&unix.S_IFMT == unix.S_IFREG {
				o.f[pre+" size"] = strconv.FormatInt(st.Size, 10)
			}
		}
		info, err := o.read("fdinfo/" + strconv.Itoa(fd))
		if err != nil {
			return err
		}
		o.fdinfo(pre, info)
		if fl, err := strconv.ParseUint(o.f[pre+" flags"], 8, 32); err == nil && fl&unix.O_ACCMODE != unix.O_RDONLY {
			// A file open for writing may grow under other writers (a
			// log crrun shares with the app: `app > log 2>&1`) once the
			// restore has truncated it back (restore.Check/Plan.Apply
			// own its size).
			delete(o.f, pre+" size")
		}
		if pidfd < 0 {
			if pidfd, err = unix.PidfdOpen(o.p.Host, 0); err != nil {
				return fmt.Errorf("pidfd_open: %w", err)
			}
		}
		if c, err := unix.PidfdGetfd(pidfd, fd, 0); err == nil {
			o.owner(pre, c)
			if strings.HasPrefix(target, "socket:[") {
				o.socket(pre, c)
				o.inet(pre, c)
				o.netlink(pre, c)
				o.raw(pre, c, st.Ino)
				o.ping(pre, c, st.Ino) // ping.go
				o.packet(pre, c)       // ping.go
			}
			if target == "anon_inode:inotify" {
				// Queued events: a restore re-adds the watches, not
				// the events (Kinds: "inotify" refuses them).
				if n, err := unix.IoctlGetInt(c, unix.TIOCINQ); err == nil {
					o.f[pre+" queued"] = strconv.Itoa(n)
				}
			}
			unix.Close(c)
		}
	}
	return nil
}

// target normalises readlink(/proc/PID/fd/N): inode numbers become classes;
// a pty's number (a restored pty may get another) is not compared.
func (o *observer) target(s string, st unix.Stat_t, statOK bool) string {
	for _, pre := range []string{"pipe:[", "socket:["} {
		if strings.HasPrefix(s, pre) {
			return strings.TrimSuffix(pre, "[") + o.class(statDev(st.Dev), st.Ino)
		}
	}
	if strings.HasPrefix(s, "anon_inode:") {
		return s
	}
	if strings.HasSuffix(s, " (deleted)") && !strings.HasPrefix(s, "/memfd:") {
		return deleted + " " + o.class(statDev(st.Dev), st.Ino)
	}
	if strings.HasPrefix(s, "/dev/pts/") {
		return "/dev/pts/N " + o.class(statDev(st.Dev), st.Ino)
	}
	if statOK {
		return s + " " + o.class(statDev(st.Dev), st.Ino)
	}
	return s
}

func (o *observer) fdinfo(pre string, b []byte) {
	nlock, nwd := 0, 0
	var tfds []string
	itValue := ""
	defer func() { o.timerfdTicks(pre, itValue) }()
	lines := strings.Split(string(b), "\n")
	// An epoll lists its interest list in the order of its tree, by file
	// address, which a restore does not keep: inode classes are handed out
	// in the order of the fd numbers instead.
	sort.SliceStable(lines, func(i, j int) bool { return tfdOf(lines[i]) < tfdOf(lines[j]) })
	for _, line := range lines {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if k == "it_value" {
			itValue = v
		}
		switch {
		case k == "pos" || k == "flags":
			o.f[pre+" "+k] = v
		case k == "lock":
			o.f[fmt.Sprintf("%s lock %d", pre, nlock)] = o.lock(v)
			nlock++
		case k == "tfd":
			tfds = append(tfds, v) // numbered below, in fd order
		case k == "inotify wd":
			o.f[fmt.Sprintf("%s inotify %d", pre, nwd)] = o.inodeFields("wd:"+v, "ino", "sdev", "fhandle-bytes", "fhandle-type", "f_handle")
			nwd++
		case k == "Pid": // a pidfd's target
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				if ns, ok := o.t.NS(n); ok {
					v = strconv.Itoa(ns)
				} else {
					v = "outside the app"
				}
			}
			o.f[pre+" pidfd"] = v
		case fdinfoSkip[k]:
		default:
			o.f[pre+" "+k] = v
		}
	}
	// Keyed by the target's fd number, and its inode numbered in fd
	// order: the kernel lists the interest list in the order of its tree
	// (by file address), which differs between two processes.
	sort.Slice(tfds, func(a, b int) bool {
		x, _ := strconv.Atoi(strings.Fields(tfds[a])[0])
		y, _ := strconv.Atoi(strings.Fields(tfds[b])[0])
		return x < y
	})
	for _, v := range tfds {
		tfd, rest, _ := strings.Cut(v, " ")
		o.f[fmt.Sprintf("%s epoll %s", pre, tfd)] = o.inodeFields(rest, "ino", "sdev")
	}
}

// timerfdTicks makes a timerfd's "ticks" a value that does not move with
// time: a restore re-arms the timer with its time left early in the
// rebuild, so it may expire before the verifier looks (a slow restore on a
// loaded machine). A one-shot timer is compared by its expirations, past
// and pending (ticks, +1 while armed); a periodic one's count grows without
// bound, so it is not compared (its clock, interval and flags are).
func (o *observer) timerfdTicks(pre, itValue string) {
	t, ok := o.f[pre+" ticks"]
	if !ok {
		return
	}
	if iv := o.f[pre+" it_interval"]; iv != "(0, 0)" {
		delete(o.f, pre+" ticks")
		return
	}
	if itValue != "" && itValue != "(0, 0)" {
		if n, err := strconv.ParseUint(t, 10, 64); err == nil {
			o.f[pre+" ticks"] = strconv.FormatUint(n+1, 10) + " (expired or due)"
			return
		}
	}
	o.f[pre+" ticks"] = t + " (expired or due)"
}

// inodeFields rewrites "k:v" words: the inode (hex) and its device become a
// class, other host-specific words are dropped.
func (o *observer) inodeFields(v, ino, dev string, drop ...string) string {
	words := strings.Fields(v)
	var in, dv string
	var out []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		k, val, _ := strings.Cut(w, ":")
		if val == "" && i+1 < len(words) && !strings.Contains(words[i+1], ":") {
			val = words[i+1] // "tfd: 5 events: 19": number after "key:"
			i++
		}
		switch {
		case k == ino:
			in = val
		case k == dev:
			dv = val
		case contains(drop, k):
		default:
			out = append(out, k+":"+val)
		}
	}
	if in != "" {
		n, _ := strconv.ParseUint(in, 16, 64)
		d, _ := strconv.ParseUint(dv, 16, 64)
		out = append(out, "inode:"+o.class(fmt.Sprintf("%d:%d", d>>20, d&0xfffff), n))
	}
	return strings.Join(out, " ")
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// lock normalises a "lock:" line: "1: POSIX  ADVISORY  WRITE 1234
// 08:01:5678 0 EOF" without its index, with the pid in the app's namespace
// and the inode as a class.
func (o *observer) lock(v string) string {
	w := strings.Fields(v)
	if len(w) < 8 {
		return v
	}
	w = w[1:]
	if pid, err := strconv.Atoi(w[3]); err == nil && pid > 0 {
		if ns, ok := o.t.NS(pid); ok {
			w[3] = "pid " + strconv.Itoa(ns)
		} else {
			w[3] = "pid outside the app"
		}
	}
	if parts := strings.Split(w[4], ":"); len(parts) == 3 {
		ino, _ := strconv.ParseUint(parts[2], 10, 64)
		w[4] = o.class(hexDev(parts[0]+":"+parts[1]), ino)
	}
	return strings.Join(w, " ")
}

// owner reads what only fcntl tells of an open file description: the owner
// of its signals (F_GETOWN_EX) and the signal (F_GETSIG).
func (o *observer) owner(pre string, fd int) {
	var ex struct {
		Type int32
		Pid  int32
	}
	if _, _, e := unix.Syscall(unix.SYS_FCNTL, uintptr(fd), unix.F_GETOWN_EX, uintptrOf(&ex)); e == 0 && ex.Pid != 0 {
		v := fmt.Sprintf("type %d pid outside the app", ex.Type)
		// crrun's init is pid 1 of the app's namespace, but no process
		// of the app: the dump refuses it as an owner (ownerNS).
		if ns, ok := o.t.NS(int(ex.Pid)); ok && ns != 1 {
			v = fmt.Sprintf("type %d pid %d", ex.Type, ns)
		}
		o.f[pre+" owner_ex"] = v
	}
	if sig, err := unix.FcntlInt(uintptr(fd), unix.F_GETSIG, 0); err == nil && sig != 0 {
		o.f[pre+" sig"] = strconv.Itoa(sig)
	}
}

// vmflagsSkip are smaps VmFlags not compared. None: restore makes a
// private mapping writable only where the kernel had accounted it ("ac"),
// so even the overcommit charge comes back as it was.
var vmflagsSkip = map[string]bool{}

// mapping is one line of smaps with its VmFlags.
type mapping struct {
	start, end uint64
	desc       string // perms offset path class
	flags      string
	anon       bool
	offset     uint64
}

func (o *observer) maps() error {
	b := o.p.Smaps
	if b == nil {
		var err error
		if b, err = o.read("smaps"); err != nil {
			return err
		}
	}
	var ms []mapping
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmFlags:") && len(ms) > 0 {
			var fl []string
			for _, f := range strings.Fields(strings.TrimPrefix(line, "VmFlags:")) {
				if !vmflagsSkip[f] {
					fl = append(fl, f)
				}
			}
			sort.Strings(fl)
			ms[len(ms)-1].flags = strings.Join(fl, " ")
			continue
		}
		w := strings.Fields(line)
		if len(w) < 5 || !strings.Contains(w[0], "-") || strings.HasSuffix(w[0], ":") {
			continue
		}
		lo, hi, _ := strings.Cut(w[0], "-")
		s, err1 := strconv.ParseUint(lo, 16, 64)
		e, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		off, _ := strconv.ParseUint(w[2], 16, 64)
		ino, _ := strconv.ParseUint(w[4], 10, 64)
		path := strings.Join(w[5:], " ")
		if strings.HasSuffix(path, " (deleted)") && !strings.HasPrefix(path, "/memfd:") && !strings.HasPrefix(path, "/dev/zero") && !strings.HasPrefix(path, "/SYSV") {
			path = deleted
		}
		m := mapping{start: s, end: e, offset: off, anon: ino == 0}
		m.desc = w[1] + " " + path
		if ino != 0 {
			m.desc += " " + o.class(hexDev(w[3]), ino)
		}
		ms = append(ms, m)
	}
	// The kernel merges adjacent compatible mappings when it can; whether
	// it could differs between the original and the restored process
	// (anon_vma history), not what the process sees: merge both sides.
	var merged []mapping
	for _, m := range ms {
		if m.end <= o.p.ExcludeStart || m.start >= o.p.ExcludeEnd || o.p.ExcludeEnd == 0 {
			if n := len(merged); n > 0 {
				last := &merged[n-1]
				if last.end == m.start && last.desc == m.desc && last.flags == m.flags &&
					(m.anon || m.offset == last.offset+(last.end-last.start)) {
					last.end = m.end
					continue
				}
			}
			merged = append(merged, m)
		}
	}
	for _, m := range merged {
		k := fmt.Sprintf("map %x-%x", m.start, m.end)
		o.f[k] = m.desc
		if !m.anon {
			o.f[k] += fmt.Sprintf(" offset %#x", m.offset)
		}
		o.f[k+" vmflags"] = m.flags
	}
	return nil
}

// NamespaceOf returns an NS function for the app whose main process is host
// pid ref: a task is in the app when its NSpid line is as long as ref's, and
// its pid there is the last entry.
func NamespaceOf(ref int) (func(host int) (int, bool), error) {
	depth, _, err := nspid(ref)
	if err != nil {
		return nil, err
	}
	cache := map[int]int{}
	return func(h int) (int, bool) {
		if n, ok := cache[h]; ok {
			return n, n > 0
		}
		d, n, err := nspid(h)
		if err != nil || d != depth {
			n = 0
		}
		cache[h] = n
		return n, n > 0
	}, nil
}

// nspid reads the NSpid line of host pid h: its length and last entry.
func nspid(h int) (int, int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h))
	if err != nil {
		return 0, 0, err
	}
	v, ok := statusLines(b)["NSpid"]
	if !ok {
		return 0, 0, fmt.Errorf("/proc/%d/status: no NSpid", h)
	}
	w := strings.Fields(v)
	n, err := strconv.Atoi(w[len(w)-1])
	return len(w), n, err
}

// Device numbers as "major:minor" (decimal), whichever way the kernel
// printed them: stat's encoding, fdinfo's kernel-internal dev_t in hex
// (major << 20 | minor), maps' and /proc/locks' "hh:hh".
func statDev(d uint64) string { return fmt.Sprintf("%d:%d", unix.Major(d), unix.Minor(d)) }

func hexDev(s string) string {
	a, b, _ := strings.Cut(s, ":")
	x, _ := strconv.ParseUint(a, 16, 32)
	y, _ := strconv.ParseUint(b, 16, 32)
	return fmt.Sprintf("%d:%d", x, y)
}

// tfdOf is the target fd number of an epoll's "tfd:" fdinfo line, -1 for
// any other line (they keep their order, before the tfd lines).
func tfdOf(line string) int {
	v, ok := strings.CutPrefix(line, "tfd:")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(strings.Fields(v + " x")[0])
	if err != nil {
		return -1
	}
	return n
}

// socket reads what a socket's queue holds (SIOCINQ: bytes for a stream,
// the next datagram's size otherwise) and whether its reader asked for the
// senders' credentials (SO_PASSCRED): a restore writes the queued bytes
// itself, so they would carry crrun's.
func (o *observer) socket(pre string, fd int) {
	if n, err := unix.IoctlGetInt(fd, unix.SIOCINQ); err == nil {
		o.f[pre+" inq"] = strconv.Itoa(n)
	}
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED); err == nil && v != 0 {
		o.f[pre+" passcred"] = "1"
	}
	if d, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err == nil && d == unix.AF_UNIX {
		// One unix socket at a time: scmEnds moves the socket's
		// SO_PEEK_OFF for its walk, and the processes of a tree are
		// observed in parallel (ObserveAll) — two holders of one socket
		// read each other's peek offset (sockopts peek_off 0, not -1) and
		// walked from it (a run end every 4 bytes, 65,536 of them): seen
		// in make test as a restore refused by its own verifier.
		unixSockMu.Lock()
		defer unixSockMu.Unlock()
		o.f[pre+" sockopts"] = image.FormatSockOpts(image.ReadSockOpts(fd))
		if sa, err := unix.Getsockname(fd); err == nil {
			o.f[pre+" sockname"] = sockName(sa)
		}
		if n, _ := strconv.Atoi(o.f[pre+" scm_fds"]); n > 0 {
			if t, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err == nil && t == unix.SOCK_STREAM {
				o.f[pre+" scm_ends"] = scmEnds(fd)
			}
		}
	}
}

// unixSockMu serializes the observation of unix sockets (socket).
var unixSockMu sync.Mutex

// scmEnds walks the queue of unix stream socket fd with MSG_PEEK from
// offset 0 (SO_PEEK_OFF, set back after) and gives where each run of
// bytes that carries files in flight ends: a peek stops there (and
// nowhere else but where the senders' credentials change), its files
// installed here and closed. Where a run starts no peek shows
// (checkpoint/unixstream.go); the program's own reads check that.
func scmEnds(fd int) string {
	was, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF)
	if err != nil || unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, 0) != nil {
		return "?"
	}
	defer unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, was) //nolint:errcheck
	buf := make([]byte, 1<<16)
	oob := make([]byte, unix.CmsgSpace(253*4)+unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(4))
	var ends []string
	got := 0
	for range 1 << 16 {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_PEEK|unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			break
		}
		got += n
		rights := false
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, cm := range msgs {
				if cm.Header.Level != unix.SOL_SOCKET {
					continue
				}
				if fds, err := unix.ParseUnixRights(&cm); err == nil {
					rights = true
					for _, x := range fds {
						unix.Close(x)
					}
				} else if cm.Header.Type == unix.SCM_PIDFD && len(cm.Data) >= 4 {
					unix.Close(int(int32(binary.LittleEndian.Uint32(cm.Data))))
				}
			}
		}
		if rights {
			ends = append(ends, strconv.Itoa(got))
		}
	}
	return strings.Join(ends, ",")
}

// sockName renders a unix socket's address ("" unbound).
func sockName(sa unix.Sockaddr) string {
	if u, ok := sa.(*unix.SockaddrUnix); ok {
		return u.Name
	}
	return ""
}
