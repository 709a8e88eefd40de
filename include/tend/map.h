/*
 * tend_map: a fixed-capacity hash map in shared memory, for processes (and
 * threads) on one machine: session state, feature flags and caches that
 * every worker of a service reads at memory speed.
 *
 * Keys are byte strings of 1..TEND_MAP_KEY_MAX (250, memcached's limit)
 * bytes; values byte strings of 0..max_value bytes, both fixed at creation
 * with the number of items the index is sized for (capacity) and the bytes
 * of the value arena (mem_bytes).  A map is named ("/name" in /dev/shm:
 * create, open, unlink) or anonymous (create with a NULL name; a child
 * inherits it over fork(), or pass its fd).
 *
 * Every item carries a version (a 64-bit number unique in the map, changed
 * by every write of the item) for compare-and-swap, and an optional
 * time-to-live.  An expired item is gone for every call at once (checked
 * lazily on access); its memory is reclaimed by later writes of its stripe
 * and by tend_map_sweep().  When the map is full (no memory of the item's
 * size class, or no free index slot for its key) a write evicts items that
 * were not read recently (CLOCK: a get marks an item, the eviction hand
 * clears marks and takes the first unmarked item of the needed size class),
 * unless the map was created with TEND_MAP_NOEVICT: then the write fails
 * with -ENOSPC.  Memory is not moved between size classes: a map whose
 * value sizes change over its life may run out for a size (-ENOSPC) while
 * items of other sizes fill it (docs/libtend.md).
 *
 * Concurrency: reads take no lock (each bucket of the index is a seqlock: a
 * read copies, then checks that no write touched the bucket meanwhile, and
 * retries if one did), so readers never wait for each other and a writer
 * delays only readers of its own bucket, for the instant of its commit.
 * Writers take the lock of the key's stripe (1..64 stripes, each a share of
 * the index and of the arena), so writers of different stripes run at once.
 *
 * Robustness: a process killed (SIGKILL, at any instant) inside a write
 * leaves the map consistent: the write happened entirely or not at all, no
 * arena memory is lost, no reader ever sees a torn value, and the lock it
 * held is taken over by the next writer (or by a reader that finds the
 * dead writer's bucket in mid-write), which finishes or undoes the write
 * from the stripe's intent record.  Requirements: every user sees the
 * others' tids (one PID namespace) and /proc is mounted (to tell a dead
 * owner from a live one), as for tend_queue.
 *
 * Times are CLOCK_MONOTONIC milliseconds, shared by every process of the
 * machine.  Thread safety: every call may be made from any number of
 * threads and processes at once, except tend_map_free(), which must not
 * race other calls on the same handle.  The hit and miss counts of a handle
 * used by several threads at once may miss a few increments.
 */
#ifndef TEND_MAP_H
#define TEND_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "tend/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tend_map tend_map;

#define TEND_MAP_KEY_MAX 250u                    /* longest key */
#define TEND_MAP_VALUE_MAX (1u << 24)            /* largest max_value (16 MiB) */
#define TEND_MAP_CAPACITY_MAX (1u << 30)         /* most items */
#define TEND_MAP_MEM_MAX ((uint64_t)1 << 36)     /* largest arena (64 GiB) */

/* Creation flags. */
#define TEND_MAP_NOEVICT 0x1u /* a full map refuses writes (-ENOSPC) instead of evicting */

/* Counters of a map, summed over every process that uses it. */
struct tend_map_stats {
	uint64_t items;       /* items stored (expired ones not yet reclaimed included) */
	uint64_t bytes;       /* bytes of their keys and values */
	uint64_t mem_used;    /* arena bytes their chunks take (item header, rounding) */
	uint64_t mem_total;   /* arena bytes of the map */
	uint64_t capacity;    /* items the index was sized for */
	uint64_t hits;        /* gets that found their key */
	uint64_t misses;      /* gets that did not (expired keys included) */
	uint64_t evictions;   /* items removed to make room */
	uint64_t expirations; /* expired items reclaimed */
	uint64_t index_bytes; /* bytes of the index (buckets) */
	uint64_t read_retries; /* gets that read a bucket again: a write got in the way */
};

