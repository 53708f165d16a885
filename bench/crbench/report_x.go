package main

import (
	"fmt"
	"math"
	"strings"
)

// The sections of the threads and tree cases.

// The sections' headings and intros, used only when docs/benchmarks.md has
// no markers for them yet (^ stands for a backquote).
var (
	threadsIntro = strings.ReplaceAll(`
## Checkpoint and restore of many threads

^bench/threadhog.c^ starts N threads besides its main thread (cases
^threads-250^, ^threads-500^, ^threads-1000^). Every thread fills 64 KiB of
stack data and loops: it blocks for 50 ms — a quarter of the threads in
^pthread_cond_timedwait^, a quarter each in ^nanosleep^, ^poll^ and an
absolute ^clock_nanosleep^ — then overwrites the next word of its stack data
and increments its counter. The stack data is a function of (thread, counter),
so a thread can check every word of it. For each repetition crbench
checkpoints the app while it runs (^crrun checkpoint --json^), has it verify
itself, checkpoints it again with ^--exit^ (crrun must exit 75) and restores
that image twice (cold, then warm page cache), timed to the main thread's
first progress line; every restored app verifies itself too. A verification
passes when every thread answers within 10 s with its TID unchanged, its
counter on its stack equal to the one it published and its stack data intact,
and ^/proc/self/task^ counts N+1. The three sizes give the cost of one more
thread (the slope of a least-squares line). ^CRBENCH_CASES=threads^ runs only
these cases; ^CRBENCH_SKIP=threads^ leaves them out.
`, "^", "`")

	treeIntro = strings.ReplaceAll(`
## Checkpoint and restore of process trees

^bench/treehog.c^ forks into N processes (cases ^tree-4^, ^tree-16^), each of
which fills 256 MiB with a pattern of its own and keeps rewriting random words
of it under a running checksum (as memhog does), sleeping 1 ms between bursts;
they share nothing but stdout. The steps are those of the threads cases:
checkpoint while running, verify, ^checkpoint --exit^, restore cold and warm,
timed to the first progress line of the main process and to that of every
process. On SIGUSR2 every process checks its memory against its checksum, its
pid and (children) its parent, and prints its own PASS or FAIL. Throughput is
compared with the raw limits measured in the same run (process_vm_readv,
write + fdatasync), with memhog's 50 % target. A crrun that refuses process
trees (the one-process engine's NOCR reason "more than one process … not
supported yet") is reported as "not supported by this build" and the rows
stay pending; that is not an error. ^CRBENCH_CASES=tree^ runs only these
cases; ^CRBENCH_SKIP=tree^ leaves them out.
`, "^", "`")
)

func collectX(rs []xResult, f func(xResult) float64) []float64 {
	var v []float64
	for _, r := range rs {
		if x := f(r); x >= 0 {
			v = append(v, x)
		}
	}
	return v
}

// xRestoreCell is a restore cell: the median of the repetitions that worked,
// failures loud.
func xRestoreCell(rs []xResult, get func(xResult) xRestore, val func(xRestore) float64) string {
	var v []float64
	failed, why := 0, ""
	for _, r := range rs {
		if x := get(r); x.err != "" {
			failed++
			why = x.err
		} else {
			v = append(v, val(x))
		}
	}
	switch {
	case failed == len(rs) && strings.Contains(why, "not supported"):
		return "not supported by this build"
	case failed == len(rs):
		return "**failed** (see notes)"
	case failed > 0:
		return fmt.Sprintf("%s **(%d of %d failed)**", cellMS(v), failed, len(rs))
	}
	return cellMS(v)
}

func (b *bench) integrity(name string) string {
	ck := b.checks[name]
	switch {
	case ck[1] == 0:
		return "–"
	case ck[0] == ck[1]:
		return fmt.Sprintf("PASS %d/%d", ck[0], ck[1])
	}
	return fmt.Sprintf("**FAIL** (%d of %d checks failed)", ck[1]-ck[0], ck[1])
}

