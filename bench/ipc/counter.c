/* counter.c - W writer processes (default 2, pinned alternately to CPU 0
 * and 1) each add 1 to one tend_counter N times; ops/s is the total adds
 * over the time from 'go' to the last writer done.  The sum is checked.
 * usage: counter partitioned|atomic|locked [WRITERS]
 * env:   SECS (target seconds per run, 1.0), REPS (3), N (adds per writer per
 *        run, skips calibration), PIN (cross: pinned, none: not pinned) */
#include "common.h"
#include "calibrate.h"
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <tend/counter.h>

struct shared {
    _Atomic int ready;
    _Atomic int go;
};

static enum tend_counter_kind kind;
static int writers = 2;

static double run(uint64_t n, void *arg)
{
    struct shared *sh = arg;
    tend_counter *c;
    pid_t pids[64];
    int r;

    atomic_store(&sh->ready, 0);
    atomic_store(&sh->go, 0);
    r = tend_counter_create(&c, NULL, kind, kind == TEND_COUNTER_PARTITIONED ? (unsigned)writers : 0, 0);
    if (r < 0) { errno = -r; die("tend_counter_create"); }
    for (int w = 0; w < writers; w++) {
        pids[w] = fork();
        if (pids[w] < 0) die("fork");
        if (pids[w] == 0) {
            if (strcmp(pin_mode(), "none")) {
                cpu_set_t set;
                CPU_ZERO(&set);
                CPU_SET(w % sysconf(_SC_NPROCESSORS_ONLN), &set);
                if (sched_setaffinity(0, sizeof set, &set)) die("sched_setaffinity");
            }
            if (tend_counter_claim(c) < 0) die("tend_counter_claim");
            atomic_fetch_add(&sh->ready, 1);
            while (!atomic_load(&sh->go)) ;
            for (uint64_t i = 0; i < n; i++)
                tend_counter_add(c, 1);
            _exit(0);
        }
    }
    while (atomic_load(&sh->ready) < writers) sched_yield();
    uint64_t t0 = now_ns();
    atomic_store(&sh->go, 1);
    for (int w = 0; w < writers; w++) {
        int st;
        if (waitpid(pids[w], &st, 0) != pids[w] || !WIFEXITED(st) || WEXITSTATUS(st)) die("writer failed");
    }
    uint64_t t1 = now_ns();
    int64_t sum;
    tend_counter_sum(c, &sum);
    errno = 0;
    if ((uint64_t)sum != n * (uint64_t)writers) die("sum %lld, want %llu", (long long)sum, (unsigned long long)(n * writers));
    tend_counter_free(c);
    return (double)(t1 - t0) / 1e9;
}

int main(int argc, char **argv)
{
    static const char *names[] = { "partitioned", "atomic", "locked" };
    int k;

    for (k = 0; k < 3; k++)
        if (argc > 1 && !strcmp(argv[1], names[k])) break;
    if (k == 3) {
        fprintf(stderr, "usage: %s partitioned|atomic|locked [WRITERS]\n", argv[0]);
        return 2;
    }
    kind = (enum tend_counter_kind)k;
    if (argc > 2) writers = atoi(argv[2]);
    if (writers < 1 || writers > 64) { fprintf(stderr, "WRITERS: 1..64\n"); return 2; }
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) die("mmap");
    double secs = env_double("SECS", 1.0);
    int reps = (int)env_long("REPS", 3);
    uint64_t n = (uint64_t)env_long("N", 0);
    if (!n)
        n = calibrate(run, sh, 100000, secs);
    if (reps < 1) reps = 1;
    if (reps > 64) reps = 64;
    double rates[64];
    for (int r = 0; r < reps; r++)
        rates[r] = (double)(n * writers) / run(n, sh);
    qsort(rates, reps, sizeof *rates, cmp_dbl);
    char name[64], val[64], metric[32];
    snprintf(name, sizeof name, "tend_counter %s", names[k]);
    snprintf(metric, sizeof metric, "add, %d writers", writers);
    snprintf(val, sizeof val, "%.0f ops/s", rates[reps / 2]);
    printf("%-46s | %-18s | %-28s | median of %d runs, range %.3gM-%.3gM; %llu adds per writer per run; pin=%s\n",
           name, metric, val, reps, rates[0] / 1e6, rates[reps - 1] / 1e6,
           (unsigned long long)n, pin_mode());
    return 0;
}
