/*
 * tend_pool: a prefork pool of worker processes that run C functions, the
 * contract of Python's multiprocessing.Pool without pickling.
 *
 * A pool forks `size` workers when it is created.  A task is a function
 * pointer and a byte buffer: the function runs in a worker and writes a byte
 * buffer back.  Function pointers are valid in the workers because they are
 * fork()s of the caller (same binary, same libraries): pass only functions
 * that were mapped when the pool was created.  Arguments and results travel
 * through shared memory (tend_queue), copied, never pointers to the caller's
 * memory.
 *
 *   apply        run one task and wait for its result
 *   apply_async  queue one task; a tend_future tells its result later
 *   map          run fn on every element of an array, in chunks, results in
 *                order in an output array
 *   close        refuse new tasks; queued ones still run
 *   join         after close: wait for every task and every worker to end
 *   terminate    kill the workers now; unfinished tasks fail
 *
 * Task results: a function returns the length of its result (0..cap) or a
 * negative errno value, which its caller receives as is.  The pool itself
 * reports these errors for a task:
 *
 *   -EOWNERDEAD  the worker that had taken the task died (killed by a
 *                signal, crashed, or called exit()) before it returned the
 *                result.  The task may or may not have run, in part or in
 *                full; it is never run again.  The worker is replaced.
 *   -ECHILD      three workers in a row died in the task's slot while
 *                running the initializer (a broken initializer: it crashed,
 *                exited, or was killed there), or fork failed for it: the
 *                task never ran.  A worker that dies before it took the
 *                task in any other way (killed before its initializer, or
 *                in a pool without one, or in it once or twice) is
 *                replaced, and the replacement runs the task.
 *   -ECANCELED   tend_pool_terminate() (or tend_pool_free() of a pool that
 *                was not joined) ended the pool before the task finished.
 *
 * A crashed worker never makes a caller wait forever: the pool notices a
 * dead worker within about 10 ms while someone waits on it.  Every worker
 * queue (`depth` tasks) is its own channel, so the pool knows exactly which
 * task a dead worker held; see docs/pool.md for the protocol.
 *
 * Threading: a pool and its futures must be used by one thread at a time
 * (they are not thread-safe; lock around them to share them).  The pool has
 * no threads of its own and touches no signal disposition: results are
 * collected, dead workers replaced and queued tasks handed out only inside
 * the pool's calls (any wait, apply, map, ready, join).  The workers are
 * forked from the calling thread, also when one is replaced, and die with
 * SIGKILL when that thread ends (PR_SET_PDEATHSIG), so keep the thread that
 * uses the pool alive while the pool lives.  The usual rules of fork() in a
 * threaded program apply to the functions that run in the workers.
 * Workers keep the caller's signal dispositions and mask: a SIGSEGV handler
 * that does not end the process (cmocka's, say) hides a crash from the pool.
 *
 * Forks: in a process forked from the pool's creator every call on the pool
 * or its futures returns -EPERM (the workers and queues are the creator's),
 * except tend_pool_free(), which there releases only the child's copy.
 *
 * Children: the pool waits only for its own workers, each through its pidfd
 * (never waitpid(-1)).  A caller that reaps every child itself (SIGCHLD set
 * to SIG_IGN, or waitpid(-1) in a handler) still gets correct results.
 * Requires Linux >= 5.4 (pidfd_open, waitid(P_PIDFD)) and /proc.
 */
#ifndef TEND_POOL_H
#define TEND_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tend/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tend_pool tend_pool;
typedef struct tend_future tend_future;

/*
 * A task function, run in a worker.  arg: the task's argument (arglen bytes,
 * the worker's own copy, valid during the call).  result: where to write the
 * result, result_cap bytes.  Returns the result's length (0..result_cap) or
 * a negative errno value, handed to the caller unchanged.  A length above
 * result_cap is reported as -EOVERFLOW.
 */
