#!/usr/bin/env python3
"""The seeds' shared counter: multiprocessing.Value('q', lock=True), W writer
processes (fork) each doing `with v.get_lock(): v.value += 1` N times;
ops/s = W*N / wall time from 'go' to the last writer done, median of REPS.
usage: mp_value.py [WRITERS]   env: N (adds per writer, 200000), REPS (3)
"""
import multiprocessing as mp
import os
import statistics
import sys
import time


def writer(v, go, n):
    go.wait()
    lock = v.get_lock()
    for _ in range(n):
        with lock:
            v.value += 1


def run(w, n):
    ctx = mp.get_context("fork")
    v = ctx.Value("q", 0, lock=True)
    go = ctx.Event()
    ps = [ctx.Process(target=writer, args=(v, go, n)) for _ in range(w)]
    for p in ps:
        p.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    go.set()
    for p in ps:
        p.join()
    t = time.monotonic() - t0
    if v.value != w * n or any(p.exitcode for p in ps):
        sys.exit(f"mp.Value: sum {v.value}, want {w * n}")
    return w * n / t


def main():
    w = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    n = int(os.environ.get("N", "200000"))
    reps = int(os.environ.get("REPS", "3"))
    rates = sorted(run(w, n) for _ in range(reps))
    print(f"{'Python mp.Value(lock=True)':<46} | {f'add, {w} writers':<18} | {f'{statistics.median(rates):.0f} ops/s':<28} | "
          f"median of {reps} runs, range {rates[0] / 1e6:.3g}M-{rates[-1] / 1e6:.3g}M; {n} adds per writer; "
          f"with v.get_lock(): v.value += 1; not pinned", flush=True)


if __name__ == "__main__":
    main()
