# bench/report.awk — turn bench/run.sh results into markdown tables.
#
# Input: TSV lines "rep mode config ns_per_op" (ns_per_op may be "fail").
# Variables (-v): configs, modes (space-separated), reps, rt_target (ns),
# noise_pct, rss (MiB, "" if not measured), rss_target (MiB), rss_note,
# crrun_note.
#
# Statistics: per cell, the median over repetitions. Differences between two
# configurations are medians of per-repetition paired differences (the three
# configurations of one repetition ran back to back, so pairing cancels slow
# load changes on the machine). "Within noise" = the paired median difference
# crrun - allow-all is at most max(IQR of those paired differences,
# noise_pct % of the allow-all median).

function isort(a, n,    i, j, t) {
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
}
# quantile of sorted a[1..n], linear interpolation (q in [0,1])
function quant(a, n, q,    h, lo) {
	if (n == 0) return ""
	h = (n - 1) * q + 1
	lo = int(h)
	if (lo >= n) return a[n]
	return a[lo] + (h - lo) * (a[lo + 1] - a[lo])
}
# stats over the values of cell key k: sets S_n, S_med, S_min, S_max, S_q1, S_q3
function stats(vals, cnt, k,    a, i, n) {
	n = cnt[k]
	for (i = 1; i <= n; i++) a[i] = vals[k, i]
	isort(a, n)
	S_n = n
	S_med = quant(a, n, 0.5); S_q1 = quant(a, n, 0.25); S_q3 = quant(a, n, 0.75)
	S_min = n ? a[1] : ""; S_max = n ? a[n] : ""
}
# paired differences x - y in mode m; sets S_* like stats()
function paired(m, x, y,    r, n, a, i) {
	n = 0
	for (r = 1; r <= maxrep; r++)
		if (((r, m, x) in v) && ((r, m, y) in v)) a[++n] = v[r, m, x] - v[r, m, y]
	for (i = 1; i <= n; i++) pv["p", i] = a[i]
	pc["p"] = n
	stats(pv, pc, "p")
}
function fmt(ns,    x) {
	if (ns == "") return "–"
	x = ns < 0 ? -ns : ns
	if (x < 1000) return sprintf("%.0f ns", ns)
	if (x < 10000) return sprintf("%.2f µs", ns / 1000)
	if (x < 1000000) return sprintf("%.1f µs", ns / 1000)
	return sprintf("%.2f ms", ns / 1000000)
}
function sfmt(ns) { return (ns != "" && ns >= 0 ? "+" : "") fmt(ns) }
function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "–" : sprintf("%.2f×", a / b) }

