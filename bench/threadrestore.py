#!/usr/bin/env python3
"""bench/threadrestore.py — restore of a many-threads app (issue 11, item 5).

    python3 bench/threadrestore.py CRRUN [THREADS] [REPS] [CRRUN_B]

Takes one `crrun checkpoint --exit` image of `threadhog -t THREADS` (default
1000), then restores it REPS times (default 7; alternating with CRRUN_B if
given): `crrun --log-level debug restore GEN`, timed from the launch to the
restored main thread's first "P" progress line; then SIGUSR2, and the run
counts only if threadhog answers VERIFY PASS; then the tree is ended. Prints
each run and the medians, with crrun's own took= of the restore and the
1-minute load average."""
import os, re, select, signal, statistics, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
crrun = sys.argv[1]
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 7
other = sys.argv[4] if len(sys.argv) > 4 else None
work = tempfile.mkdtemp(prefix="threadrestore.")
hog = os.path.join(work, "threadhog")
subprocess.run(["cc", "-O2", "-pthread", "-o", hog, os.path.join(root, "bench", "threadhog.c")], check=True)


def lines_until(p, pat, timeout):
    """Reads p's stdout lines until one matches pat; returns it (None on timeout)."""
    end = time.time() + timeout
    buf = b""
    while time.time() < end:
        r, _, _ = select.select([p.stdout], [], [], 0.05)
        if r:
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                return None
            buf += chunk
            for line in buf.split(b"\n"):
                if re.match(pat, line.decode(errors="replace")):
                    return line.decode()
    return None


def start(args):
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True)


store = os.path.join(work, "ck")
app = start([crrun, "--dir", store, "--", hog, "-t", str(threads)])
if not lines_until(app, r"THREADHOG ready", 120):
    sys.exit("threadhog never ready")
time.sleep(0.5)
subprocess.run([crrun, "checkpoint", "--exit", str(app.pid)], check=True, stdout=subprocess.DEVNULL)
app.wait(60)
gen = sorted(d for d in os.listdir(store) if d.startswith("gen-"))[-1]
runs = {}
for rep in range(reps):
    for name, binary in ([("a", crrun), ("b", other)] if other else [("a", crrun)])[:: 1 if rep % 2 == 0 else -1]:
        load = os.getloadavg()[0]
        t0 = time.time()
        r = start([binary, "--log-level", "debug", "restore", os.path.join(store, gen)])
        first = lines_until(r, r"P \d+", 120)
        ms = (time.time() - t0) * 1000
        r.send_signal(signal.SIGUSR2)
        ok = lines_until(r, r"VERIFY (PASS|FAIL)", 60) or "no answer"
        r.send_signal(signal.SIGKILL)
        _, err = r.communicate(timeout=60)
        took = re.search(rb'restored .*?took=([0-9.]+)(ms|s)', err)
        took_ms = (float(took.group(1)) * (1000 if took.group(2) == b"s" else 1)) if took else float("nan")
        rel = re.search(rb'step=release took=([0-9.]+)(ms|s|\xc2\xb5s)', err)
        rel_ms = (float(rel.group(1)) * {b"s": 1000, b"ms": 1}.get(rel.group(2), 0.001)) if rel else float("nan")
        print(f"{name} rep {rep + 1}: first progress {ms:.0f} ms, took= {took_ms:.0f} ms, release {rel_ms:.0f} ms, {ok.split()[1] if ok.startswith('VERIFY') else ok}, load {load:.2f}", flush=True)
        if first and ok.startswith("VERIFY PASS"):
            runs.setdefault(name, []).append((ms, took_ms))
for name, v in runs.items():
    f = sorted(x[0] for x in v)
    print(f"{name} ({crrun if name == 'a' else other}): {threads} threads, first progress median {statistics.median(f):.0f} ms ({f[0]:.0f}-{f[-1]:.0f}), "
          f"took= median {statistics.median(x[1] for x in v):.0f} ms, n={len(v)}")
subprocess.run(["rm", "-rf", work])
