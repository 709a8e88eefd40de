/* mpmc.c - 2 producer and 2 consumer processes on one queue: tend_queue, or
 * POSIX mq (the kernel's MPMC queue) for comparison.  64-byte messages by
 * default, stamped like the anchors' (common.h): word 0 = producer << 48 |
 * seq, last word its complement.  Each consumer checks that every producer's
 * messages reach it in increasing order (FIFO), and the parent checks that
 * every message was received exactly once (count and sum of stamps).
 * Processes are pinned alternately to CPU 0 and 1 (PIN=none: not pinned).
 * usage: mpmc tend|mq [SIZE]
 * env:   SECS (target seconds per run, 1.2), REPS (3), N (messages per
 *        producer per run, skips calibration), NPROD (2), NCONS (2) */
#include "common.h"
#include "calibrate.h"
#include <fcntl.h>
#include <mqueue.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <tend/queue.h>

#define MAXP 8

static int use_mq;
static size_t size = 64, words;
static int nprod = 2, ncons = 2;
static tend_queue *q;
static char mqname[64];

struct shared {
    _Atomic int ready;
    _Atomic int go;
    _Atomic uint64_t received;
    _Atomic uint64_t stampsum;
    _Atomic uint64_t t_end;
    _Atomic int bad;
};

static void pin_cpu(int i)
{
    const char *m = pin_mode();
    if (!strcmp(m, "none")) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(i % sysconf(_SC_NPROCESSORS_ONLN), &set);
    if (sched_setaffinity(0, sizeof set, &set)) die("sched_setaffinity");
}

static void send_one(mqd_t mq, const void *m)
{
    if (use_mq) {
        if (mq_send(mq, m, size, 0) < 0) die("mq_send");
        return;
    }
    int r = tend_queue_put(q, m, size, 0, TEND_FOREVER);
    if (r < 0) { errno = -r; die("tend_queue_put"); }
}

/* Returns the length, or -1 at the end (queue closed / stop message). */
static long recv_one(mqd_t mq, void *m)
{
    if (use_mq) {
        ssize_t n = mq_receive(mq, m, size, NULL);
        if (n < 0) die("mq_receive");
        return n;
    }
    int r = tend_queue_get(q, m, size, NULL, TEND_FOREVER);
    if (r == -EPIPE) return -1;
    if (r < 0) { errno = -r; die("tend_queue_get"); }
    return r;
}

