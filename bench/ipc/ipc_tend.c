/* ipc_tend.c - tend_queue in the anchors' own driver (../shared/bench/ipc/
 * driver.h), so it is measured exactly like pipe, POSIX mq, the shm ring and
 * ZeroMQ: same messages, same checks, same pinning, same timing.
 * usage: ipc_tend thru|rtt SIZE [prio] [cap=N]
 *   prio: 8 priority levels, each message at a priority 0..7 (a hash of its
 *         sequence number); the receiver checks FIFO order within each level.
 *   cap:  messages per level (default 1024). */
#include "common.h"
#include <tend/queue.h>

static char namebuf[96];
static const char *ch_name = namebuf;
static int ch_prio = 0;
static long cap = 1024;
static tend_queue *q[2];

static void ch_configure(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "prio")) ch_prio = 1;
        else if (!strncmp(argv[i], "cap=", 4)) cap = strtol(argv[i] + 4, NULL, 0);
        else { errno = 0; die("unknown argument %s", argv[i]); }
    }
    snprintf(namebuf, sizeof namebuf, "tend_queue (cap=%ld%s)", cap, ch_prio ? ", 8 mixed prios" : "");
}

static void ch_create(int rtt, size_t size)
{
    int r = tend_queue_create(&q[0], NULL, (size_t)cap, size, ch_prio ? 8 : 1, 0);
    if (r < 0) { errno = -r; die("tend_queue_create"); }
    if (rtt && (r = tend_queue_create(&q[1], NULL, (size_t)cap, size, 1, 0)) < 0) { errno = -r; die("tend_queue_create"); }
}

static void ch_setup(int child, int rtt) { (void)child; (void)rtt; }

static inline void ch_send(int dir, const void *buf, size_t len, unsigned prio)
{
    int r = tend_queue_put(q[dir], buf, len, prio, TEND_FOREVER);
    if (r < 0) { errno = -r; die("tend_queue_put"); }
}

static inline size_t ch_recv(int dir, void *buf, size_t cap_, unsigned *prio)
{
    int r = tend_queue_get(q[dir], buf, cap_, prio, TEND_FOREVER);
    if (r < 0) { errno = -r; die("tend_queue_get"); }
    return (size_t)r;
}

static void ch_teardown(int child, int rtt)
{
    (void)child;
    q[0] = tend_queue_free(q[0]);
    if (rtt) q[1] = tend_queue_free(q[1]);
}

#include "driver.h"
