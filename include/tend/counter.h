/*
 * tend_counter: a 64-bit counter in shared memory that many processes add to
 * and any process reads, for statistics written from hot paths.
 *
 * Three kinds, one API:
 *
 *   TEND_COUNTER_PARTITIONED  nslots partitions, each on its own 64-byte
 *                             cache line.  A writer process claims one slot
 *                             and adds to it with a relaxed atomic add, so
 *                             writers never share a line; tend_counter_sum()
 *                             adds up every slot.  The kind to use with
 *                             several busy writers.
 *   TEND_COUNTER_ATOMIC       one atomic word that every writer adds to: a
 *                             sum is one load, an add moves the line between
 *                             writers' cores.
 *   TEND_COUNTER_LOCKED       one word behind the robust lock of tend_shm: a
 *                             reference for benchmarks, not for production.
 *
 * Slots (PARTITIONED).  A slot is claimed by a process (pid and start time,
 * not a thread: the threads of a process share its slot, which stays
 * correct because every add is atomic).  tend_counter_add() claims one on
 * its first call in each process, including in a child that inherited the
 * handle over fork(); tend_counter_claim() does it explicitly.  A slot whose
 * claimer has died (SIGKILL at any instant included) is given to the next
 * claimer when no slot is free, and keeps its value: nothing a writer added
 * ever leaves the sum.  When every slot is held by a live process, writers
 * without a slot add to a shared word instead (correct, only slower).
 *
 * A counter is named ("/name" in /dev/shm: create, open, unlink) or anonymous
 * (create with a NULL name; a child inherits it over fork(), or pass its fd).
 * Values wrap around modulo 2^64.  A sum is a snapshot that concurrent adds
 * may change at once; it counts every add that happened before it (in the
 * C11 sense: for example the adder's exit was reaped, or it said so through
 * a pipe or a lock).
 *
 * Thread safety: every call may be made from any number of threads and
 * processes at once, except tend_counter_free(), which must not race other
 * calls on the same handle.
 */
#ifndef TEND_COUNTER_H
#define TEND_COUNTER_H

#include <stddef.h>
#include <stdint.h>

#include "tend/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tend_counter tend_counter;

enum tend_counter_kind {
	TEND_COUNTER_PARTITIONED = 0,
	TEND_COUNTER_ATOMIC = 1,
	TEND_COUNTER_LOCKED = 2,
};

#define TEND_COUNTER_SLOTS_MAX 65536u /* most slots of a PARTITIONED counter */

/*
 * Create a counter of the given kind, value 0, and return a handle in
 * *ret_c.  name: "/name" for a named counter (fails with -EEXIST if it
 * exists), or NULL for an anonymous one.  nslots: writer slots of a
 * PARTITIONED counter, 1..TEND_COUNTER_SLOTS_MAX (give at least the number
 * of writer processes); must be 0 for the other kinds.  mode:
 * permission bits of a named counter (0 means 0600).  Returns 0, -EINVAL
 * (bad kind, nslots or name), -EEXIST, -ENOMEM or another -errno from
 * shm_open/memfd_create/ftruncate/mmap.  *ret_c is written only on success;
 * free the handle with tend_counter_free().
 */
TEND_API int tend_counter_create(tend_counter **ret_c, const char *name, enum tend_counter_kind kind,
				 unsigned nslots, unsigned mode);

/*
 * Open an existing named counter.  Returns 0, -EINVAL (bad name or NULL),
 * -ENOENT, -EACCES, -EAGAIN (its creator has not finished initialising it:
 * retry), -EBADMSG (not a tend counter, truncated, an unknown kind, or sizes
 * that do not match the object's real size), -EPROTO (made by an
 * incompatible libtend version), -ENOMEM.
 */
TEND_API int tend_counter_open(tend_counter **ret_c, const char *name);

/*
 * Open a counter from a file descriptor of its shared-memory object (see
 * tend_counter_fd()).  fd stays the caller's: the handle keeps its own
 * duplicate.  Errors as tend_counter_open(), plus -EBADF.
 */
TEND_API int tend_counter_open_fd(tend_counter **ret_c, int fd);

/*
 * Remove a counter's name; handles already open keep working and the memory
 * goes away with the last one.  Returns 0, -EINVAL, -ENOENT, -EACCES.
 */
TEND_API int tend_counter_unlink(const char *name);

/*
 * Release a handle (and the slot it claimed in this process, as
 * tend_counter_release()): unmap the counter and close its fd.  The counter
 * and its value stay for other handles.  Accepts NULL; returns NULL.
 */
TEND_API tend_counter *tend_counter_free(tend_counter *c);

/*
 * Claim a slot for the calling process through this handle (PARTITIONED),
 * unless the handle holds one in this process already.  Takes a free slot,
 * or else the slot of a claimer that died, keeping its value.  Returns the
 * slot's index (>= 0), -ENOSPC (every slot is held by a live process: adds
 * go to the shared word), -EINVAL (NULL).  For the other kinds there are no
 * slots: returns 0 and does nothing.
 */
TEND_API int tend_counter_claim(tend_counter *c);

/*
 * Give back the slot this handle claimed in the calling process, keeping its
 * value in the sum, so that another writer can claim it.  The next add
 * through this handle claims a slot again.  Returns 0 (released, or nothing
 * to release), -EINVAL (NULL).
 */
TEND_API int tend_counter_release(tend_counter *c);

/*
 * Add delta (negative to subtract) to the counter.  PARTITIONED: one relaxed
 * atomic add to the slot of the calling process, claimed on the first add in
 * each process (tend_counter_claim(): a few system calls, once).  Returns 0
 * or -EINVAL (NULL).
 */
TEND_API int tend_counter_add(tend_counter *c, int64_t delta);

/*
 * Read the counter's value into *ret_value: the sum of every slot and the
 * shared word.  Returns 0 or -EINVAL (NULL c or ret_value).
 */
TEND_API int tend_counter_sum(tend_counter *c, int64_t *ret_value);

/* The kind and the number of slots (0 for ATOMIC and LOCKED).  These
 * functions can't fail (c != NULL). */
TEND_API enum tend_counter_kind tend_counter_kind(const tend_counter *c);
TEND_API unsigned tend_counter_nslots(const tend_counter *c);

/* The handle's file descriptor of the counter's object (O_CLOEXEC, owned by
 * the handle), to pass to another process.  This function can't fail. */
TEND_API int tend_counter_fd(const tend_counter *c);

#ifdef __cplusplus
}
#endif

#endif
