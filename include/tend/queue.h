/*
 * tend_queue: a multi-producer multi-consumer message queue in shared memory,
 * with priorities, for processes (and threads) on one machine.
 *
 * A queue has `nprio` priority levels (1..TEND_QUEUE_PRIO_MAX).  Each level is
 * a bounded FIFO of `capacity` messages of 0..`max_msg` bytes.  put() appends
 * to the level of its priority; get() takes the oldest message of the highest
 * level that holds one (a higher number is a higher priority, as in POSIX mq).
 * A queue is named ("/name" in /dev/shm: create, open, unlink) or anonymous
 * (create with a NULL name; a child inherits it over fork(), or pass its fd).
 *
 * Storage: every level keeps capacity rounded up to a power of two slots of
 * 8 + max_msg bytes (rounded up to 8), so pick max_msg close to the real size:
 * a 64-byte message fills 72 bytes, a little over one cache line.
 *
 * Words used below:
 *
 *   committed put   A put() is committed at one instant inside the call: a
 *                   single 8-byte store that publishes the message's length
 *                   and sequence in its slot, after its bytes are in place.
 *                   Every put() that returns 0 was committed; a put() that
 *                   returns an error was not.  A producer killed (SIGKILL, at
 *                   any instant) inside put() either committed the message or
 *                   left no trace of it: never a partial message.
 *   committed get   A get() is committed at one instant inside the call: a
 *                   single store that advances the level's read position,
 *                   made after the message's bytes have been copied to the
 *                   caller's buffer.  Every get() that returns a length was
 *                   committed.  A consumer killed before that instant leaves
 *                   the message in the queue for the next get(); killed after
 *                   it, the message was delivered to it (its buffer holds it).
 *
 * The guarantee: whatever process is killed at whatever instant, every
 * committed message is delivered by exactly one committed get() (none is lost
 * and none is duplicated), FIFO order within a level is kept, and no surviving
 * put() or get() waits forever because of the dead process.  This holds
 * because the only shared state a dead peer can leave behind is a held lock,
 * and a lock word names its owner thread exactly (tid and start time): a
 * waiter that finds the owner gone takes the lock over and finishes what the
 * owner left half done.  A peer that has to wake sleepers does so before it
 * commits, while holding that lock, so a sleeper is never left waiting for a
 * wake-up from the dead.  See docs/libtend.md for the protocol.
 * Requirements: every user sees the others' tids (one PID namespace) and
 * /proc is mounted (to tell a dead owner from a live one).
 *
 * Waiting: a blocked put() or get() spins for a few microseconds, then
 * sleeps on a futex: an idle queue costs no CPU and no wake-ups.
 *
 * Thread safety: every call may be made from any number of threads and
 * processes at once, except tend_queue_free(), which must not race other
 * calls on the same handle.
 */
#ifndef TEND_QUEUE_H
#define TEND_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "tend/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tend_queue tend_queue;

#define TEND_QUEUE_PRIO_MAX 32u                 /* most priority levels */
#define TEND_QUEUE_CAPACITY_MAX (1u << 24)      /* most messages per level */
#define TEND_QUEUE_MSG_MAX (1u << 26)           /* longest max_msg (64 MiB) */

/*
 * Create a queue and return a handle in *ret_q.  name: "/name" for a named
 * queue (fails with -EEXIST if it exists), or NULL for an anonymous one.
 * capacity: messages per priority level, 1..TEND_QUEUE_CAPACITY_MAX.
 * max_msg: longest message in bytes, 1..TEND_QUEUE_MSG_MAX.  nprio: priority
 * levels, 1..TEND_QUEUE_PRIO_MAX.  mode: permission bits of a named queue
 * (0 means 0600).  Returns 0, -EINVAL (bad argument or name), -EEXIST,
 * -ENOMEM, -EFBIG (the levels would not fit in 1 TiB) or another -errno from
 * shm_open/memfd_create/ftruncate/mmap.  *ret_q is written only on success;
 * free the handle with tend_queue_free().
 */
TEND_API int tend_queue_create(tend_queue **ret_q, const char *name, size_t capacity, size_t max_msg,
			       unsigned nprio, unsigned mode);

/*
 * Open an existing named queue.  Returns 0, -EINVAL (bad name), -ENOENT,
 * -EACCES, -EAGAIN (it exists but its creator has not finished initialising
 * it: retry), -EBADMSG (not a tend queue, truncated, or inconsistent sizes),
 * -EPROTO (made by an incompatible libtend version), -ENOMEM.  Nothing in the
 * object is trusted: sizes are checked against the object's real size before
 * use and kept in the handle.
 */
