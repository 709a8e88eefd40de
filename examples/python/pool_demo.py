#!/usr/bin/python3
"""A CPU-bound process pool, as multiprocessing's documentation writes it,
run with tend.Pool: the only change is the import.

    python3 pool_demo.py [N]          # tend.Pool
    python3 pool_demo.py --mp [N]     # multiprocessing.Pool: the same output

Counts the primes below N (default 200000) by trial division, finds the
twin primes, and sums squares with the other Pool methods.  The result goes
to stdout (identical with either pool); the time to stderr.
"""
import sys
import time

if "--mp" in sys.argv:
    from multiprocessing import Pool
else:
    from tend import Pool


def is_prime(n):
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    f = 3
    while f * f <= n:
        if n % f == 0:
            return False
        f += 2
    return True


def square(x):
    return x * x


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 200000
    t = time.perf_counter()
    with Pool() as pool:
        flags = pool.map(is_prime, range(n), chunksize=1000)
        primes = [i for i, f in enumerate(flags) if f]
        twins = sum(1 for p in primes if p + 2 < n and flags[p + 2])
        squares = sum(pool.imap(square, range(1000), chunksize=50))
        unordered = sorted(pool.imap_unordered(square, range(10)))
        powers = pool.starmap(pow, [(2, k) for k in range(11)])
        last = pool.apply_async(is_prime, (n - 1,)).get(timeout=60)
        pool.close()
        pool.join()
    print(f"primes below {n}: {len(primes)}")
    print(f"largest: {primes[-1]}")
    print(f"twin prime pairs: {twins}")
    print(f"sum of squares below 1000: {squares}")
    print(f"squares, unordered then sorted: {unordered}")
    print(f"powers of two: {powers}")
    print(f"{n - 1} is prime: {last}")
    print(f"{'multiprocessing' if '--mp' in sys.argv else 'tend'}.Pool: {time.perf_counter() - t:.2f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