BEGIN {
	FS = "\t"
	nc = split(configs, C, " ")
	nm = split(modes, M, " ")
	for (i = 1; i <= nc; i++) has[C[i]] = 1
	desc["getppid"] = "getppid()"
	desc["rw"] = "write+read 1 B, pipe"
	desc["forkexec"] = "fork+exec /bin/true+wait"
	desc["thread"] = "pthread_create+join"
	desc["trapped"] = "personality(PER_LINUX)"
	spc["getppid"] = 1; spc["rw"] = 2; spc["trapped"] = 1
	name["native"] = "native"; name["allowall"] = "allow-all"; name["crrun"] = "crrun"
}
{
	r = $1 + 0; if (r > maxrep) maxrep = r
	if ($4 == "fail") { nfail[$2, $3]++; next }
	v[r, $2, $3] = $4 + 0
	vals[$2, $3, ++cnt[$2, $3]] = $4 + 0
}
END {
	for (i = 1; i <= nm; i++) for (j = 1; j <= nc; j++) {
		m = M[i]; c = C[j]
		n = cnt[m, c]
		for (k = 1; k <= n; k++) cv[m SUBSEP c, k] = vals[m, c, k]
		cc[m SUBSEP c] = n
		stats(cv, cc, m SUBSEP c)
		med[m, c] = S_med; mn[m, c] = S_min; mx[m, c] = S_max; nn[m, c] = S_n
	}
	cr = ("crrun" in has)

	print "| mode | operation | native | allow-all | crrun | crrun/native | crrun/allow-all | crrun − native | crrun − allow-all | target | result |"
	print "|---|---|--:|--:|--:|--:|--:|--:|--:|---|---|"
	for (i = 1; i <= nm; i++) {
		m = M[i]
		s = spc[m] ? spc[m] : 1
		unit = spc[m] ? "/syscall" : "/op"
		d_cn = d_ca = res = ""
		if (cr) {
			paired(m, "crrun", "native"); d_cn = S_med
			paired(m, "crrun", "allowall"); d_ca = S_med; iqr_ca = S_q3 - S_q1
			if (m == "trapped") {
				rt[m] = d_cn
				if (d_cn == "") res = "no data"
				else if (d_cn < 1000) res = "**not trapped?**"
				else res = (d_cn <= rt_target) ? "pass" : "**miss**"
			} else {
				noise = noise_pct / 100 * med[m, "allowall"]
				if (iqr_ca > noise) noise = iqr_ca
				if (d_ca == "") res = "no data"
				else res = (d_ca <= noise) ? "pass" : "**miss**"
				untr[m] = sfmt(d_ca == "" ? "" : d_ca / s) unit " (noise ±" fmt(noise / s) ")"
				untr_res[m] = res
			}
		} else res = "n/a"
		if (m == "trapped") target = "round trip ≤ " fmt(rt_target)
		else target = "≈ allow-all"
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", m, desc[m] (spc[m] == 2 ? " (2 syscalls)" : ""),
			fmt(med[m, "native"]), fmt(med[m, "allowall"]), cr ? fmt(med[m, "crrun"]) : "skipped",
			cr ? ratio(med[m, "crrun"], med[m, "native"]) : "–", cr ? ratio(med[m, "crrun"], med[m, "allowall"]) : "–",
			cr && d_cn != "" ? sfmt(d_cn / s) unit : "–", cr && d_ca != "" ? sfmt(d_ca / s) unit : "–", target, res
	}

	print ""
	print "| target | measured | result |"
	print "|---|---|---|"
	for (i = 1; i <= nm; i++) {
		m = M[i]
		if (m == "trapped") continue
		printf "| untrapped %s: crrun within noise of allow-all | %s | %s |\n", m, cr ? untr[m] : "–", cr ? untr_res[m] : "n/a"
	}
	if ("trapped" in desc && index(" " modes " ", " trapped ")) {
		r = cr ? rt["trapped"] : ""
		printf "| trapped syscall round trip (crrun − native) ≤ %s | %s | %s |\n", fmt(rt_target), fmt(r),
			!cr ? "n/a" : r == "" ? "no data" : r < 1000 ? "**not trapped?**" : r <= rt_target ? "pass" : "**miss**"
	}
	printf "| supervisor idle RSS ≤ %d MiB | %s | %s |\n", rss_target, rss == "" ? "–" : rss " MiB",
		rss == "" ? "n/a" : (rss + 0 <= rss_target + 0 ? "pass" : "**miss**")

	print ""
	print "Spread over repetitions (min / median / max per op):"
	print ""
	hdr = "| mode |"; sep = "|---|"
	for (j = 1; j <= nc; j++) { hdr = hdr " " name[C[j]] " |"; sep = sep "--:|" }
	print hdr; print sep
	for (i = 1; i <= nm; i++) {
		m = M[i]; line = "| " m " |"
		for (j = 1; j <= nc; j++) {
			c = C[j]
			line = line " " fmt(mn[m, c]) " / " fmt(med[m, c]) " / " fmt(mx[m, c])
			if (nn[m, c] < reps) line = line " (" nn[m, c] + 0 "/" reps " ok)"
			line = line " |"
		}
		print line
	}

	print ""
	print "Notes:"
	print ""
	print "- Times are per operation; for getppid, rw and trapped the differences are per syscall (rw does 2 per op)."
	print "- Differences are medians of per-repetition paired differences, so they need not equal the difference of the medians shown."
	floor = ""
	for (i = 1; i <= nm; i++) {
		m = M[i]
		if (!spc[m] || m == "trapped") continue
		paired(m, "allowall", "native")
		if (S_med != "") floor = floor (floor == "" ? "" : ", ") m " " sfmt(S_med / spc[m])
	}
	if (floor != "") print "- Fixed cost of any seccomp filter (allow-all − native, per syscall): " floor "."
	print "- \"≈ allow-all\" passes when crrun − allow-all ≤ max(IQR of the paired differences, " noise_pct " % of the allow-all median)."
	print "- trapped: under crrun personality() is in the NOCR table, so each call is a seccomp user notification answered with CONTINUE; natively it is an ordinary syscall. \"not trapped?\" means crrun added < 1 µs, i.e. the call apparently never reached the supervisor."
	if (rss_note != "") print "- Idle RSS (`crrun -- sleep 5`, read after 1 s): " rss_note "."
	if (crrun_note != "") print "- " crrun_note
}
