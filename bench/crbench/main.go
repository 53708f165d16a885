// Command crbench measures crrun's checkpoint and restore against the
// machine's raw limits. Run it through bench/crbench.sh (make bench), which
// builds it and passes --root; --help lists the knobs.
//
// Three groups of cases:
//
//   - memhog: dense random memory of 256 MiB, 1 GiB, 4 GiB with 1 and 8
//     threads, and a 4 GiB MAP_NORESERVE map with 16 MiB touched (below);
//   - threads: bench/threadhog.c with 250, 500 and 1000 blocking threads
//     (scenarios.go);
//   - tree: bench/treehog.c, 4 and 16 processes of 256 MiB each
//     (scenarios.go); a crrun that refuses process trees is reported as "not
//     supported by this build", not as a failure.
//
// For every memhog case and every repetition it:
//
//  1. runs `crrun --dir STORE -- memhog …` and waits until memhog has filled
//     its memory and its threads are rewriting it;
//  2. runs `crrun checkpoint --json PID` (the app keeps running) and records
//     total_ms, pause_ms, bytes, the app's own view of the stall (the largest
//     gap between its progress lines), and the du of the generation;
//  3. sends SIGUSR2: memhog checks its memory against its checksums, prints
//     VERIFY PASS or FAIL and exits;
//  4. restores the generation twice, with the image evicted from the page
//     cache (cold) and then cached (warm): from launching `crrun restore GEN`
//     to the restored memhog's first progress line; then SIGUSR2 again, so
//     every restore is verified too;
//  5. removes the store.
//
// Each round first measures the raw limits (process_vm_readv/writev, write
// with and without fdatasync, cold and cached reads, memcpy into fresh pages,
// CRC-32C) so that the ratios compare numbers taken under the same load.
// Rounds interleave the cases; the report gives medians.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type caseKind int

const (
	kindMemhog  caseKind = iota
	kindThreads          // threadhog: threads = worker threads
	kindTree             // treehog: procs processes of mib MiB each
)

// groupNames name the kinds in CRBENCH_CASES and CRBENCH_SKIP.
var groupNames = map[string]caseKind{"memhog": kindMemhog, "threads": kindThreads, "tree": kindTree}

// compressGroup names the cases of dense 1 GiB with each kind of data and
// each --compress (CRBENCH_CASES=compress).
const compressGroup = "compress"

type caseDef struct {
	name      string
	mib       int // size of the map (memhog); of each process's memory (tree)
	threads   int // memhog's threads; threadhog's workers
	sparseMiB int // touched MiB of a MAP_NORESERVE map; 0 = dense
	kind      caseKind
	procs     int // tree: processes, the main one included
	// memhog: what its words hold (memhog -d: "" = random, doubles,
	// zero) and the checkpoint's --compress ("" = crrun's default, auto).
	data, compress string
	compGroup      bool // in the group "compress" (and not in "memhog")
}

// threadKiB is the stack data every threadhog worker fills and rewrites.
const threadKiB = 64

var allCases = []caseDef{
	{name: "256m-1", mib: 256, threads: 1}, {name: "256m-8", mib: 256, threads: 8},
	{name: "1g-1", mib: 1024, threads: 1}, {name: "1g-8", mib: 1024, threads: 8},
	{name: "4g-1", mib: 4096, threads: 1}, {name: "4g-8", mib: 4096, threads: 8},
	{name: "sparse", mib: 4096, threads: 1, sparseMiB: 16},
	{name: "threads-250", threads: 250, kind: kindThreads},
	{name: "threads-500", threads: 500, kind: kindThreads},
	{name: "threads-1000", threads: 1000, kind: kindThreads},
	{name: "tree-4", mib: 256, procs: 4, kind: kindTree},
	{name: "tree-16", mib: 256, procs: 16, kind: kindTree},
	// Compression: 1g-1 above is random data with the default (auto).
	{name: "1g-random-zstd", mib: 1024, threads: 1, compress: "zstd", compGroup: true},
	{name: "1g-random-none", mib: 1024, threads: 1, compress: "none", compGroup: true},
	{name: "1g-doubles", mib: 1024, threads: 1, data: "doubles", compGroup: true},
	{name: "1g-doubles-zstd", mib: 1024, threads: 1, data: "doubles", compress: "zstd", compGroup: true},
	{name: "1g-doubles-none", mib: 1024, threads: 1, data: "doubles", compress: "none", compGroup: true},
	{name: "1g-zero", mib: 1024, threads: 1, data: "zero", compGroup: true},
	{name: "1g-zero-zstd", mib: 1024, threads: 1, data: "zero", compress: "zstd", compGroup: true},
	{name: "1g-zero-none", mib: 1024, threads: 1, data: "zero", compress: "none", compGroup: true},
}

