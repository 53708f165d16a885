package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// checkpoint throughput >= 50 % of min(process_vm_readv, write+fdatasync)
const targetPct = 50

// The memhog section's heading and intro, used only when docs/benchmarks.md
// has no checkpoint markers yet (^ stands for a backquote).
var docsIntro = strings.ReplaceAll(`
## Checkpoint and restore

What ^crrun checkpoint^ and ^crrun restore^ cost, next to what this machine can
move. ^bench/crbench.sh^ (the second step of ^make bench^) builds the Go driver
^bench/crbench^ and ^bench/memhog.c^, an app that fills its memory with
pseudo-random data and keeps every thread rewriting it under a running
checksum. For each case (dense 256 MiB, 1 GiB and 4 GiB with 1 and 8 threads; a
4 GiB MAP_NORESERVE map with 16 MiB touched) it runs memhog under
^crrun --dir^, checkpoints it with ^crrun checkpoint --json^ while it runs, restores
the image twice with ^crrun restore^ (evicted from the page cache, then cached),
timing each to the restored app's first progress line, and has memhog verify
its memory after the checkpoint and after every restore: a FAIL is printed in
bold here and makes the run exit 1. Each round first measures the raw limits
(process_vm_readv and _writev, writes with and without fdatasync, memcpy into
fresh pages) so that ratios compare numbers taken under the same load.

Target (reported, not asserted): checkpoint throughput ≥ 50 % of the slower of
process_vm_readv and write + fdatasync. Defaults: 3 repetitions, 1 for the
cases of 4 GiB or more (^CRBENCH_REPS^, ^CRBENCH_REPS_BIG^), so that the
whole run, with the threads and process-tree cases of the next sections,
stays well under 10 minutes; a case is skipped, with a note, when the
checkpoint file system has less than 3× its image free. ^CRBENCH_CASES^ and
^CRBENCH_SKIP^ take case names or the groups ^memhog^ (this section),
^threads^ and ^tree^; ^--write-docs^ rewrites the section of every group that
ran and leaves the others alone. Everything the run starts is killed and
reaped and its checkpoint directories removed, on failures and Ctrl-C too.
Other knobs: ^bash bench/crbench.sh --help^. As above, the VM is shared and
noisy: the "where the time goes" table says how long crrun waited for a CPU.
`, "^", "`")

type stat struct {
	n             int
	med, min, max float64
}