typedef int tend_pool_fn(const void *arg, size_t arglen, void *result, size_t result_cap);

/* Run once in every worker (and every replacement) before its first task. */
typedef void tend_pool_init_fn(void *arg);

#define TEND_POOL_DEFAULT_MSG 4096u   /* max_arg and max_result when 0 */
#define TEND_POOL_DEFAULT_DEPTH 256u  /* tasks in flight per worker when 0 */
#define TEND_POOL_SIZE_MAX 1024u
#define TEND_POOL_DEPTH_MAX 65536u

/* Options of tend_pool_create(); zero-fill for the defaults. */
typedef struct tend_pool_opts {
	unsigned size;                  /* workers; 0: the online CPUs (sysconf) */
	tend_pool_init_fn *initializer; /* or NULL */
	void *initarg;                  /* passed to initializer */
	unsigned max_tasks_per_child;   /* replace a worker after this many tasks
					 * (a map chunk is one task); 0: never */
	size_t max_arg;                 /* longest argument (and map chunk of
					 * arguments), bytes; 0: 4096 */
	size_t max_result;              /* longest result (and map chunk of
					 * results), bytes; 0: 4096 */
	unsigned depth;                 /* tasks queued to one worker at most;
					 * 0: 256.  Deeper is faster for tiny tasks,
					 * shallower balances long ones better. */
} tend_pool_opts;

/*
 * Create a pool and start its workers.  opts may be NULL (every default).
 * Returns 0 and the pool in *ret_pool, or -EINVAL (NULL ret_pool, size or
 * depth above the maxima, max_arg or max_result above TEND_QUEUE_MSG_MAX
 * minus 32), -ENOMEM, -EAGAIN (fork) or another -errno; on failure no
 * process and no memory is left behind.  The workers run opts->initializer
 * concurrently with this call, which does not wait for them.  Free the pool
 * with tend_pool_free().
 */
TEND_API int tend_pool_create(tend_pool **ret_pool, const tend_pool_opts *opts);

/*
 * Run fn(arg) in a worker and wait for it, at most timeout_ns (TEND_FOREVER,
 * or > 0).  The function gets result_cap bytes (at most max_result) to
 * write its result, which lands in result.  Returns the result length, the
 * function's own negative error, -EOWNERDEAD / -ECHILD / -ECANCELED (see
 * above), -ETIMEDOUT (the task goes on; its result is dropped), -EPIPE (the
 * pool is closed or terminated), -EMSGSIZE (arglen > max_arg), -EINVAL
 * (NULL pool or fn, NULL arg with arglen > 0, NULL result with
 * result_cap > 0, timeout_ns == TEND_NOWAIT), -ENOMEM, or the error of a
 * failed worker start (fork).
 */
TEND_API int tend_pool_apply(tend_pool *pool, tend_pool_fn *fn, const void *arg, size_t arglen, void *result,
			     size_t result_cap, int64_t timeout_ns);

/*
 * Queue fn(arg) without waiting; arg is copied before the call returns.  The
 * function gets max_result bytes for its result.  Returns 0 and a future in
 * *ret_future (free it with tend_future_free()), or -EPIPE, -EMSGSIZE,
 * -EINVAL, -ENOMEM, as tend_pool_apply().  It never blocks: when every
 * worker's queue is full the task waits in the caller's memory and is handed
 * out by a later call on the pool.
 */
TEND_API int tend_pool_apply_async(tend_pool *pool, tend_pool_fn *fn, const void *arg, size_t arglen,
				   tend_future **ret_future);

/*
 * Wait at most timeout_ns (TEND_FOREVER, TEND_NOWAIT or > 0) for a future's
 * task, then copy its result into buf (cap bytes).  Returns the result
 * length, the task's error (its function's, or -EOWNERDEAD, -ECHILD,
 * -ECANCELED), -ETIMEDOUT or -EAGAIN (TEND_NOWAIT) if it has not finished,
 * -EMSGSIZE if the result is longer than cap (call again with a larger
 * buffer: max_result bytes always suffice), -EINVAL (NULL future, NULL buf
 * with cap > 0).  A finished future keeps its result: waiting again returns
 * it again.  A future outlives its pool: once the pool is freed its
 * unfinished futures report -ECANCELED.
 */