func (c caseDef) dataBytes() int64 {
	switch {
	case c.kind == kindThreads:
		return int64(c.threads) * threadKiB << 10
	case c.kind == kindTree:
		return int64(c.procs) * int64(c.mib) << 20
	case c.sparseMiB > 0:
		return int64(c.sparseMiB) << 20
	}
	return int64(c.mib) << 20
}

func (c caseDef) big() bool { return c.dataBytes() >= 4<<30 }

func (c caseDef) desc() string {
	switch c.kind {
	case kindThreads:
		return fmt.Sprintf("%d threads", c.threads)
	case kindTree:
		return fmt.Sprintf("%d processes × %s", c.procs, sizeName(c.mib))
	}
	if c.sparseMiB > 0 {
		return fmt.Sprintf("sparse %s NORESERVE map, %d MiB touched", sizeName(c.mib), c.sparseMiB)
	}
	d := "dense " + sizeName(c.mib)
	if c.data != "" || c.compress != "" {
		data, comp := c.data, c.compress
		if data == "" {
			data = "random"
		}
		if comp == "" {
			comp = "auto"
		}
		d += fmt.Sprintf(" %s, --compress=%s", data, comp)
	}
	return d
}

func sizeName(mib int) string {
	if mib >= 1024 && mib%1024 == 0 {
		return fmt.Sprintf("%d GiB", mib/1024)
	}
	return fmt.Sprintf("%d MiB", mib)
}

type restoreResult struct {
	firstMS   float64 // launch -> first progress line of the restored app
	tookMS    float64 // crrun's own "restored … took="
	cachedPct float64 // page-cache residency of the image at launch
	cpuMS     float64 // the restoring crrun's threads on a CPU, launch to first progress
	waitMS    float64 // … and runnable, waiting for a CPU
	err       string  // the restore failed
}

type repResult struct {
	totalMS, pauseMS, cliMS float64
	bytes                   int64
	threads                 int
	du, apparent            int64
	stallMS                 float64
	fillMS                  float64
	cpuMS, waitMS           float64 // the supervisor's threads during the checkpoint: on a CPU, waiting for one
	cold, warm              restoreResult
}

type bench struct {
	root, crrunSrc, crrun, memhog, cc string
	threadhog, treehog                string
	work, ckpt, rt                    string // binaries+logs, checkpoint stores, control sockets
	reps, repsBig, rawMiB, progressMS int
	timeout                           time.Duration
	cases                             []caseDef
	writeDocs, corrupt                bool
	src, buf                          []byte
	env                               []string

	raw         map[string][]float64
	results     map[string][]repResult
	xresults    map[string][]xResult // threads and tree cases
	checks      map[string][2]int    // case -> {verifications passed, run}
	skipped     map[string]string
	unsupported map[string]string // case -> what this crrun refused (tree cases)
	errs        []string          // failed repetitions and other errors
	failures    []string          // integrity failures
	crrunNote   string
	crrunBuilt  time.Time // mtime of the crrun binary when it was copied
	started     time.Time
	loadStart   string
	freeStart   int64

	cleanOnce sync.Once
}

func logf(format string, a ...any) { fmt.Fprintf(os.Stderr, "crbench: "+format+"\n", a...) }

func envInt(name string, def int) (int, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive integer", name, s)
	}
	return v, nil
}