func stats(v []float64) stat {
	if len(v) == 0 {
		return stat{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return stat{n, med, s[0], s[n-1]}
}

func fmtMS(ms float64) string {
	switch {
	case ms < 0:
		return "–"
	case ms < 1000:
		return fmt.Sprintf("%.0f ms", ms)
	case ms < 10000:
		return fmt.Sprintf("%.2f s", ms/1000)
	}
	return fmt.Sprintf("%.1f s", ms/1000)
}

func fmtRate(mibps float64) string {
	if mibps >= 100 {
		return fmt.Sprintf("%.0f MiB/s", mibps)
	}
	return fmt.Sprintf("%.1f MiB/s", mibps)
}

func fmtSize(bytes float64) string {
	switch {
	case bytes >= 1<<30:
		return fmt.Sprintf("%.2f GiB", bytes/(1<<30))
	case bytes >= 1<<20:
		return fmt.Sprintf("%.1f MiB", bytes/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", bytes/(1<<10))
}

// cell is the median, with the min–max range when there is more than one value.
func cell(v []float64, f func(float64) string) string {
	s := stats(v)
	if s.n == 0 {
		return "–"
	}
	if s.n == 1 || s.min == s.max {
		return f(s.med)
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.med), strings.Fields(f(s.min))[0], strings.Fields(f(s.max))[0])
}

// cellMS keeps min and max in the median's unit.
func cellMS(v []float64) string {
	s := stats(v)
	if s.n == 0 {
		return "–"
	}
	if s.n == 1 || s.min == s.max {
		return fmtMS(s.med)
	}
	if s.med >= 1000 {
		return fmt.Sprintf("%s (%.2f–%.2f)", fmtMS(s.med), s.min/1000, s.max/1000)
	}
	return fmt.Sprintf("%s (%.0f–%.0f)", fmtMS(s.med), s.min, s.max)
}

// restoreCell is the first-progress cell of one restore mode, failures loud.
func restoreCell(rs []repResult, get func(repResult) restoreResult) string {
	var v []float64
	failed := 0
	for _, r := range rs {
		if x := get(r); x.err != "" {
			failed++
		} else {
			v = append(v, x.firstMS)
		}
	}
	switch {
	case failed == len(rs):
		return "**failed** (see notes)"
	case failed > 0:
		return fmt.Sprintf("%s **(%d of %d failed)**", cellMS(v), failed, len(rs))
	}
	return cellMS(v)
}

func collect(rs []repResult, f func(repResult) float64) []float64 {
	var v []float64
	for _, r := range rs {
		if x := f(r); x >= 0 {
			v = append(v, x)
		}
	}
	return v
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(v), "%f", &kb)
			return fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	return "?"
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// fsOf describes the file system holding dir, from /proc/self/mountinfo.
func fsOf(dir string) string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	best, desc := -1, "?"
	for _, l := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 2 {
			continue
		}
		mp := f[4]
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > best {
			best, desc = len(mp), fmt.Sprintf("%s on %s (%s)", g[0], mp, g[1])
		}
	}
	return desc
}

func (b *bench) cmdline() string {
	var env []string
	for _, k := range []string{"CRBENCH_REPS", "CRBENCH_REPS_BIG", "CRBENCH_CASES", "CRBENCH_SKIP", "CRBENCH_DIR", "CRBENCH_RAW_MIB",
		"CRBENCH_PROGRESS_MS", "CRBENCH_TIMEOUT", "CRBENCH_CORRUPT", "CRRUN"} {
		if v := os.Getenv(k); v != "" {
			if strings.ContainsAny(v, " \t") {
				v = "'" + v + "'"
			}
			env = append(env, k+"="+v)
		}
	}
	s := strings.Join(append(env, "bash bench/crbench.sh"), " ")
	if b.writeDocs {
		s += " --write-docs"
	}
	return s
}

// section is one marked section of docs/benchmarks.md.
type section struct {
	mark, intro, body string
}

// sections are the report, one section per group of cases that ran.
func (b *bench) sections() []section {
	var out []section
	if b.has(kindMemhog) {
		out = append(out, section{"checkpoint", docsIntro, b.report()})
	}
	if b.has(kindThreads) {
		out = append(out, section{"checkpoint-threads", threadsIntro, b.threadsReport()})
	}
	if b.has(kindTree) {
		out = append(out, section{"checkpoint-tree", treeIntro, b.treeReport()})
	}
	return out
}

// ofKind keeps the entries of list (failures, errors: "CASE rep N…") that
// are about a case of kind k; those about no case are kept everywhere.
func ofKind(list []string, k caseKind) []string {
	var out []string
	for _, e := range list {
		name, _, _ := strings.Cut(e, " ")
		i := slices.IndexFunc(allCases, func(c caseDef) bool { return c.name == name })
		if i < 0 || allCases[i].kind == k {
			out = append(out, e)
		}
	}
	return out
}

// header writes the heading and the command/machine/crrun lines of a section.
func (b *bench) header(p func(string, ...any), k caseKind, what string) {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	kernel := unix.ByteSliceToString(uts.Release[:])
	p("### Latest measurement (%s)", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	p("")
	if f := ofKind(b.failures, k); len(f) > 0 {
		p("**INTEGRITY FAILURE: %s after a checkpoint or a restore (%d time(s)); see the notes.**", what, len(f))
		p("")
	}
	p("- Command: `%s` (took %s)", b.cmdline(), time.Since(b.started).Round(time.Second))
	p("- Machine: Linux %s, %s, nproc %d, RAM %s, transparent hugepages %s; load average %s at the start, %s at the end",
		kernel, cpuModel(), numCPU(), memTotal(), thp(), b.loadStart, loadAvg())
	p("- Checkpoint directory: %s, %s free at the start", fsOf(b.ckpt), fmtSize(float64(b.freeStart)))
	if !b.crrunBuilt.IsZero() {
		rel, _ := filepath.Rel(b.root, b.crrunSrc)
		if strings.HasPrefix(rel, "..") {
			rel = b.crrunSrc
		}
		p("- crrun: %s (built %s, copied at the start of the run)", rel, b.crrunBuilt.UTC().Format("2006-01-02 15:04 MST"))
	}
	bigNote := ""
	var big []string
	for _, c := range b.casesOf(k) {
		if c.big() && b.repsBig != b.reps {
			if c.kind == kindMemhog {
				big = append(big, fmt.Sprintf("%s with %d thread(s)", c.desc(), c.threads))
			} else {
				big = append(big, c.desc())
			}
		}
	}
	if len(big) > 0 {
		bigNote = fmt.Sprintf(", %d for %s (CRBENCH_REPS_BIG, to keep the run short)", b.repsBig, strings.Join(big, ", "))
	}
	raw := " and start with the raw limits"
	if k == kindThreads {
		raw = ""
	}
	p("- Repetitions: %d%s; cells are medians, with (min–max) when there are several values; rounds interleave the cases%s.", b.reps, bigNote, raw)
}

func (b *bench) report() string {
	var w strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&w, format+"\n", a...) }
	b.header(p, kindMemhog, "memhog found its memory changed")
	p("")

	// Raw limits.
	raw := func(k string) float64 { return stats(b.raw[k]).med }
	p("Raw limits of this machine, same run (MiB/s):")
	p("")
	p("| limit | how | median | min–max | n |")
	p("|---|---|--:|--:|--:|")
	size := sizeName(b.rawMiB)
	for _, k := range rawOrder {
		s := stats(b.raw[k])
		how := rawWhat[k][1]
		if strings.Contains(how, "%s") {
			how = fmt.Sprintf(how, size)
		}
		rng := "–"
		if s.n > 1 {
			rng = fmt.Sprintf("%.0f–%.0f", s.min, s.max)
		}
		med := "–"
		if s.n > 0 {
			med = fmtRate(s.med)
		}
		p("| %s | %s | %s | %s | %d |", rawWhat[k][0], how, med, rng, s.n)
	}
	p("")

	floor := min(raw(rawReadv), raw(rawWriteSync))
	target := floor * targetPct / 100
	which := "process_vm_readv"
	if raw(rawWriteSync) < raw(rawReadv) {
		which = "write + fdatasync"
	}
	p("Checkpoint (`crrun checkpoint --json`; the app keeps running). Target: throughput ≥ %d %% of the slower of process_vm_readv and write + fdatasync (here %s, %s) = %s.",
		targetPct, which, fmtRate(floor), fmtRate(target))
	p("")
	p("| case | threads | n | saved | image (du) | total | pause | throughput | ÷ readv | ÷ write+sync | target | result |")
	p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, c := range b.casesOf(kindMemhog) {
		rs := b.results[c.name]
		if why := b.skipped[c.name]; why != "" && len(rs) == 0 {
			p("| %s | %d | 0 | skipped: %s | | | | | | | | |", c.desc(), c.threads, why)
			continue
		}
		if len(rs) == 0 {
			p("| %s | %d | 0 | failed (see notes) | | | | | | | | **fail** |", c.desc(), c.threads)
			continue
		}
		thr := collect(rs, func(r repResult) float64 { return float64(r.bytes) / (1 << 20) / (r.totalMS / 1000) })
		tm := stats(thr).med
		res := "**miss**"
		if floor == 0 {
			res = "no raw data"
		} else if tm >= target {
			res = "pass"
		}
		ratio := func(d float64) string {
			if d == 0 {
				return "–"
			}
			return fmt.Sprintf("%.0f %%", 100*tm/d)
		}
		p("| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |", c.desc(), c.threads, len(rs),
			fmtSize(stats(collect(rs, func(r repResult) float64 { return float64(r.bytes) })).med),
			fmtSize(stats(collect(rs, func(r repResult) float64 { return float64(r.du) })).med),
			cellMS(collect(rs, func(r repResult) float64 { return r.totalMS })),
			cellMS(collect(rs, func(r repResult) float64 { return r.pauseMS })),
			cell(thr, fmtRate), ratio(raw(rawReadv)), ratio(raw(rawWriteSync)), fmtRate(target), res)
	}
	p("")
	b.compressionReport(p)

	p("Where the time goes (medians). crrun's threads' time on a CPU and runnable but waiting for one (/proc/PID/task/*/schedstat of the supervisor during the checkpoint, of the restoring crrun from launch to first progress); what is left of the wall time is spent blocked (I/O, ptrace stops, the app):")
	p("")
	p("| case | threads | checkpoint: total | pause | total − pause | app stall | crrun on CPU | crrun waiting for CPU | saved / pause | restore (warm): first progress | crrun on CPU | crrun waiting for CPU |")
	p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, c := range b.casesOf(kindMemhog) {
		rs := b.results[c.name]
		if len(rs) == 0 {
			continue
		}
		med := func(get func(repResult) float64) string {
			s := stats(collect(rs, get))
			if s.n == 0 {
				return "–"
			}
			return fmtMS(s.med)
		}
		okWarm := func(get func(repResult) float64) func(repResult) float64 {
			return func(r repResult) float64 {
				if r.warm.err != "" {
					return -1
				}
				return get(r)
			}
		}
		pauseRate := stats(collect(rs, func(r repResult) float64 { return float64(r.bytes) / (1 << 20) / (r.pauseMS / 1000) }))
		p("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", c.desc(), c.threads,
			med(func(r repResult) float64 { return r.totalMS }),
			med(func(r repResult) float64 { return r.pauseMS }),
			med(func(r repResult) float64 { return r.totalMS - r.pauseMS }),
			med(func(r repResult) float64 { return r.stallMS }),
			med(func(r repResult) float64 { return r.cpuMS }),
			med(func(r repResult) float64 { return r.waitMS }),
			fmtRate(pauseRate.med),
			med(okWarm(func(r repResult) float64 { return r.warm.firstMS })),
			med(okWarm(func(r repResult) float64 { return r.warm.cpuMS })),
			med(okWarm(func(r repResult) float64 { return r.warm.waitMS })))
	}
	p("")

	p("Restore (`crrun restore GEN`, from launch to the restored app's first progress line) and integrity:")
	p("")
	p("| case | threads | n | first progress, cold cache | first progress, warm cache | crrun's took= (cold / warm) | warm rate | ÷ memcpy fresh | ÷ writev fresh | integrity checks |")
	p("|---|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, c := range b.casesOf(kindMemhog) {
		rs := b.results[c.name]
		ck := b.checks[c.name]
		integ := "–"
		if ck[1] > 0 {
			if ck[0] == ck[1] {
				integ = fmt.Sprintf("PASS %d/%d", ck[0], ck[1])
			} else {
				integ = fmt.Sprintf("**FAIL** (%d of %d checks failed)", ck[1]-ck[0], ck[1])
			}
		}
		if len(rs) == 0 {
			p("| %s | %d | 0 | | | | | | | %s |", c.desc(), c.threads, integ)
			continue
		}
		warm := stats(collect(rs, func(r repResult) float64 {
			if r.warm.err != "" {
				return -1
			}
			return float64(r.bytes) / (1 << 20) / (r.warm.firstMS / 1000)
		}))
		ratio := func(d float64) string {
			if d == 0 || warm.n == 0 {
				return "–"
			}
			return fmt.Sprintf("%.0f %%", 100*warm.med/d)
		}
		warmRate := "–"
		if warm.n > 0 {
			warmRate = fmtRate(warm.med)
		}
		took := func(get func(repResult) float64) string {
			s := stats(collect(rs, get))
			if s.n == 0 {
				return "–"
			}
			return fmtMS(s.med)
		}
		p("| %s | %d | %d | %s | %s | %s / %s | %s | %s | %s | %s |", c.desc(), c.threads, len(rs),
			restoreCell(rs, func(r repResult) restoreResult { return r.cold }),
			restoreCell(rs, func(r repResult) restoreResult { return r.warm }),
			took(func(r repResult) float64 { return r.cold.tookMS }),
			took(func(r repResult) float64 { return r.warm.tookMS }),
			warmRate, ratio(raw(rawMemcpy)), ratio(raw(rawWritev)), integ)
	}
	p("")

	p("Notes:")
	p("")
	p("- saved: the `bytes` of the checkpoint (memory pages written); image (du): allocated size of the generation directory, as `du -s`.")
	p("- total and pause: `total_ms` (freeze to durable commit) and `pause_ms` (freeze to the app running again) of `crrun checkpoint --json`; total − pause is what runs after the app resumed (the fdatasync of the files and the commit). App stall: the largest gap between memhog's progress lines (every %d ms, printed by its main thread) around the checkpoint, as the driver saw them arrive; it should be close to the pause.", b.progressMS)
	p("- throughput: saved / total, per repetition; ÷ readv and ÷ write+sync: its median over the raw medians above.")
	var cached []float64
	for _, rs := range b.results {
		for _, r := range rs {
			cached = append(cached, r.cold.cachedPct)
		}
	}
	p("- Restore cold: the image's files were fdatasync'ed and dropped from the page cache (POSIX_FADV_DONTNEED; %s of the image still resident at launch, median) — the host below this VM may still cache them. Warm: restored again right after, image cached. crrun's took= is its log line `restored … took=` (from the stub's exec to the threads' release). Warm rate: saved / warm first progress.",
		fmt.Sprintf("%.0f %%", stats(cached).med))
	p("- Integrity: memhog keeps a checksum of every thread's part of its memory while rewriting it; on SIGUSR2 it verifies all of it and prints PASS or FAIL. Checked in the original app after each checkpoint (it kept running) and in every restored app.")
	p("- Sparse case: a 4 GiB MAP_NORESERVE map with one touched page every 1 MiB (4096 pages, 16 MiB), so the checkpoint walks 1 Mi page-table entries for 16 MiB of data; memhog also checks that untouched pages still read zero.")
	var fills []string
	for _, c := range b.casesOf(kindMemhog) {
		if rs := b.results[c.name]; len(rs) > 0 {
			fills = append(fills, fmt.Sprintf("%s×%d %s", strings.TrimPrefix(c.desc(), "dense "), c.threads,
				fmtMS(stats(collect(rs, func(r repResult) float64 { return r.fillMS })).med)))
		}
	}
	if len(fills) > 0 {
		p("- memhog's initial fill (first touch + random data + checksum), for scale: %s. The raw limits use %s; where first touching memory is slow (a VM whose host backs guest memory lazily), larger cases pay more per GiB than those limits suggest, in the page cache the checkpoint writes into and in the pages the restore fills.", strings.Join(fills, ", "), sizeName(b.rawMiB))
	}
	if b.corrupt {
		p("- CRBENCH_CORRUPT=1: memhog corrupted a word before every verification on purpose; FAIL is the expected outcome.")
	}
	if b.crrunNote != "" {
		p("- %s", b.crrunNote)
	}
	for _, c := range b.casesOf(kindMemhog) {
		if why := b.skipped[c.name]; why != "" {
			p("- %s, %d thread(s) skipped: %s.", c.desc(), c.threads, why)
		}
	}
	b.problems(p, kindMemhog)
	return w.String()
}