/*
 * Create a map and return a handle in *ret_m.  name: "/name" for a named
 * map (fails with -EEXIST if it exists), or NULL for an anonymous one.
 * capacity: items the index is sized for, 1..TEND_MAP_CAPACITY_MAX (the
 * index has slots for 1.75 times as many; a new key whose two buckets are
 * full moves items to their other buckets, two cuckoo steps deep, else
 * evicts or fails).  max_value: largest value in bytes,
 * 1..TEND_MAP_VALUE_MAX.  mem_bytes: bytes of the value arena (0
 * means capacity * 128, and at least 64 pages), at most TEND_MAP_MEM_MAX,
 * rounded up to whole pages (16 KiB, or the largest item rounded up to a
 * power of two if that is larger).  Memory is handed out a page at a time
 * to a size class: give a map that stores values of many sizes a few pages
 * per size.
 * flags: 0 or TEND_MAP_NOEVICT.  mode: permission bits of a named map (0
 * means 0600).  Returns 0, -EINVAL (bad argument or name), -EEXIST, -ENOMEM,
 * -EFBIG (the object would exceed 1 TiB) or another -errno from
 * shm_open/memfd_create/ftruncate/mmap.  *ret_m is written only on success;
 * free the handle with tend_map_free().
 */
TEND_API int tend_map_create(tend_map **ret_m, const char *name, size_t capacity, size_t max_value,
			     size_t mem_bytes, unsigned flags, unsigned mode);

/*
 * Open an existing named map.  Returns 0, -EINVAL (bad name or NULL),
 * -ENOENT, -EACCES, -EAGAIN (its creator has not finished initialising it:
 * retry), -EBADMSG (not a tend map, truncated, or a geometry that does not
 * match the object's real size), -EPROTO (made by an incompatible libtend
 * version), -ENOMEM.  Nothing in the object is trusted: the geometry is
 * recomputed from the creation arguments, checked against the object's size
 * and kept in the handle; every offset read from the map later is checked
 * against it.
 */
TEND_API int tend_map_open(tend_map **ret_m, const char *name);

/*
 * Open a map from a file descriptor of its shared-memory object (see
 * tend_map_fd()).  fd stays the caller's: the handle keeps its own
 * duplicate.  Errors as tend_map_open(), plus -EBADF.
 */
TEND_API int tend_map_open_fd(tend_map **ret_m, int fd);

/*
 * Remove a map's name; handles already open keep working and the memory
 * goes away with the last one.  Returns 0, -EINVAL, -ENOENT, -EACCES.
 */
TEND_API int tend_map_unlink(const char *name);

/*
 * Release a handle (its hit and miss counts are added to the map's first):
 * unmap the map and close its fd.  The map stays for other handles.
 * Accepts NULL; returns NULL.
 */
TEND_API tend_map *tend_map_free(tend_map *m);

/*
 * Copy the value of key (klen bytes) into buf (cap bytes).  Takes no lock.
 * Returns the value's length (>= 0) and, when ret_version is not NULL, its
 * version in *ret_version.  Errors: -ENOENT (no such key, or it expired),
 * -EMSGSIZE (the value is longer than cap; tend_map_max_value() is always
 * enough), -EINVAL (NULL handle or key, klen 0 or > TEND_MAP_KEY_MAX, NULL
 * buf with cap > 0).  On error the contents of buf are unspecified and
 * *ret_version is untouched.
 */
TEND_API int tend_map_get(tend_map *m, const void *key, size_t klen, void *buf, size_t cap,
			  uint64_t *ret_version);

/*
 * Store value (vlen bytes) under key: set always, add only when the key is
 * absent, replace only when it is present, cas only when its version is
 * cas_version.  ttl_ms: the item expires that many milliseconds from now
 * (0: never).  On success the item has a new version, written to
 * *ret_version when it is not NULL.  Returns 0, -EEXIST (add: the key is
 * present), -ENOENT (replace, cas: the key is absent or expired), -ESTALE
 * (cas: the item has another version), -ENOSPC (no room: TEND_MAP_NOEVICT,
 * or nothing of this size could be evicted), -EMSGSIZE (vlen > max_value),
 * -EINVAL (NULL handle or key, klen 0 or > TEND_MAP_KEY_MAX, NULL value with
 * vlen > 0, ttl_ms < 0).  A write that fails changes nothing.
 */