const usage = `crbench — checkpoint/restore benchmark of crrun (entry point: bash bench/crbench.sh)

Usage: bash bench/crbench.sh [--write-docs]
  --write-docs  also rewrite, in docs/benchmarks.md, the section of every group
                of cases that ran (checkpoint, checkpoint-threads,
                checkpoint-tree); the others are left as they are
Cases, in three groups:
  memhog   256m-1 256m-8 1g-1 1g-8 4g-1 4g-8 sparse  (bench/memhog.c: MiB-threads)
  threads  threads-250 threads-500 threads-1000      (bench/threadhog.c: N blocking
           threads with 64 KiB of stack data each, verified thread by thread)
  tree     tree-4 tree-16                            (bench/treehog.c: N processes
           of 256 MiB each; reported "not supported by this build" when crrun
           refuses process trees)
Environment:
  CRRUN                crrun binary (default <repo>/bin/crrun; copied at start)
  CRBENCH_REPS         repetitions (default 3); also rounds of raw-limit measurements
  CRBENCH_REPS_BIG     repetitions of the cases of 4 GiB or more: 4g-1 4g-8 tree-16 (default 1)
  CRBENCH_CASES        cases or groups to run (default: all of them), e.g.
                       CRBENCH_CASES=threads or CRBENCH_CASES="1g-8 tree"
  CRBENCH_SKIP         cases or groups to leave out, e.g. CRBENCH_SKIP="threads tree"
  CRBENCH_DIR          where checkpoints and the raw write test go (default $TMPDIR or /tmp)
  CRBENCH_RAW_MIB      size of the raw-limit measurements (default 1024)
  CRBENCH_PROGRESS_MS  memhog's progress interval (default 5)
  CRBENCH_TIMEOUT      seconds before one step is given up (default 300)
  CRBENCH_CORRUPT=1    the apps corrupt a word before verifying: tests that FAIL is loud
  CC                   C compiler for the apps (default gcc)
The run skips a case, with a note, when the checkpoint file system has less
than 3x its image size free or MemAvailable is short. Everything it starts is
killed and reaped, and its directories removed, on every exit path.
`

func main() {
	var root string
	var writeDocs bool
	fs := flag.NewFlagSet("crbench", flag.ContinueOnError)
	fs.StringVar(&root, "root", ".", "the crrun source tree")
	fs.BoolVar(&writeDocs, "write-docs", false, "rewrite the checkpoint section of docs/benchmarks.md")
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if fs.NArg() != 0 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	closeInherited()
	b, err := configure(root, writeDocs)
	if err != nil {
		logf("%v", err)
		os.Exit(2)
	}
	os.Exit(b.run())
}

// closeInherited marks every inherited fd but stdio close-on-exec: Go's
// exec does not close them, and crrun rightly refuses to checkpoint an app
// holding, say, a make jobserver pipe.
func closeInherited() {
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

func configure(root string, writeDocs bool) (*bench, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, "bench", "memhog.c")); err != nil {
		return nil, fmt.Errorf("--root %s: no bench/memhog.c there", root)
	}
	b := &bench{root: root, writeDocs: writeDocs, raw: map[string][]float64{}, results: map[string][]repResult{},
		xresults: map[string][]xResult{}, checks: map[string][2]int{}, skipped: map[string]string{},
		unsupported: map[string]string{}}
	b.crrunSrc = os.Getenv("CRRUN")
	if b.crrunSrc == "" {
		b.crrunSrc = filepath.Join(root, "bin", "crrun")
	}
	b.cc = os.Getenv("CC")
	if b.cc == "" {
		b.cc = "gcc"
	}
	if b.reps, err = envInt("CRBENCH_REPS", 3); err != nil {
		return nil, err
	}
	if b.repsBig, err = envInt("CRBENCH_REPS_BIG", 1); err != nil {
		return nil, err
	}
	if b.rawMiB, err = envInt("CRBENCH_RAW_MIB", 1024); err != nil {
		return nil, err
	}
	if b.progressMS, err = envInt("CRBENCH_PROGRESS_MS", 5); err != nil {
		return nil, err
	}
	t, err := envInt("CRBENCH_TIMEOUT", 300)
	if err != nil {
		return nil, err
	}
	b.timeout = time.Duration(t) * time.Second
	b.corrupt = os.Getenv("CRBENCH_CORRUPT") == "1"
	want := allCases
	if s := os.Getenv("CRBENCH_CASES"); strings.TrimSpace(s) != "" {
		sel, err := selectCases("CRBENCH_CASES", s)
		if err != nil {
			return nil, err
		}
		want = sel
	}
	skip, err := selectCases("CRBENCH_SKIP", os.Getenv("CRBENCH_SKIP"))
	if err != nil {
		return nil, err
	}
	// In allCases' order: the rounds run them in this order.
	for _, c := range allCases {
		if slices.ContainsFunc(want, c.is) && !slices.ContainsFunc(skip, c.is) {
			b.cases = append(b.cases, c)
		}
	}
	if len(b.cases) == 0 {
		return nil, errors.New("CRBENCH_CASES and CRBENCH_SKIP leave no case to run")
	}
	return b, nil
}