// problems lists the integrity failures and errors of kind k's cases.
func (b *bench) problems(p func(string, ...any), k caseKind) {
	for _, f := range ofKind(b.failures, k) {
		p("- **INTEGRITY FAIL** %s", f)
	}
	for _, g := range groupErrors(ofKind(b.errs, k)) {
		if len(g.tags) > 1 {
			p("- Error, %d times (%s), the first: %s", len(g.tags), strings.Join(g.tags, ", "), g.first)
		} else {
			p("- Error: %s", g.first)
		}
	}
}

var (
	errTagRE   = regexp.MustCompile(`^(\S+ rep \d+): `)
	errNoiseRE = regexp.MustCompile(`/tmp/\S+|\b[0-9a-f]{8}\b|\d+`)
)

type errGroup struct {
	first string
	tags  []string
}

// groupErrors folds errors that differ only in their case, repetition,
// paths and numbers (one crrun bug fails every repetition alike).
func groupErrors(errs []string) []errGroup {
	var out []errGroup
	idx := map[string]int{}
	for _, e := range errs {
		e = strings.ReplaceAll(e, "\n", " ")
		tag := ""
		rest := e
		if m := errTagRE.FindStringSubmatch(e); m != nil {
			tag, rest = m[1], e[len(m[0]):]
		}
		key := errNoiseRE.ReplaceAllString(rest, "#")
		if i, ok := idx[key]; ok && tag != "" {
			out[i].tags = append(out[i].tags, tag)
			continue
		}
		idx[key] = len(out)
		g := errGroup{first: e}
		if tag != "" {
			g.tags = []string{tag}
		}
		out = append(out, g)
	}
	return out
}