TEND_API int tend_queue_open(tend_queue **ret_q, const char *name);

/*
 * Open a queue from a file descriptor of its shared-memory object (for
 * example received over a unix socket; see tend_queue_fd()).  fd stays the
 * caller's: the handle keeps its own duplicate.  Errors as tend_queue_open(),
 * plus -EBADF.
 */
TEND_API int tend_queue_open_fd(tend_queue **ret_q, int fd);

/*
 * Remove a queue's name; handles already open keep working and the memory
 * goes away with the last one.  Returns 0, -EINVAL, -ENOENT, -EACCES.
 */
TEND_API int tend_queue_unlink(const char *name);

/*
 * Release a handle: unmap the queue and close its fd.  The queue itself (and
 * its messages) stays for other handles.  Accepts NULL; returns NULL.
 */
TEND_API tend_queue *tend_queue_free(tend_queue *q);

/*
 * Append msg (len bytes, len <= max_msg) at priority prio (< nprio).
 * timeout_ns: TEND_FOREVER waits for room, TEND_NOWAIT does not wait for
 * room (it may wait up to 20 ms for a peer that holds the queue's lock at
 * that instant), > 0 waits at most that long (CLOCK_MONOTONIC).  Returns 0
 * (committed), -EAGAIN (TEND_NOWAIT and the level is full, or a live peer
 * held the lock for those 20 ms), -ETIMEDOUT, -EPIPE (the queue
 * is closed), -EINTR (a signal handler ran while it slept), -EMSGSIZE
 * (len > max_msg), -EINVAL (NULL handle, NULL msg with len > 0, bad prio).
 */
TEND_API int tend_queue_put(tend_queue *q, const void *msg, size_t len, unsigned prio, int64_t timeout_ns);

/*
 * Take the oldest message of the highest non-empty level into buf (cap
 * bytes).  A message committed before this call started is always seen.
 * Returns the message length (>= 0) and, when ret_prio is not NULL, its
 * priority in *ret_prio.  Errors: -EAGAIN (TEND_NOWAIT and empty, or a
 * live peer held the lock for 20 ms, as for put),
 * -ETIMEDOUT, -EPIPE (closed and empty: messages put before close are still
 * delivered), -EINTR, -EMSGSIZE (the next message is longer than cap; it
 * stays in the queue), -EBADMSG (a slot with an impossible length, written by
 * a corrupting peer: it is dropped), -EINVAL.  On error the contents of buf
 * are unspecified and *ret_prio is untouched.
 */
TEND_API int tend_queue_get(tend_queue *q, void *buf, size_t cap, unsigned *ret_prio, int64_t timeout_ns);

/*
 * Close the queue for every user (it stays closed): puts fail with -EPIPE,
 * gets drain what is left and then fail with -EPIPE, and every put() and
 * get() blocked in any process wakes up to see it.  Returns 0 or -EINVAL.
 */
TEND_API int tend_queue_close(tend_queue *q);

/* 1 if the queue was closed, 0 if not, -EINVAL for NULL. */
TEND_API int tend_queue_closed(tend_queue *q);

/*
 * Number of messages in all levels.  Like multiprocessing.Queue.qsize() it
 * is a snapshot that concurrent puts and gets may change at once.  Returns
 * the count or -EINVAL.
 */
TEND_API int tend_queue_qsize(tend_queue *q);

/* 1 if no level holds a committed message, 0 if one does, -EINVAL. */
TEND_API int tend_queue_empty(tend_queue *q);

/* 1 if level prio holds capacity messages (a put there would wait), 0 if
 * not, -EINVAL for NULL or prio >= nprio. */
TEND_API int tend_queue_full(tend_queue *q, unsigned prio);

/* The geometry given at creation.  These functions can't fail (q != NULL). */
TEND_API size_t tend_queue_capacity(const tend_queue *q);
TEND_API size_t tend_queue_max_msg(const tend_queue *q);
TEND_API unsigned tend_queue_nprio(const tend_queue *q);

/* The handle's file descriptor of the queue's object (O_CLOEXEC, owned by the
 * handle), to pass to another process.  This function can't fail. */
TEND_API int tend_queue_fd(const tend_queue *q);

#ifdef __cplusplus
}
#endif

#endif