func (c caseDef) is(d caseDef) bool { return c.name == d.name }

// selectCases parses a list of case and group names (space or comma separated).
func selectCases(env, s string) ([]caseDef, error) {
	var out []caseDef
	for _, n := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if k, ok := groupNames[n]; ok {
			for _, c := range allCases {
				if c.kind == k && !c.compGroup {
					out = append(out, c)
				}
			}
			continue
		}
		if n == compressGroup {
			for _, c := range allCases {
				if c.compGroup || c.name == "1g-1" {
					out = append(out, c)
				}
			}
			continue
		}
		i := slices.IndexFunc(allCases, func(c caseDef) bool { return c.name == n })
		if i < 0 {
			return nil, fmt.Errorf("%s: unknown case or group %q (groups: memhog threads tree compress; cases: %s)", env, n, caseNames(allCases))
		}
		out = append(out, allCases[i])
	}
	return out, nil
}

// has says whether a case of kind k was selected.
func (b *bench) has(k caseKind) bool {
	return slices.ContainsFunc(b.cases, func(c caseDef) bool { return c.kind == k })
}

// needRaw says whether round needs the raw limits: a memhog or tree case
// will run in it.
func (b *bench) needRaw(round int) bool {
	return slices.ContainsFunc(b.cases, func(c caseDef) bool {
		return c.kind != kindThreads && round <= b.repsFor(c) && b.skipped[c.name] == "" && b.unsupported[c.name] == ""
	})
}

func (b *bench) repsFor(c caseDef) int {
	if c.big() {
		return b.repsBig
	}
	return b.reps
}

// stopping is set when a signal arrived: the signal's goroutine cleans up and
// exits, and the main flow must not start anything meanwhile.
var stopping atomic.Bool

// halt parks the main flow for good once a signal arrived.
func halt() {
	if stopping.Load() {
		select {}
	}
}

// removeAll removes dir, retrying once: a file created concurrently makes
// os.RemoveAll fail with ENOTEMPTY.
func removeAll(dir string) {
	if os.RemoveAll(dir) != nil {
		time.Sleep(100 * time.Millisecond)
		if err := os.RemoveAll(dir); err != nil {
			logf("warning: %v", err)
		}
	}
}

func (b *bench) cleanup() {
	b.cleanOnce.Do(func() {
		shutdown()
		if b.work != "" {
			if n := sweep(b.work); n > 0 {
				logf("warning: killed %d leftover process(es) started from %s", n, b.work)
				b.errs = append(b.errs, fmt.Sprintf("%d leftover process(es) had to be killed at the end", n))
			}
			removeAll(b.work)
		}
		if b.ckpt != "" {
			removeAll(b.ckpt)
		}
	})
}