// fit is the least-squares line y = a + s·x.
func fit(xs, ys []float64) (a, s, r2 float64, ok bool) {
	n := float64(len(xs))
	if len(xs) < 2 {
		return 0, 0, 0, false
	}
	var sx, sy, sxx, sxy, syy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
		syy += ys[i] * ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0, 0, 0, false
	}
	s = (n*sxy - sx*sy) / d
	a = (sy - s*sx) / n
	vy := n*syy - sy*sy
	r2 = 1.0
	if vy > 0 {
		r2 = (n*sxy - sx*sy) * (n*sxy - sx*sy) / (d * vy)
	}
	return a, s, r2, true
}

// signed formats v with f, which takes non-negative values only.
func signed(v float64, f func(float64) string) string {
	if v < 0 {
		return "−" + f(-v)
	}
	return f(v)
}

// fmtPer is a small time: µs below 1 ms.
func fmtPer(ms float64) string {
	if math.Abs(ms) < 1 {
		return fmt.Sprintf("%.0f µs", ms*1000)
	}
	return fmt.Sprintf("%.2f ms", ms)
}

func (b *bench) threadsReport() string {
	var w strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&w, format+"\n", a...) }
	b.header(p, kindThreads, "a threadhog thread found its state changed or did not answer")
	p("")
	cases := b.casesOf(kindThreads)
	p("| threads | n | saved | image (du) | checkpoint: total | pause | app stall | crrun on CPU | `--exit`: total | restore: first progress, cold | first progress, warm | crrun's took= (cold / warm) | integrity checks |")
	p("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, c := range cases {
		rs := b.xresults[c.name]
		integ := b.integrity(c.name)
		if why := b.skipped[c.name]; why != "" && len(rs) == 0 {
			p("| %d | 0 | skipped: %s | | | | | | | | | | |", c.threads, why)
			continue
		}
		if len(rs) == 0 {
			p("| %d | 0 | failed (see notes) | | | | | | | | | | %s |", c.threads, integ)
			continue
		}
		med := func(f func(xResult) float64) string {
			s := stats(collectX(rs, f))
			if s.n == 0 {
				return "–"
			}
			return fmtMS(s.med)
		}
		p("| %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s |", c.threads, len(rs),
			fmtSize(stats(collectX(rs, func(r xResult) float64 { return float64(r.bytes) })).med),
			fmtSize(stats(collectX(rs, func(r xResult) float64 { return float64(r.du) })).med),
			cellMS(collectX(rs, func(r xResult) float64 { return r.totalMS })),
			cellMS(collectX(rs, func(r xResult) float64 { return r.pauseMS })),
			med(func(r xResult) float64 { return r.stallMS }),
			med(func(r xResult) float64 { return r.cpuMS }),
			cellMS(collectX(rs, func(r xResult) float64 { return r.exitMS })),
			xRestoreCell(rs, func(r xResult) xRestore { return r.cold }, func(x xRestore) float64 { return x.firstMS }),
			xRestoreCell(rs, func(r xResult) xRestore { return r.warm }, func(x xRestore) float64 { return x.firstMS }),
			med(func(r xResult) float64 { return okR(r.cold, r.cold.tookMS) }),
			med(func(r xResult) float64 { return okR(r.warm, r.warm.tookMS) }),
			integ)
	}
	p("")

	// Per-thread cost: a line through the medians.
	var sizes []caseDef
	for _, c := range cases {
		if len(b.xresults[c.name]) > 0 {
			sizes = append(sizes, c)
		}
	}
	if len(sizes) >= 2 {
		p("Cost per thread: the medians above for each size, with (that median ÷ threads); per thread: the slope of the least-squares line through them (the cost of one more thread); fixed: its intercept (what a process with no thread but the main one would cost; negative when the cost per thread grows with the count); R²: how straight the line is (1 = perfectly linear).")
		p("")
		head := "| quantity |"
		sep := "|---|"
		for _, c := range sizes {
			head += fmt.Sprintf(" %d threads |", c.threads)
			sep += "--:|"
		}
		p("%s per thread | fixed | R² |", head)
		p("%s--:|--:|--:|", sep)
		rows := []struct {
			name string
			get  func(xResult) float64
			size bool
		}{
			{"checkpoint total", func(r xResult) float64 { return r.totalMS }, false},
			{"checkpoint pause", func(r xResult) float64 { return r.pauseMS }, false},
			{"crrun on CPU during the checkpoint", func(r xResult) float64 { return r.cpuMS }, false},
			{"`checkpoint --exit` total", func(r xResult) float64 { return r.exitMS }, false},
			{"restore, cold: first progress", func(r xResult) float64 { return okR(r.cold, r.cold.firstMS) }, false},
			{"restore, warm: first progress", func(r xResult) float64 { return okR(r.warm, r.warm.firstMS) }, false},
			{"restore, warm: crrun's took=", func(r xResult) float64 { return okR(r.warm, r.warm.tookMS) }, false},
			{"restore, warm: crrun on CPU", func(r xResult) float64 { return okR(r.warm, r.warm.cpuMS) }, false},
			{"saved", func(r xResult) float64 { return float64(r.bytes) }, true},
		}
		slopes := map[string]float64{}
		for _, row := range rows {
			var xs, ys []float64
			line := "| " + row.name + " |"
			for _, c := range sizes {
				s := stats(collectX(b.xresults[c.name], row.get))
				if s.n == 0 {
					line += " – |"
					continue
				}
				xs, ys = append(xs, float64(c.threads)), append(ys, s.med)
				if row.size {
					line += fmt.Sprintf(" %s (%s) |", fmtSize(s.med), fmtSize(s.med/float64(c.threads)))
				} else {
					line += fmt.Sprintf(" %s (%s) |", fmtMS(s.med), fmtPer(s.med/float64(c.threads)))
				}
			}
			a, sl, r2, ok := fit(xs, ys)
			switch {
			case !ok:
				line += " – | – | – |"
			case row.size:
				line += fmt.Sprintf(" %s | %s | %.3f |", fmtSize(sl), signed(a, fmtSize), r2)
			default:
				line += fmt.Sprintf(" %s | %s | %.3f |", fmtPer(sl), signed(a, fmtMS), r2)
				slopes[row.name] = sl
			}
			p("%s", line)
		}
		p("")
		if c, r := slopes["checkpoint pause"], slopes["restore, warm: first progress"]; c > 0 && r > 0 {
			p("One more thread costs %s of checkpoint pause and %s of restore (warm): a restore costs %.1f× a checkpoint per thread.", fmtPer(c), fmtPer(r), r/c)
			p("")
		}
	}
	// Issue 11's target for the restore of many threads.
	for _, c := range cases {
		if c.threads != 1000 {
			continue
		}
		warm := stats(collectX(b.xresults[c.name], func(r xResult) float64 { return okR(r.warm, r.warm.firstMS) }))
		took := stats(collectX(b.xresults[c.name], func(r xResult) float64 { return okR(r.warm, r.warm.tookMS) }))
		if warm.n == 0 {
			break
		}
		verdict := "**missed**"
		if warm.med <= 400 {
			verdict = "met"
		}
		p("Target: a 1,000-thread restore ≤ 400 ms (warm, launch to first progress): %s (median of %d; crrun's took= %s): %s.", fmtMS(warm.med), warm.n, fmtMS(took.med), verdict)
		p("")
	}

	p("Notes:")
	p("")
	p("- saved: `bytes` of the keep-running checkpoint; image (du): its generation directory. total and pause: `total_ms` and `pause_ms` of `crrun checkpoint --json` (the app keeps running); app stall: the largest gap between the main thread's progress lines (every %d ms) around it. `--exit` total: `total_ms` of `crrun checkpoint --exit --json`, which the restores use (with --exit the app stays frozen until the image is durable, so its pause is the total). crrun on CPU: the supervisor's threads during the keep-running checkpoint.", b.progressMS)
	p("- Restore: from launching `crrun restore GEN` to the restored main thread's first progress line; cold: the image was dropped from the page cache first; took=: crrun's log line `restored … took=`.")
	p("- Integrity: after the keep-running checkpoint and after every restore, SIGUSR2 makes every thread check its TID, its counter and its 64 KiB of stack data and answer, and the main thread count `/proc/self/task`; one check is one app verifying all its threads.")
	var created []string
	for _, c := range sizes {
		created = append(created, fmt.Sprintf("%d: %s", c.threads, fmtMS(stats(collectX(b.xresults[c.name], func(r xResult) float64 { return r.readyMS })).med)))
	}
	if len(created) > 0 {
		p("- For scale, threadhog's own start (creating the threads, each filling its stack data): %s.", strings.Join(created, ", "))
	}
	if b.corrupt {
		p("- CRBENCH_CORRUPT=1: thread 0 corrupted a word of its stack data before every verification on purpose; FAIL is the expected outcome.")
	}
	if b.crrunNote != "" {
		p("- %s", b.crrunNote)
	}
	for _, c := range cases {
		if why := b.skipped[c.name]; why != "" {
			p("- %s skipped: %s.", c.desc(), why)
		}
	}
	b.problems(p, kindThreads)
	return w.String()
}