func numCPU() int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil {
		return set.Count()
	}
	return 0
}

func thp() string {
	s := readTrim("/sys/kernel/mm/transparent_hugepage/enabled")
	if i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']'); i >= 0 && j > i {
		return s[i+1 : j]
	}
	return s
}

// writeDocs replaces the section marked mark of the docs file, adding the
// section (heading, intro, markers) at the end when it has none.
func writeDocs(path, mark, intro, section string) error {
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	doc := string(data)
	beginMark, endMark := "<!-- BEGIN "+mark+" -->", "<!-- END "+mark+" -->"
	if !strings.Contains(doc, beginMark) || !strings.Contains(doc, endMark) {
		if doc != "" && !strings.HasSuffix(doc, "\n") {
			doc += "\n"
		}
		doc += intro + "\n" + beginMark + "\n" + endMark + "\n"
	}
	i := strings.Index(doc, beginMark) + len(beginMark)
	j := strings.Index(doc, endMark)
	if j < i {
		return fmt.Errorf("%s: %q comes before %q", path, endMark, beginMark)
	}
	doc = doc[:i] + "\n" + section + doc[j:]
	return os.WriteFile(path, []byte(doc), 0o644)
}

// compressionPairs are the cases compared by compressionReport: per kind
// of data, the checkpoint with the default --compress=auto, with zstd and
// with none.
var compressionPairs = []struct{ data, auto, zstd, none string }{
	{"random (incompressible)", "1g-1", "1g-random-zstd", "1g-random-none"},
	{"doubles (numerical arrays)", "1g-doubles", "1g-doubles-zstd", "1g-doubles-none"},
	{"zero pages", "1g-zero", "1g-zero-zstd", "1g-zero-none"},
}

