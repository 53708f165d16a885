#!/usr/bin/env python3
"""pool.py: a multiprocessing.Pool victim for the tree tests.

    python3 pool.py [CHUNKS [SLEEP]]

A Pool of 4 workers (fork start method: its pipes, its semaphores in deleted
/dev/shm files, its handler threads) maps a computation over CHUNKS chunks
(default 40); each chunk extends a SHA-256 chain and sleeps SLEEP seconds
(default 0.3), so the run takes ~4 s with workers mostly asleep or in a
pipe. Results come back in order (imap). At the end the results are checked
against a serial computation, every result must come from one of the
workers the Pool started (same pids after a restore) and name this process
as parent, and the Pool's workers must be the ones it started.

stdout (deterministic): a header, 8 progress lines, a result line, then
exactly "PASS" or "FAIL: <what>". stderr: "pool.py: pid=N", "pool.py:
running", "pool.py: end pid=N".
"""
import hashlib
import multiprocessing as mp
import os
import sys
import time

WORKERS = 4
ROUNDS = 3000


def compute(k):
    h = hashlib.sha256(b"chunk %d" % k).digest()
    acc = 0
    for i in range(ROUNDS):
        h = hashlib.sha256(h + i.to_bytes(4, "little")).digest()
        acc = (acc * 31 + h[0]) % 1000000007
    return h.hex(), acc


def work(args):
    k, sleep = args
    h, acc = compute(k)
    time.sleep(sleep)
    return k, h, acc, os.getpid(), os.getppid()


def main():
    chunks = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    sleep = float(sys.argv[2]) if len(sys.argv) > 2 else 0.3
    pid = os.getpid()
    print(f"pool.py: pid={pid}", file=sys.stderr, flush=True)
    print(f"pool: workers={WORKERS} chunks={chunks} start=fork", flush=True)
    ctx = mp.get_context("fork")
    pool = ctx.Pool(WORKERS)
    started = sorted(p.pid for p in pool._pool)
    print("pool.py: running", file=sys.stderr, flush=True)
    results = []
    chain = hashlib.sha256()
    step = max(chunks // 8, 1)
    for i, r in enumerate(pool.imap(work, [(k, sleep) for k in range(chunks)])):
        results.append(r)
        chain.update(r[1].encode())
        if (i + 1) % step == 0:
            print(f"done {i + 1}/{chunks} chain={chain.hexdigest()[:16]}", flush=True)
    now = sorted(p.pid for p in pool._pool)
    pool.close()
    pool.join()
    print(f"pool.py: end pid={os.getpid()}", file=sys.stderr, flush=True)

    failures = []
    if os.getpid() != pid:
        failures.append(f"getpid() is {os.getpid()}, was {pid}")
    if now != started:
        failures.append(f"the pool's workers are {now}, it started {started}")
    if [r[0] for r in results] != list(range(chunks)):
        failures.append("results out of order or missing")
    bad = [r[0] for r in results if r[3] not in started]
    if bad:
        failures.append(f"chunks {bad[:5]} came from processes that are not the pool's workers")
    bad = [r[0] for r in results if r[4] != pid]
    if bad:
        failures.append(f"chunks {bad[:5]} came from workers whose parent is not {pid}")
    serial = hashlib.sha256()
    total = 0
    for k in range(chunks):
        h, acc = compute(k)
        serial.update(h.encode())
        total += acc
        if k < len(results) and (results[k][1], results[k][2]) != (h, acc):
            failures.append(f"chunk {k} differs from a serial computation")
    got_total = sum(r[2] for r in results)
    print(f"result: chain={chain.hexdigest()} sum={got_total}", flush=True)
    if chain.hexdigest() != serial.hexdigest() or got_total != total:
        failures.append(f"checksum {chain.hexdigest()[:16]}/{got_total}, serially {serial.hexdigest()[:16]}/{total}")
    if failures:
        print("FAIL: " + "; ".join(failures), flush=True)
        return 1
    print("PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