func (b *bench) run() int {
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigc
		stopping.Store(true)
		logf("interrupted by %v: killing everything this run started, removing its directories", s)
		b.cleanup()
		os.Exit(128 + int(s.(syscall.Signal)))
	}()
	defer b.cleanup()
	b.started = time.Now()
	b.loadStart = loadAvg()

	if err := b.setup(); err != nil {
		logf("%v", err)
		return 1
	}
	logf("checkpoints go to %s (%s free); cases: %s; %d rep(s), %d for the cases of 4 GiB or more",
		b.ckpt, fmtSize(float64(b.freeStart)), caseNames(b.cases), b.reps, b.repsBig)

	rounds := 0
	for _, c := range b.cases {
		rounds = max(rounds, b.repsFor(c))
	}
	for round := 1; round <= rounds; round++ {
		halt()
		if round <= b.reps && b.needRaw(round) {
			logf("round %d/%d: raw limits (%d MiB)", round, rounds, b.rawMiB)
			r, err := b.rawRound(round)
			halt()
			if err != nil {
				b.errs = append(b.errs, fmt.Sprintf("raw limits, round %d: %v", round, err))
				logf("raw limits failed: %v", err)
			} else {
				var parts []string
				for _, k := range rawOrder {
					b.raw[k] = append(b.raw[k], r[k])
					parts = append(parts, fmt.Sprintf("%s=%.0f", k, r[k]))
				}
				logf("  MiB/s: %s", strings.Join(parts, " "))
			}
		}
		if b.crrunNote != "" {
			continue
		}
		for _, c := range b.cases {
			if round > b.repsFor(c) || b.skipped[c.name] != "" || b.unsupported[c.name] != "" {
				continue
			}
			if why := b.noRoom(c); why != "" {
				b.skipped[c.name] = why
				logf("%s: skipped: %s", c.name, why)
				continue
			}
			if c.kind != kindMemhog {
				logf("round %d/%d: %s", round, rounds, c.desc())
				halt()
				b.runScenario(c, round)
				halt()
				continue
			}
			logf("round %d/%d: %s, %d thread(s)", round, rounds, c.desc(), c.threads)
			halt()
			r, err := b.runRep(c, round)
			halt()
			if err != nil {
				b.errs = append(b.errs, fmt.Sprintf("%s rep %d: %v", c.name, round, err))
				logf("  %s rep %d FAILED: %v", c.name, round, err)
				continue
			}
			b.results[c.name] = append(b.results[c.name], r)
			logf("  checkpoint total %.0f ms, pause %.0f ms, stall %.0f ms, %s, du %s; restore first progress cold %.0f ms, warm %.0f ms",
				r.totalMS, r.pauseMS, r.stallMS, fmtSize(float64(r.bytes)), fmtSize(float64(r.du)), r.cold.firstMS, r.warm.firstMS)
		}
	}
	halt()
	b.cleanup()
	rc := 0
	docs := filepath.Join(b.root, "docs", "benchmarks.md")
	for _, sec := range b.sections() {
		fmt.Print(sec.body)
		if !b.writeDocs {
			continue
		}
		if err := writeDocs(docs, sec.mark, sec.intro, sec.body); err != nil {
			logf("writing the docs: %v", err)
			rc = 1
		} else {
			logf("wrote the %s section of docs/benchmarks.md", sec.mark)
		}
	}
	if len(b.failures) > 0 {
		bar := strings.Repeat("!", 72)
		fmt.Fprintf(os.Stderr, "\n%s\ncrbench: INTEGRITY FAIL — memory or threads differed after checkpoint or restore:\n", bar)
		for _, f := range b.failures {
			fmt.Fprintf(os.Stderr, "  %s\n", f)
		}
		fmt.Fprintf(os.Stderr, "%s\n", bar)
		rc = 1
	}
	if len(b.errs) > 0 || (b.crrunNote != "" && !strings.Contains(b.crrunNote, "does not exist")) {
		rc = 1
	}
	logf("done in %s", time.Since(b.started).Round(time.Second))
	return rc
}

func caseNames(cs []caseDef) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.name)
	}
	return strings.Join(s, " ")
}