static double run(uint64_t n, void *arg)
{
    struct shared *sh = arg;
    pid_t pids[2 * MAXP];
    int np = 0;
    mqd_t mq = (mqd_t)-1;

    memset(sh, 0, sizeof *sh);
    if (use_mq) {
        struct mq_attr a = { .mq_maxmsg = 10, .mq_msgsize = (long)size };
        snprintf(mqname, sizeof mqname, "/tend-bench-mpmc-%d", (int)getpid());
        mq = mq_open(mqname, O_RDWR | O_CREAT | O_EXCL, 0600, &a);
        if (mq == (mqd_t)-1) die("mq_open");
        mq_unlink(mqname);
    } else {
        int r = tend_queue_create(&q, NULL, 1024, size, 1, 0);
        if (r < 0) { errno = -r; die("tend_queue_create"); }
    }
    for (int c = 0; c < ncons; c++) {
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            pin_cpu(c);
            uint64_t *m = calloc(words, 8), last[MAXP], cnt = 0, ssum = 0;
            for (int p = 0; p < MAXP; p++) last[p] = UINT64_MAX;
            atomic_fetch_add(&sh->ready, 1);
            for (;;) {
                long got = recv_one(mq, m);
                if (got < 0) break;
                if ((size_t)got != size) die("short message");
                if (m[0] == UINT64_MAX) break; /* mq stop message */
                uint64_t p = m[0] >> 48, s = m[0] & 0xffffffffffffull;
                if (m[words - 1] != ~m[0] || p >= MAXP || (last[p] != UINT64_MAX && s <= last[p]))
                    atomic_fetch_add(&sh->bad, 1);
                last[p] = s;
                cnt++;
                ssum += m[0];
            }
            atomic_fetch_add(&sh->received, cnt);
            atomic_fetch_add(&sh->stampsum, ssum);
            _exit(0);
        }
        pids[np++] = pid;
    }
    for (int p = 0; p < nprod; p++) {
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            pin_cpu(p + 1);
            uint64_t *m = calloc(words, 8);
            atomic_fetch_add(&sh->ready, 1);
            while (!atomic_load(&sh->go)) sched_yield();
            for (uint64_t s = 0; s < n; s++) {
                m[0] = (uint64_t)p << 48 | s;
                m[words - 1] = ~m[0];
                send_one(mq, m);
            }
            _exit(0);
        }
        pids[np++] = pid;
    }
    while (atomic_load(&sh->ready) < nprod + ncons) sched_yield();
    uint64_t t0 = now_ns();
    atomic_store(&sh->go, 1);
    for (int i = ncons; i < np; i++) { int st; waitpid(pids[i], &st, 0); if (!WIFEXITED(st) || WEXITSTATUS(st)) die("producer failed"); }
    /* All sent: end the consumers once they have drained the queue. */
    if (use_mq) {
        uint64_t *stop = calloc(words, 8);
        stop[0] = UINT64_MAX;
        for (int c = 0; c < ncons; c++) if (mq_send(mq, (char *)stop, size, 0) < 0) die("mq_send stop");
        free(stop);
    } else {
        tend_queue_close(q);
    }
    for (int i = 0; i < ncons; i++) { int st; waitpid(pids[i], &st, 0); if (!WIFEXITED(st) || WEXITSTATUS(st)) die("consumer failed"); }
    uint64_t t1 = now_ns();
    if (use_mq) mq_close(mq);
    else q = tend_queue_free(q);
    uint64_t want = 0;
    for (int p = 0; p < nprod; p++) want += (uint64_t)p * n * ((uint64_t)1 << 48) + n * (n - 1) / 2;
    errno = 0;
    if (atomic_load(&sh->bad)) die("bad or reordered messages: %d", atomic_load(&sh->bad));
    if (atomic_load(&sh->received) != n * nprod) die("received %llu of %llu", (unsigned long long)atomic_load(&sh->received), (unsigned long long)(n * nprod));
    if (atomic_load(&sh->stampsum) != want) die("stamp sum mismatch (lost or duplicated messages)");
    return (double)(t1 - t0) / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "tend") && strcmp(argv[1], "mq"))) {
        fprintf(stderr, "usage: %s tend|mq [SIZE]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    use_mq = !strcmp(argv[1], "mq");
    if (argc > 2) size = strtoul(argv[2], NULL, 0);
    if (size < 16 || size % 8) { fprintf(stderr, "SIZE: a multiple of 8, >= 16\n"); return 2; }
    words = size / 8;
    nprod = (int)env_long("NPROD", 2);
    ncons = (int)env_long("NCONS", 2);
    if (nprod < 1 || nprod > MAXP || ncons < 1 || ncons > MAXP) { fprintf(stderr, "NPROD, NCONS: 1..%d\n", MAXP); return 2; }
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) die("mmap");
    double secs = env_double("SECS", 1.2);
    int reps = (int)env_long("REPS", 3);
    uint64_t n = (uint64_t)env_long("N", 0);
    if (!n)
        n = calibrate(run, sh, 20000, secs);
    if (reps < 1) reps = 1;
    if (reps > 64) reps = 64;
    double rates[64], tsum = 0;
    for (int r = 0; r < reps; r++) {
        double t = run(n, sh);
        rates[r] = (double)(n * nprod) / t;
        tsum += t;
    }
    char name[96];
    snprintf(name, sizeof name, "%s %dP/%dC", use_mq ? "POSIX mq (maxmsg=10)" : "tend_queue (cap=1024)", nprod, ncons);
    report_thru(name, size, rates, reps, n * nprod, tsum / reps);
    return 0;
}
