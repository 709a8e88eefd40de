/*
 * tend_shm: a shared array of fixed-size elements with a robust lock, for
 * processes (and threads) on one machine: the C counterpart of
 * multiprocessing.Array / Value with their lock.
 *
 * An array holds `nelem` elements of `elem_size` bytes each, both fixed at
 * creation, zero-filled.  It is named ("/name" in /dev/shm: create, open,
 * unlink) or anonymous (create with a NULL name; a child inherits it over
 * fork(), or pass its fd).  Elements start 64-byte aligned and follow each
 * other without padding, so elem_size decides the alignment of the others.
 *
 * The lock is process-shared and robust: its word names the owner thread
 * exactly (tid and start time), and a thread that waits for a lock whose
 * owner has died (SIGKILL, exit, crash, at any instant) takes it over.  The
 * call that takes it over returns 1 instead of 0 ("owner died"); the data the
 * dead owner was changing may be half-written, and it is that caller's job
 * to check or repair it before it unlocks.  The lock itself is consistent
 * again at once: unlike pthread's EOWNERDEAD there is nothing else to call,
 * and the death is reported to exactly one locker.  A waiter asleep when the
 * owner dies notices within its sleep slice (1 ms, doubling up to 100 ms);
 * one that arrives later takes the lock over at once.  Requirements: every
 * user sees the others' tids (one PID namespace) and /proc is mounted.
 *
 * Nothing forces callers to take the lock: tend_shm_at() gives plain
 * pointers, for data that is read and written with atomics or by one writer.
 * tend_shm_get() and tend_shm_set() copy one element under the lock.
 *
 * Thread safety: every call may be made from any number of threads and
 * processes at once, except tend_shm_free(), which must not race other calls
 * on the same handle and must not be called by a thread that holds the lock.
 */
#ifndef TEND_SHM_H
#define TEND_SHM_H

#include <stddef.h>
#include <stdint.h>

#include "tend/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tend_shm tend_shm;

#define TEND_SHM_ELEM_MAX (1u << 24)        /* largest elem_size (16 MiB) */
#define TEND_SHM_NELEM_MAX ((size_t)1 << 32) /* most elements */

/*
 * Create an array of nelem elements (1..TEND_SHM_NELEM_MAX) of elem_size
 * bytes (1..TEND_SHM_ELEM_MAX), zero-filled, unlocked, and return a handle in
 * *ret_s.  name: "/name" for a named array (fails with -EEXIST if it
 * exists), or NULL for an anonymous one.  mode: permission bits of a named
 * array (0 means 0600).  Returns 0, -EINVAL (bad argument or name), -EEXIST,
 * -ENOMEM, -EFBIG (more than 1 TiB) or another -errno from
 * shm_open/memfd_create/ftruncate/mmap.  *ret_s is written only on success;
 * free the handle with tend_shm_free().
 */
TEND_API int tend_shm_create(tend_shm **ret_s, const char *name, size_t nelem, size_t elem_size, unsigned mode);

/*
 * Open an existing named array.  Returns 0, -EINVAL (bad name or NULL),
 * -ENOENT, -EACCES, -EAGAIN (its creator has not finished initialising it:
 * retry), -EBADMSG (not a tend array, truncated, or sizes that do not match
 * the object's real size), -EPROTO (made by an incompatible libtend
 * version), -ENOMEM.  Nothing in the object is trusted: the sizes are checked
 * against the object's size before use and kept in the handle.
 */
TEND_API int tend_shm_open(tend_shm **ret_s, const char *name);

/*
 * Open an array from a file descriptor of its shared-memory object (see
 * tend_shm_fd()).  fd stays the caller's: the handle keeps its own
 * duplicate.  Errors as tend_shm_open(), plus -EBADF.
 */
TEND_API int tend_shm_open_fd(tend_shm **ret_s, int fd);

/*
 * Remove an array's name; handles already open keep working and the memory
 * goes away with the last one.  Returns 0, -EINVAL, -ENOENT, -EACCES.
 */
TEND_API int tend_shm_unlink(const char *name);

/*
 * Release a handle: unmap the array and close its fd.  The array stays for
 * other handles.  Accepts NULL; returns NULL.
 */
TEND_API tend_shm *tend_shm_free(tend_shm *s);

/*
 * Take the lock, waiting as long as it takes.  Returns 0 (taken), 1 (taken
 * over from an owner that died: repair the data, then unlock), -EDEADLK (the
 * calling thread holds it already), -EINVAL (NULL).
 */
TEND_API int tend_shm_lock(tend_shm *s);

/*
 * Take the lock if no live thread holds it.  Returns 0, 1 (taken over from a
 * dead owner, as tend_shm_lock()), -EAGAIN (a live thread holds it),
 * -EDEADLK, -EINVAL.
 */
TEND_API int tend_shm_trylock(tend_shm *s);

/*
 * Take the lock, waiting at most timeout_ns (TEND_FOREVER: as long as it
 * takes; TEND_NOWAIT: as tend_shm_trylock()).  Returns 0, 1 (taken over from
 * a dead owner), -ETIMEDOUT, -EAGAIN (TEND_NOWAIT only), -EDEADLK, -EINVAL.
 */
TEND_API int tend_shm_timedlock(tend_shm *s, int64_t timeout_ns);

/*
 * Release the lock held by the calling thread and wake a waiter.  Returns 0,
 * -EPERM (the calling thread does not hold it), -EINVAL.
 */
TEND_API int tend_shm_unlock(tend_shm *s);

/*
 * The address of element index in this process (valid until
 * tend_shm_free()), or NULL when s is NULL or index >= nelem.  No lock is
 * taken.
 */
TEND_API void *tend_shm_at(tend_shm *s, size_t index);

/*
 * Copy element index into buf (elem_size bytes) under the lock.  Returns 0,
 * 1 (the lock was taken over from a dead owner: the element may be
 * half-written), -ERANGE (index >= nelem), -EDEADLK (the calling thread
 * holds the lock: use tend_shm_at()), -EINVAL (NULL s or buf).
 */
TEND_API int tend_shm_get(tend_shm *s, size_t index, void *buf);

/*
 * Copy elem_size bytes from val into element index under the lock.  Returns
 * as tend_shm_get() (1: the lock was taken over from a dead owner; this
 * element is whole now, others may not be).
 */
TEND_API int tend_shm_set(tend_shm *s, size_t index, const void *val);

/* The geometry given at creation.  These functions can't fail (s != NULL). */
TEND_API size_t tend_shm_nelem(const tend_shm *s);
TEND_API size_t tend_shm_elem_size(const tend_shm *s);

/* The handle's file descriptor of the array's object (O_CLOEXEC, owned by
 * the handle), to pass to another process.  This function can't fail. */
TEND_API int tend_shm_fd(const tend_shm *s);

#ifdef __cplusplus
}
#endif

#endif
