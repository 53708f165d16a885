#!/usr/bin/env python3
"""compute.py: a pure-computation Python checkpoint/restore victim.

    python3 compute.py [ROUNDS]

Each round counts the primes of one block by trial division (slow, on
purpose), mutates a large list, extends a SHA-256 chain and a big integer.
At the end the prime counts are checked against a sieve, the list against a
replay of the mutations, the chain against a recomputation, and a dict built at
start against its formula.

stdout (deterministic): a header, 10 progress lines, result lines, then
exactly "PASS" or "FAIL: <what>". stderr: "compute.py: pid=N", "compute.py:
running", "compute.py: end pid=N".
"""
import hashlib
import os
import sys

BLOCK = 2000
DEFAULT_ROUNDS = 400
MOD = (1 << 521) - 1


def count_primes(lo, hi):
    n = 0
    for k in range(max(lo, 2), hi):
        if k % 2 == 0:
            n += k == 2
            continue
        d = 3
        while d * d <= k:
            if k % d == 0:
                break
            d += 2
        else:
            n += 1
    return n


def sieve_counts(rounds):
    limit = rounds * BLOCK
    is_p = bytearray([1]) * limit
    is_p[0:2] = b"\x00\x00"
    for i in range(2, int(limit**0.5) + 1):
        if is_p[i]:
            is_p[i * i :: i] = bytearray(len(range(i * i, limit, i)))
    return [sum(is_p[r * BLOCK : (r + 1) * BLOCK]) for r in range(rounds)]


def fresh_data():
    return [(i * 2654435761) % (1 << 32) for i in range(300000)]


def mutate(data, r):
    idx = (r * 7919) % len(data)
    for k in range(idx, min(idx + 50, len(data))):
        data[k] = (data[k] * 31 + r) % (1 << 32)


def chain_step(h, x, r, primes):
    x = (x * 3 + r + primes) % MOD
    h = hashlib.sha256(h + x.to_bytes(66, "little")).digest()
    return h, x


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_ROUNDS
    pid = os.getpid()
    print(f"compute.py: pid={pid}", file=sys.stderr, flush=True)
    print(f"compute: rounds={rounds} block={BLOCK}", flush=True)
    table = {i: (i * i) % 1000003 for i in range(100000)}
    data = fresh_data()
    counts = []
    h, x = b"\x00" * 32, 1
    print("compute.py: running", file=sys.stderr, flush=True)
    for r in range(rounds):
        c = count_primes(r * BLOCK, (r + 1) * BLOCK)
        counts.append(c)
        mutate(data, r)
        h, x = chain_step(h, x, r, c)
        if (r + 1) % max(rounds // 10, 1) == 0:
            print(f"round {r + 1}/{rounds} primes={sum(counts)} chain={h.hex()[:16]}", flush=True)
    print(f"compute.py: end pid={os.getpid()}", file=sys.stderr, flush=True)

    failures = []
    if os.getpid() != pid:
        failures.append(f"getpid() is {os.getpid()}, was {pid}")
    want_counts = sieve_counts(rounds)
    if counts != want_counts:
        bad = next(i for i in range(rounds) if counts[i] != want_counts[i])
        failures.append(f"prime count of block {bad} is {counts[bad]}, want {want_counts[bad]}")
    replay = fresh_data()
    for r in range(rounds):
        mutate(replay, r)
    if data != replay:
        failures.append("the list differs from a replay of its mutations")
    h2, x2 = b"\x00" * 32, 1
    for r in range(rounds):
        h2, x2 = chain_step(h2, x2, r, want_counts[r])
    if (h2, x2) != (h, x):
        failures.append("the hash chain differs from a recomputation")
    if len(table) != 100000 or any(table[i] != (i * i) % 1000003 for i in range(100000)):
        failures.append("the dict built at start changed")
    print(f"result: primes={sum(counts)} chain={h.hex()} x_mod_1e9={x % 1000000007}", flush=True)
    if failures:
        print("FAIL: " + "; ".join(failures), flush=True)
        return 1
    print("PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