// okR is v when the restore worked, else -1 (left out of medians).
func okR(x xRestore, v float64) float64 {
	if x.err != "" {
		return -1
	}
	return v
}

func (b *bench) treeReport() string {
	var w strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&w, format+"\n", a...) }
	b.header(p, kindTree, "a treehog process found its memory, pid or parent changed")
	p("")
	cases := b.casesOf(kindTree)
	var refused []string
	for _, c := range cases {
		if u := b.unsupported[c.name]; u != "" && len(b.xresults[c.name]) == 0 {
			refused = append(refused, c.name)
		}
	}
	if len(refused) == len(cases) {
		p("**Pending: process trees are not supported by this build of crrun.** %s", b.unsupported[cases[0].name])
		p("")
	}
	raw := func(k string) float64 { return stats(b.raw[k]).med }
	floor := min(raw(rawReadv), raw(rawWriteSync))
	p("Checkpoint. Raw limits of this run (medians): process_vm_readv %s, write + fdatasync %s; target: throughput ≥ %d %% of the slower = %s.",
		fmtRate(raw(rawReadv)), fmtRate(raw(rawWriteSync)), targetPct, fmtRate(floor*targetPct/100))
	p("")
	p("| processes | n | saved | image (du) | total | pause | throughput | ÷ readv | ÷ write+sync | result | app stall | crrun on CPU | `--exit`: total | `--exit` throughput |")
	p("|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|")
	for _, c := range cases {
		rs := b.xresults[c.name]
		if u := b.unsupported[c.name]; u != "" && len(rs) == 0 {
			p("| %s | 0 | pending: not supported by this build | | | | | | | | | | | |", c.desc())
			continue
		}
		if why := b.skipped[c.name]; why != "" && len(rs) == 0 {
			p("| %s | 0 | skipped: %s | | | | | | | | | | | |", c.desc(), why)
			continue
		}
		if len(rs) == 0 {
			p("| %s | 0 | failed (see notes) | | | | | | | **fail** | | | | |", c.desc())
			continue
		}
		thr := collectX(rs, func(r xResult) float64 { return float64(r.bytes) / (1 << 20) / (r.totalMS / 1000) })
		exitThr := collectX(rs, func(r xResult) float64 { return float64(r.exitBytes) / (1 << 20) / (r.exitMS / 1000) })
		tm := stats(thr).med
		ratio := func(d float64) string {
			if d == 0 {
				return "–"
			}
			return fmt.Sprintf("%.0f %%", 100*tm/d)
		}
		res := "**miss**"
		if floor == 0 {
			res = "no raw data"
		} else if tm >= floor*targetPct/100 {
			res = "pass"
		}
		p("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", c.desc(), len(rs),
			fmtSize(stats(collectX(rs, func(r xResult) float64 { return float64(r.bytes) })).med),
			fmtSize(stats(collectX(rs, func(r xResult) float64 { return float64(r.du) })).med),
			cellMS(collectX(rs, func(r xResult) float64 { return r.totalMS })),
			cellMS(collectX(rs, func(r xResult) float64 { return r.pauseMS })),
			cell(thr, fmtRate), ratio(raw(rawReadv)), ratio(raw(rawWriteSync)), res,
			fmtMS(stats(collectX(rs, func(r xResult) float64 { return r.stallMS })).med),
			fmtMS(stats(collectX(rs, func(r xResult) float64 { return r.cpuMS })).med),
			cellMS(collectX(rs, func(r xResult) float64 { return r.exitMS })),
			cell(exitThr, fmtRate))
	}
	p("")
	p("Restore (`crrun restore GEN` of the `--exit` image, from launch to the first progress line of the main process, and to the first line of every process) and integrity:")
	p("")
	p("| processes | n | cold: first progress | cold: every process | warm: first progress | warm: every process | crrun's took= (cold / warm) | warm rate | ÷ memcpy fresh | integrity checks |")
	p("|---|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, c := range cases {
		rs := b.xresults[c.name]
		integ := b.integrity(c.name)
		if u := b.unsupported[c.name]; u != "" && len(rs) == 0 {
			p("| %s | 0 | pending: not supported by this build | | | | | | | %s |", c.desc(), integ)
			continue
		}
		if len(rs) == 0 {
			p("| %s | 0 | | | | | | | | %s |", c.desc(), integ)
			continue
		}
		first := func(x xRestore) float64 { return x.firstMS }
		all := func(x xRestore) float64 { return x.allMS }
		cold := func(r xResult) xRestore { return r.cold }
		warm := func(r xResult) xRestore { return r.warm }
		took := func(get func(xResult) xRestore) string {
			s := stats(collectX(rs, func(r xResult) float64 { return okR(get(r), get(r).tookMS) }))
			if s.n == 0 {
				return "–"
			}
			return fmtMS(s.med)
		}
		rate := stats(collectX(rs, func(r xResult) float64 {
			if r.warm.err != "" {
				return -1
			}
			return float64(r.exitBytes) / (1 << 20) / (r.warm.allMS / 1000)
		}))
		rateS, ratio := "–", "–"
		if rate.n > 0 {
			rateS = fmtRate(rate.med)
			if m := raw(rawMemcpy); m > 0 {
				ratio = fmt.Sprintf("%.0f %%", 100*rate.med/m)
			}
		}
		p("| %s | %d | %s | %s | %s | %s | %s / %s | %s | %s | %s |", c.desc(), len(rs),
			xRestoreCell(rs, cold, first), xRestoreCell(rs, cold, all),
			xRestoreCell(rs, warm, first), xRestoreCell(rs, warm, all),
			took(cold), took(warm), rateS, ratio, integ)
	}
	p("")
	p("Notes:")
	p("")
	p("- saved: `bytes` of the keep-running checkpoint, all processes; throughput: saved / total per repetition, ÷ the raw medians of this run. App stall: the largest gap between the main process's progress lines (every %d ms) around the checkpoint. `--exit`: `crrun checkpoint --exit --json` right after (the app stays frozen until the image is durable, then is killed; crrun must exit 75); the restores use that image. Warm rate: saved / time to every process's first progress line, warm cache, ÷ the raw memcpy into fresh pages (%s).", b.progressMS, fmtRate(raw(rawMemcpy)))
	p("- Integrity: after the keep-running checkpoint and after every restore, SIGUSR2 to the main process, which passes it to every child; each process checks its 256 MiB against its checksum, its pid and its parent and prints PASS or FAIL; one check is every process of the app passing.")
	var fills []string
	for _, c := range cases {
		if rs := b.xresults[c.name]; len(rs) > 0 {
			fills = append(fills, fmt.Sprintf("%d processes %s", c.procs, fmtMS(stats(collectX(rs, func(r xResult) float64 { return r.readyMS })).med)))
		}
	}
	if len(fills) > 0 {
		p("- For scale, treehog's own fill (first touch + pattern + checksum, the slowest process): %s.", strings.Join(fills, ", "))
	}
	for _, c := range cases {
		if u := b.unsupported[c.name]; u != "" {
			p("- %s: not supported by this build: %s.", c.desc(), u)
		}
	}
	if b.corrupt {
		p("- CRBENCH_CORRUPT=1: the last process corrupted a word before every verification on purpose; FAIL is the expected outcome.")
	}
	if b.crrunNote != "" {
		p("- %s", b.crrunNote)
	}
	for _, c := range cases {
		if why := b.skipped[c.name]; why != "" {
			p("- %s skipped: %s.", c.desc(), why)
		}
	}
	b.problems(p, kindTree)
	return w.String()
}