TEND_API int tend_map_set(tend_map *m, const void *key, size_t klen, const void *value, size_t vlen,
			  int64_t ttl_ms, uint64_t *ret_version);
TEND_API int tend_map_add(tend_map *m, const void *key, size_t klen, const void *value, size_t vlen,
			  int64_t ttl_ms, uint64_t *ret_version);
TEND_API int tend_map_replace(tend_map *m, const void *key, size_t klen, const void *value, size_t vlen,
			      int64_t ttl_ms, uint64_t *ret_version);
TEND_API int tend_map_cas(tend_map *m, const void *key, size_t klen, const void *value, size_t vlen,
			  int64_t ttl_ms, uint64_t cas_version, uint64_t *ret_version);

/*
 * Remove key.  Returns 0, -ENOENT (absent or expired), -EINVAL (NULL handle
 * or key, bad klen).
 */
TEND_API int tend_map_delete(tend_map *m, const void *key, size_t klen);

/*
 * Remove key only if its version is cas_version (what tend_map_get gave):
 * a pop that exactly one of several racing callers wins.  Returns 0,
 * -ESTALE (the item has another version: it was written meanwhile),
 * -ENOENT (absent or expired), -EINVAL (as tend_map_delete).
 */
TEND_API int tend_map_delete_cas(tend_map *m, const void *key, size_t klen, uint64_t cas_version);

/*
 * Add delta to the 64-bit unsigned integer (8 bytes, host byte order) that
 * is the value of key, modulo 2^64 (a negative delta decrements, wrapping
 * below 0), in place and atomically for every reader; the item keeps its
 * expiry and gets a new version.  Writes the new value to *ret_value when
 * it is not NULL.  Returns 0, -ENOENT (absent or expired), -EDOM (the value
 * is not 8 bytes long), -EINVAL (NULL handle or key, bad klen).
 */
TEND_API int tend_map_incr(tend_map *m, const void *key, size_t klen, int64_t delta, uint64_t *ret_value);

/*
 * Walk the keys, for admin tools.  *cursor starts at 0; each call copies
 * the next key into key (cap >= TEND_MAP_KEY_MAX bytes), its length to
 * *ret_klen, and returns 1; it returns 0 when the walk is over.  Takes no
 * lock: a key present (and unexpired) during the whole walk is returned
 * exactly once, a key written or removed meanwhile may or may not be.
 * Errors: -EINVAL (NULL argument, cap < TEND_MAP_KEY_MAX).
 */
TEND_API int tend_map_next(tend_map *m, uint64_t *cursor, void *key, size_t cap, size_t *ret_klen);

/*
 * Remove every expired item now (writes do it a bucket at a time as they
 * go).  Returns the number removed, or -EINVAL.
 */
TEND_API int tend_map_sweep(tend_map *m);

/*
 * Fill *ret with the map's counters (this handle's hits and misses added to
 * the shared ones first).  items, bytes and mem_used are exact once writes
 * have stopped; hits and misses of other live handles lag by at most 255
 * each.  Returns 0 or -EINVAL.
 */
TEND_API int tend_map_stats(tend_map *m, struct tend_map_stats *ret);

/*
 * The counters of the named map, read without writing to it: the object is
 * opened and mapped read-only (read permission is enough), validated like
 * tend_map_open(), read and closed; for monitoring tools.  Returns 0, or
 * the errors of tend_map_open().
 */
TEND_API int tend_map_stats_name(const char *name, struct tend_map_stats *ret);

/* The geometry given at creation.  These functions can't fail (m != NULL). */
TEND_API size_t tend_map_capacity(const tend_map *m);
TEND_API size_t tend_map_max_value(const tend_map *m);
TEND_API size_t tend_map_mem_bytes(const tend_map *m);
TEND_API unsigned tend_map_flags(const tend_map *m);

/* The handle's file descriptor of the map's object (O_CLOEXEC, owned by the
 * handle), to pass to another process.  This function can't fail. */
TEND_API int tend_map_fd(const tend_map *m);

#ifdef __cplusplus
}
#endif

#endif
