/* calibrate.h: how many iterations make one timed run of a benchmark last
 * about SECS seconds (counter.c, mpmc.c). */
#ifndef TEND_BENCH_CALIBRATE_H
#define TEND_BENCH_CALIBRATE_H

#include <stdint.h>

/* calibrate: grow N from START until RUN(N, ARG) takes >= 0.15 s, then scale
 * it to SECS. RUN returns the seconds one run of N iterations took. */
static inline uint64_t calibrate(double (*run)(uint64_t n, void *arg), void *arg, uint64_t start,
                                 double secs)
{
    uint64_t n = start;

    for (;;) {
        double t = run(n, arg);

        if (t >= 0.15)
            return (uint64_t)((double)n * secs / t);
        n *= (t < 0.015) ? 10 : 4;
    }
}

#endif
