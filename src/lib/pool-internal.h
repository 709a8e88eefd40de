/*
 * libtend internals of tend_pool that its two files share: pool.c (futures,
 * the bookkeeping of tasks in flight, results, handing out tasks and the
 * public calls) and pool-worker.c (the worker process, and starting,
 * retiring and noticing the death of workers).  See the top of pool.c.
 */
#ifndef TEND_LIB_POOL_INTERNAL_H
#define TEND_LIB_POOL_INTERNAL_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/sync.h"
#include "tend/pool.h"
#include "tend/queue.h"

#define SMALL_RESULT 64u     /* results this short live inside the future */

/* A message to a worker: one task (count == 0) or a chunk of map elements. */
struct task_hdr {
	uint64_t id;
	tend_pool_fn *fn;
	uint32_t count;    /* 0: one task; else elements in the chunk */
	uint32_t in_size;  /* argument length, or element size */
	uint32_t out_size; /* result capacity, or element result size */
	uint32_t reserved;
};

/* A message from a worker: the result of the task or chunk `id`. */
struct res_hdr {
	uint64_t id;
	uint32_t slot;
	int32_t status; /* >= 0: result length; < 0: -errno */
	uint32_t len;   /* bytes that follow */
	uint32_t reserved;
	uint64_t reserved2;
};

#define HDR_MAX 32u
_Static_assert(sizeof(struct task_hdr) == HDR_MAX, "task header size");
_Static_assert(sizeof(struct res_hdr) == HDR_MAX, "result header size");

struct map_ctx {
	size_t in_size, out_size;
	unsigned char *out;
	size_t pending; /* chunks handed out, not answered */
	int err;        /* first error */
};

/* A task in a worker's channel, waiting for its result. */
struct rec {
	uint64_t id;
	tend_future *fut;    /* apply / apply_async, or */
	struct map_ctx *map; /* a map chunk (both NULL: dropped) */
	size_t start;        /* first element of the chunk */
	size_t count;        /* elements in the chunk */
};

struct worker {
	tend_queue *ch;     /* tasks for this slot */
	struct rec *fifo;   /* depth entries; head is the oldest */
	unsigned head, n;   /* FIFO position and length */
	unsigned assigned;  /* tasks the current process will have run */
	unsigned received;  /* results from the current process */
	unsigned start_failures; /* workers in a row that died in the initializer */
	pid_t pid;          /* 0: no worker in this slot */
	int pidfd;
};

/* How far a worker got, as it shows its parent (one cache line per slot). */
enum { W_FORKED, W_IN_INIT, W_STARTED };
struct wshared {
	_Alignas(64) _Atomic uint32_t stage; /* W_* */
};

/* A retired worker (max_tasks_per_child) that exits on its own. */
struct zombie {
	pid_t pid;
	int pidfd;
};

enum { P_RUNNING, P_CLOSED, P_TERMINATED, P_JOINED };

struct tend_pool {
	unsigned size, depth, max_tasks;
	size_t max_arg, max_result;
	tend_pool_init_fn *init;
	void *initarg;
	int state;
	pid_t owner; /* the process that created the pool */
	unsigned fork_gen; /* tend__fork_gen in it: a fork's copy differs */
	struct worker *w;
	struct wshared *shared;
	tend_queue *res;
	unsigned char *tbuf; /* a task message: header + max_arg */
	unsigned char *rbuf; /* a result message: header + max_result */
	size_t tcap, rcap;
	uint64_t next_id;
	unsigned rr;          /* where pick() starts looking */
	size_t inflight;      /* sum of every FIFO's length */
	int64_t next_check;   /* when to look for dead workers again */
	tend_future *backlog, *backlog_tail;
	struct zombie *zombies;
	size_t nzombies, zcap;
};

struct tend_future {
	tend_pool *pool;    /* NULL once finished */
	tend_future *next;  /* in the backlog */
	tend_pool_fn *fn;   /* while in the backlog: the task */
	unsigned char *arg; /* its argument (a copy) */
	size_t arglen;
	size_t cap;         /* result capacity given to fn */
	unsigned char *result;
	size_t len;
	int status;
	bool done;
	bool detached; /* freed by the caller while unfinished */
	unsigned char small[SMALL_RESULT];
};

/* A task that no worker could take: fork's -EAGAIN would read as "not done
 * yet" to tend_future_wait(TEND_NOWAIT), so it fails with -ECHILD. */
static inline int start_error(int r)
{
	return r == -EAGAIN ? -ECHILD : r;
}

/* pool.c */

/* Fail the oldest task of a slot. */
TEND__HIDDEN void tend__pool_fail_head(tend_pool *p, struct worker *w, int err);

/* Take every task still queued in a slot's channel and fail it with err
 * (nobody will run them: the slot has no worker). */
TEND__HIDDEN void tend__pool_fail_queued(tend_pool *p, struct worker *w, int err);

/* Handle every result already in the queue.  Returns how many, or -errno. */
TEND__HIDDEN int tend__pool_drain(tend_pool *p);

/* pool-worker.c */

/* Fork the worker of slot idx (it runs what is queued in its channel).
 * Returns 0 or -errno (the slot stays empty). */
TEND__HIDDEN int tend__pool_spawn(tend_pool *p, unsigned idx);

/* Wait for a child through its pidfd: 1 when it has ended (reaped here or by
 * someone else), 0 while it runs (or block until it ends). */
TEND__HIDDEN int tend__pool_reaped(int pidfd, bool block);

/* A worker ran its max_tasks_per_child tasks and exits by itself. */
TEND__HIDDEN void tend__pool_retire(tend_pool *p, unsigned idx);

/* Reap the workers that ended, account for their tasks and replace them
 * (and reap retired ones).  Returns 0 or -errno. */
TEND__HIDDEN int tend__pool_check_workers(tend_pool *p);

#endif