func (b *bench) setup() error {
	tmp := os.Getenv("TMPDIR")
	if tmp == "" {
		tmp = "/tmp"
	}
	var err error
	if b.work, err = os.MkdirTemp(tmp, "crbench."); err != nil {
		return err
	}
	base := os.Getenv("CRBENCH_DIR")
	if base == "" {
		base = tmp
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return err
	}
	if b.ckpt, err = os.MkdirTemp(base, "crbench-ckpt."); err != nil {
		return err
	}
	b.freeStart = freeBytes(b.ckpt)
	b.rt = filepath.Join(b.work, "rt")
	if err := os.Mkdir(b.rt, 0o700); err != nil {
		return err
	}
	b.env = append(slices.DeleteFunc(os.Environ(), func(s string) bool {
		return strings.HasPrefix(s, "CRRUN_RUNTIME_DIR=")
	}), "CRRUN_RUNTIME_DIR="+b.rt)

	for _, app := range []struct {
		name string
		bin  *string
	}{{"memhog", &b.memhog}, {"threadhog", &b.threadhog}, {"treehog", &b.treehog}} {
		*app.bin = filepath.Join(b.work, app.name)
		cc := exec.Command(b.cc, "-O2", "-Wall", "-Wextra", "-pthread", "-o", *app.bin, filepath.Join(b.root, "bench", app.name+".c"))
		if out, err := cc.CombinedOutput(); err != nil {
			return fmt.Errorf("compiling bench/%s.c: %v\n%s", app.name, err, out)
		}
	}
	b.src = randomBuf(chunk)
	b.buf = make([]byte, chunk)

	// A private copy: a rebuild of bin/crrun during the run changes nothing.
	b.crrun = filepath.Join(b.work, "crrun")
	if st, err := os.Stat(b.crrunSrc); err != nil {
		b.crrunNote = fmt.Sprintf("crrun cases skipped: %s does not exist (run `make build` first, or set CRRUN).", b.crrunSrc)
	} else if st.Mode()&0o111 == 0 {
		b.crrunNote = fmt.Sprintf("crrun cases skipped: %s is not executable.", b.crrunSrc)
	} else if err := copyFile(b.crrunSrc, b.crrun); err != nil {
		return err
	} else {
		b.crrunBuilt = st.ModTime()
		errPath := filepath.Join(b.work, "smoke.err")
		c, err := start("crrun smoke test", []string{b.crrun, "--", "/bin/true"}, b.env, errPath, nil)
		if err != nil {
			return err
		}
		if !c.wait(60 * time.Second) {
			c.kill(time.Second)
		}
		if d := c.exitDesc(); d != "exit 0" {
			b.crrunNote = fmt.Sprintf("crrun cases skipped: `crrun -- /bin/true` failed (%s): %s", d, readTail(errPath))
		}
	}
	if b.crrunNote != "" {
		logf("%s", b.crrunNote)
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func freeBytes(dir string) int64 {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return -1
	}
	return int64(st.Bavail) * st.Bsize
}

func memAvailable() int64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "MemAvailable:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// noRoom says why case c cannot run now, or "".
func (b *bench) noRoom(c caseDef) string {
	need := c.dataBytes()
	if free := freeBytes(b.ckpt); free >= 0 && free < 3*need {
		return fmt.Sprintf("%s free in %s, less than 3x the ~%s image", fmtSize(float64(free)), b.ckpt, fmtSize(float64(need)))
	}
	// The app, the restored app and the page cache of the image it is
	// restored from can coexist for a moment.
	if avail := memAvailable(); avail >= 0 && avail < need*3/2+(512<<20) {
		return fmt.Sprintf("MemAvailable %s, short of 1.5x the %s the app fills plus 512 MiB", fmtSize(float64(avail)), fmtSize(float64(need)))
	}
	return ""
}

var (
	ckptLogRE    = regexp.MustCompile(`checkpoint written to \S+ pause=(\S+) total=(\S+)`)
	restoreLogRE = regexp.MustCompile(`restored .*took=(\S+)`)
)

func logDuration(path string, re *regexp.Regexp, group int) float64 {
	data, _ := os.ReadFile(path)
	m := re.FindAllStringSubmatch(string(data), -1)
	if len(m) == 0 {
		return -1
	}
	d, err := time.ParseDuration(m[len(m)-1][group])
	if err != nil {
		return -1
	}
	return float64(d) / float64(time.Millisecond)
}

type ckptJSON struct {
	Dir     string `json:"dir"`
	PauseMS int64  `json:"pause_ms"`
	TotalMS int64  `json:"total_ms"`
	Bytes   int64  `json:"bytes"`
	Threads int    `json:"threads"`
	// Processes: engines that save process trees report it (0: absent).
	Processes int `json:"processes"`
}

// verifyOutcome records the memhog's VERIFY line; an error if there is none.
func (b *bench) verifyOutcome(c caseDef, rep int, what string, out *lineLog, proc *child) error {
	v, _, err := out.waitFor("VERIFY", 0, b.timeout)
	n := b.checks[c.name]
	n[1]++
	if err != nil {
		b.checks[c.name] = n
		return fmt.Errorf("%s: no verification result: %v (output: %s)", what, err, out.tail(3))
	}
	if strings.HasPrefix(v.text, "VERIFY PASS") {
		n[0]++
		if _, g, ok := strings.Cut(v.text, "maxgap_ms="); ok {
			// memhog's own largest stall, from its clock (since "ready")
			logf("  %s rep %d, %s: the app's own largest stall %s ms", c.name, rep, what, g)
		}
	} else {
		b.failures = append(b.failures, fmt.Sprintf("%s rep %d, %s: %s", c.name, rep, what, v.text))
		logf("  !!! %s rep %d, %s: %s", c.name, rep, what, v.text)
	}
	b.checks[c.name] = n
	if !proc.wait(b.timeout) {
		return fmt.Errorf("%s: crrun did not exit after the verification", what)
	}
	return nil
}

func (b *bench) runRep(c caseDef, rep int) (repResult, error) {
	var r repResult
	store := filepath.Join(b.ckpt, fmt.Sprintf("%s-r%d", c.name, rep))
	if err := os.Mkdir(store, 0o755); err != nil {
		return r, err
	}
	defer os.RemoveAll(store)
	tag := fmt.Sprintf("%s-r%d", c.name, rep)

	argv := []string{b.crrun, "--dir", store, "--", b.memhog, "-m", strconv.Itoa(c.mib), "-t", strconv.Itoa(c.threads),
		"-p", strconv.Itoa(b.progressMS)}
	if c.sparseMiB > 0 {
		argv = append(argv, "-s", strconv.Itoa(c.sparseMiB))
	}
	if c.data != "" {
		argv = append(argv, "-d", c.data)
	}
	if b.corrupt {
		argv = append(argv, "-c")
	}
	out := newLineLog()
	runErr := filepath.Join(b.work, tag+"-run.err")
	app, err := start("crrun run", argv, b.env, runErr, out)
	if err != nil {
		return r, err
	}
	defer app.kill(2 * time.Second)
	line, _, err := out.waitFor("MEMHOG ready", 0, b.timeout)
	if err != nil {
		return r, fmt.Errorf("memhog under crrun: %v (crrun: %s)", err, readTail(runErr))
	}
	rd, err := parseReady(line.text)
	if err != nil {
		return r, err
	}
	r.fillMS = rd.fillMS
	time.Sleep(300 * time.Millisecond) // threads busy rewriting, progress flowing

	cpOut := newLineLog()
	cpErr := filepath.Join(b.work, tag+"-checkpoint.err")
	cpu0, wait0 := schedSum(app.pid)
	t0 := time.Now()
	cpArgv := []string{b.crrun, "checkpoint", "--json"}
	if c.compress != "" {
		cpArgv = append(cpArgv, "--compress="+c.compress)
	}
	cp, err := start("crrun checkpoint", append(cpArgv, strconv.Itoa(app.pid)), b.env, cpErr, cpOut)
	if err != nil {
		return r, err
	}
	if !cp.wait(b.timeout) {
		cp.kill(time.Second)
		return r, fmt.Errorf("crrun checkpoint: no answer within %v", b.timeout)
	}
	t1 := time.Now()
	cpu1, wait1 := schedSum(app.pid)
	r.cpuMS, r.waitMS = ms(cpu1-cpu0), ms(wait1-wait0)
	r.cliMS = ms(t1.Sub(t0))
	if d := cp.exitDesc(); d != "exit 0" {
		return r, fmt.Errorf("crrun checkpoint: %s: %s; supervisor: %s", d, readTail(cpErr), readTail(runErr))
	}
	js, _, err := cpOut.waitFor("{", 0, 5*time.Second)
	if err != nil {
		return r, fmt.Errorf("crrun checkpoint --json: %v", err)
	}
	var res ckptJSON
	if err := json.Unmarshal([]byte(js.text), &res); err != nil {
		return r, fmt.Errorf("crrun checkpoint --json: %v: %q", err, js.text)
	}
	r.totalMS, r.pauseMS, r.bytes, r.threads = float64(res.TotalMS), float64(res.PauseMS), res.Bytes, res.Threads
	if res.Threads != c.threads {
		b.errs = append(b.errs, fmt.Sprintf("%s rep %d: checkpoint saved %d threads, memhog runs %d", c.name, rep, res.Threads, c.threads))
	}

	// The app's view: the largest gap between its progress lines that
	// overlaps the checkpoint.
	if err := waitLineAfter(out, "P ", t1, 10*time.Second); err != nil {
		return r, fmt.Errorf("no progress after the checkpoint: %v", err)
	}
	var prev time.Time
	for _, l := range out.snapshot() {
		if !strings.HasPrefix(l.text, "P ") {
			continue
		}
		if !prev.IsZero() && l.t.After(t0) && prev.Before(t1) {
			r.stallMS = max(r.stallMS, float64(l.t.Sub(prev))/float64(time.Millisecond))
		}
		prev = l.t
	}
	app.signal(syscall.SIGUSR2)
	if err := b.verifyOutcome(c, rep, "after the checkpoint (app kept running)", out, app); err != nil {
		return r, err
	}
	if p := logDuration(runErr, ckptLogRE, 1); p >= 0 && (p < r.pauseMS-1 || p > r.pauseMS+1) {
		logf("  note: log pause %.0f ms vs JSON %.0f ms", p, r.pauseMS)
	}
	r.du, r.apparent = diskUsage(res.Dir)

	for i, rr := range []*restoreResult{&r.cold, &r.warm} {
		mode := [2]string{"cold", "warm"}[i]
		if err := b.restoreOnce(c, rep, mode, res.Dir, rr); err != nil {
			halt()
			rr.err, rr.firstMS, rr.tookMS = err.Error(), -1, -1
			b.errs = append(b.errs, fmt.Sprintf("%s rep %d: restore (%s cache): %v", c.name, rep, mode, err))
			logf("  %s rep %d: restore (%s cache) FAILED: %v", c.name, rep, mode, err)
		}
	}
	return r, nil
}

// startRestore launches `crrun restore gen` (after dropping the image from
// the page cache for a cold run, and noting in *cachedPct how much of it is
// cached): the process, its output, its stderr file and the launch time.
func (b *bench) startRestore(c caseDef, rep int, mode, gen string, cachedPct *float64) (*child, *lineLog, string, time.Time, error) {
	if mode == "cold" {
		if err := evictDir(gen); err != nil {
			return nil, nil, "", time.Time{}, fmt.Errorf("evicting the image from the page cache: %v", err)
		}
	}
	*cachedPct = 100 * cachedFraction(gen)
	out := newLineLog()
	rsErr := filepath.Join(b.work, fmt.Sprintf("%s-r%d-restore-%s.err", c.name, rep, mode))
	t0 := time.Now()
	rs, err := start("crrun restore", []string{b.crrun, "restore", gen}, b.env, rsErr, out)
	return rs, out, rsErr, t0, err
}

// restoreOnce restores gen, times it to the first progress line, and has
// the restored memhog verify its memory.
func (b *bench) restoreOnce(c caseDef, rep int, mode, gen string, rr *restoreResult) error {
	rs, out, rsErr, t0, err := b.startRestore(c, rep, mode, gen, &rr.cachedPct)
	if err != nil {
		return err
	}
	defer rs.kill(2 * time.Second) // reaps; no-op once it exited
	p, _, err := out.waitFor("P ", 0, b.timeout)
	if err != nil {
		rs.kill(2 * time.Second)
		return fmt.Errorf("%v; crrun: %s", err, readTail(rsErr))
	}
	rr.firstMS = ms(p.t.Sub(t0))
	cpu, wait := schedSum(rs.pid)
	rr.cpuMS, rr.waitMS = ms(cpu), ms(wait)
	rs.signal(syscall.SIGUSR2)
	if err := b.verifyOutcome(c, rep, "after restore ("+mode+" cache)", out, rs); err != nil {
		return err
	}
	rr.tookMS = logDuration(rsErr, restoreLogRE, 1)
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// waitLineAfter waits for a line starting with prefix that arrived after t.
func waitLineAfter(l *lineLog, prefix string, t time.Time, timeout time.Duration) error {
	end := time.Now().Add(timeout)
	from := 0
	for {
		s, i, err := l.waitFor(prefix, from, time.Until(end))
		if err != nil {
			return err
		}
		if s.t.After(t) {
			return nil
		}
		from = i + 1
	}
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