TEND_API int tend_future_wait(tend_future *future, void *buf, size_t cap, int64_t timeout_ns);

/* 1 if the future's task has finished (with a result or an error), 0 if
 * not, -EINVAL for NULL.  Collects finished results without waiting. */
TEND_API int tend_future_ready(tend_future *future);

/*
 * Release a future.  An unfinished task still runs; its result is dropped.
 * Accepts NULL; returns NULL.
 */
TEND_API tend_future *tend_future_free(tend_future *future);

/*
 * Apply fn to each of the n elements of in (in_size bytes each) and store
 * the results in order in out (out_size bytes each: element i's result is
 * what fn wrote in its out_size bytes), like Pool.map.  Elements go to the
 * workers in chunks of chunksize (one queue message and one task each); 0
 * picks ceil(n / (4 * size)) as Python does.  A chunk is cut down to what
 * fits in max_arg and max_result.  Blocks until every element is done.
 * Returns 0, or the first error of a task (its function's, -EOWNERDEAD for
 * a chunk whose worker died, -ECHILD, -ECANCELED): then no further chunk is
 * started, the chunks already started are waited for, and the results of
 * failed or unstarted chunks are unspecified.  Other errors: -EPIPE (closed),
 * -EMSGSIZE (one element does not fit in max_arg or max_result), -EINVAL
 * (NULL pool or fn, NULL in with n and in_size > 0, NULL out with n and
 * out_size > 0), -ENOMEM.  n == 0 returns 0 at once.
 */
TEND_API int tend_pool_map(tend_pool *pool, tend_pool_fn *fn, const void *in, size_t in_size, size_t n, void *out,
			   size_t out_size, size_t chunksize);

/*
 * Refuse new tasks from now on (apply, apply_async and map fail with
 * -EPIPE); queued tasks still run.  Returns 0, or -EINVAL for NULL.
 */
TEND_API int tend_pool_close(tend_pool *pool);

/*
 * After tend_pool_close() or tend_pool_terminate(): wait at most timeout_ns
 * (TEND_FOREVER or > 0) until every task has finished (their futures are
 * settled) and every worker has exited and been reaped.  Returns 0,
 * -ETIMEDOUT (call again, or terminate), -EINVAL (NULL, or the pool is
 * neither closed nor terminated).  Workers that crash meanwhile are replaced
 * while tasks remain for them.
 */
TEND_API int tend_pool_join(tend_pool *pool, int64_t timeout_ns);

/*
 * Stop now: SIGKILL every worker and reap it.  Results already sent are
 * kept; every other unfinished task (queued or running) fails with
 * -ECANCELED; new tasks fail with -EPIPE.  Returns 0, or -EINVAL for NULL.
 * Calling it again does nothing.
 */
TEND_API int tend_pool_terminate(tend_pool *pool);

/*
 * Free a pool: terminate it unless it was joined, then release its memory.
 * Futures the caller still holds stay valid (finished or -ECANCELED) until
 * tend_future_free().  No worker process remains.  Accepts NULL; returns
 * NULL.
 */
TEND_API tend_pool *tend_pool_free(tend_pool *pool);

/* The number of worker slots (opts.size or the CPU count).  -EINVAL for
 * NULL. */
TEND_API int tend_pool_size(const tend_pool *pool);

/*
 * Copy the pids of the live workers into pids (at most n) and return how
 * many there are (which may exceed n), or -EINVAL.  Slots without a worker
 * (after join, or after a failed start) are skipped.
 */
TEND_API int tend_pool_pids(const tend_pool *pool, pid_t *pids, size_t n);

#ifdef __cplusplus
}
#endif

#endif