// compressionReport compares, for dense 1 GiB of each kind of data, the
// durable checkpoint with and without compression (issue 11's targets:
// ≥ 1 GB/s on numerical data, never more than 10 % slower than none on
// random data, and a 1 GiB checkpoint durable in ≤ 1.5 s).
func (b *bench) compressionReport(p func(string, ...any)) {
	med := func(name string, get func(repResult) float64) float64 {
		return stats(collect(b.results[name], get)).med
	}
	ran := false
	for _, c := range compressionPairs {
		for _, n := range []string{c.auto, c.zstd, c.none} {
			if len(b.results[n]) > 0 {
				ran = true
			}
		}
	}
	if !ran {
		return
	}
	const gbps = 1e9 / (1 << 20) // 1 GB/s in MiB/s
	p("Compression (`crrun checkpoint --compress=auto|zstd|none`, dense 1 GiB, 1 thread; memhog -d sets the data). Targets: ≥ 1 GB/s (%.0f MiB/s) durable for numerical data and zero pages; never more than 10 %% slower than none on random data; every 1 GiB checkpoint durable in ≤ 1.5 s. Cells: total (durable) time, throughput, image du ÷ memory saved:", gbps)
	p("")
	p("| data | auto (default) | zstd | none | auto ÷ none (time) | zstd ÷ none (time) | target | result (auto) |")
	p("|---|--:|--:|--:|--:|--:|---|---|")
	for _, c := range compressionPairs {
		total := func(n string) float64 { return med(n, func(r repResult) float64 { return r.totalMS }) }
		cellOf := func(n string) string {
			if len(b.results[n]) == 0 {
				return "not run"
			}
			thr := med(n, func(r repResult) float64 { return float64(r.bytes) / (1 << 20) / (r.totalMS / 1000) })
			du := med(n, func(r repResult) float64 { return float64(r.du) / float64(r.bytes) })
			return fmt.Sprintf("%s, %s, %.1f %%", fmtMS(total(n)), fmtRate(thr), 100*du)
		}
		ratio := func(n string) string {
			if len(b.results[n]) == 0 || len(b.results[c.none]) == 0 {
				return "–"
			}
			return fmt.Sprintf("%.0f %%", 100*total(n)/total(c.none))
		}
		res := "not run"
		target := "≥ 1 GB/s, ≤ 1.5 s"
		if c.auto == "1g-1" {
			target = "≤ 110 % of none, ≤ 1.5 s"
		}
		if len(b.results[c.auto]) > 0 && len(b.results[c.none]) > 0 {
			ta := total(c.auto)
			thr := med(c.auto, func(r repResult) float64 { return float64(r.bytes) / (1 << 20) / (r.totalMS / 1000) })
			ok := thr >= gbps && ta <= 1500
			if c.auto == "1g-1" {
				ok = ta <= 1.1*total(c.none) && ta <= 1500
			}
			res = "**miss**"
			if ok {
				res = "pass"
			}
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %s |", c.data, cellOf(c.auto), cellOf(c.zstd), cellOf(c.none), ratio(c.auto), ratio(c.zstd), target, res)
	}
	p("")
}
