/*
 * libtend internals of tend_map that its tests and fuzz target use: the
 * numbered fault points of the write paths, a consistency check, and a
 * bound on lock waits.
 */
#ifndef TEND_LIB_MAP_INTERNAL_H
#define TEND_LIB_MAP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/sync.h"
#include "tend/map.h"

/* Fault points (tend__fault_hook) of the map's writes, in the order a set
 * passes them.  A kill at a point before TEND__MAP_FP_COMMITTED leaves the
 * old item; at or after it, the new one. */
enum {
	TEND__MAP_FP_LOCKED = 41,   /* stripe lock taken */
	TEND__MAP_FP_ALLOC_INTENT,  /* chunk to take written in the intent record */
	TEND__MAP_FP_ALLOCATED,     /* chunk taken from a free list or a page */
	TEND__MAP_FP_WRITTEN,       /* new item written in its chunk, unpublished */
	TEND__MAP_FP_PUB_INTENT,    /* publish intent recorded */
	TEND__MAP_FP_SEQ_ODD,       /* bucket seqlock odd */
	TEND__MAP_FP_COMMITTED,     /* slot word stored: the write happened */
	TEND__MAP_FP_SEQ_EVEN,      /* bucket seqlock even again */
	TEND__MAP_FP_FREED,         /* the replaced chunk is on its free list */
	TEND__MAP_FP_DONE,          /* intent cleared, lock still held */
	TEND__MAP_FP_INCR_INTENT = 61, /* incr: redo record written */
	TEND__MAP_FP_INCR_ODD,      /* incr: bucket seqlock odd */
	TEND__MAP_FP_INCR_VALUE,    /* incr: value stored, version not yet */
	TEND__MAP_FP_INCR_VERSION,  /* incr: version stored, seqlock still odd */
	TEND__MAP_FP_INCR_EVEN,     /* incr: seqlock even, intent not cleared */
	TEND__MAP_FP_MOVED = 68,    /* an item copied to its other bucket, not yet cleared from the first */
	TEND__MAP_FP_RECLAIM_INTENT = 71, /* page reclaim recorded */
	TEND__MAP_FP_RECLAIM_EVICTED,  /* the page's items removed */
	TEND__MAP_FP_RECLAIM_FILTERED, /* its free chunks off the old class's list */
	TEND__MAP_FP_RECLAIM_COMMITTED, /* its meta word names the new class */
};

/*
 * How long a call of the map waits for a stripe lock that a live thread
 * holds: TEND_FOREVER (the default) or a bound in nanoseconds, after which
 * a write fails with -ETIMEDOUT and a read goes on without the repair the
 * lock would have made.  Only the fuzz target sets it (a fuzzed lock word
 * may name a live thread that will never unlock).
 */
extern TEND__HIDDEN int64_t tend__map_lock_timeout_ns;

/*
 * Check the whole map while holding every stripe lock (taking over and
 * repairing dead owners' first): every published chunk lies in a page of its
 * stripe and size class and is referenced once; free lists hold valid,
 * unreferenced chunks once each; every chunk carved from a page is either
 * published or free (no arena space lost); seqlocks are even, intent records
 * clear, keys in the buckets their hash names, no key twice, and the
 * stripes' item, byte and memory counts match.  Returns 0, or -EBADMSG with
 * a description in why (size why_len), or -ENOMEM.
 */
TEND__HIDDEN int tend__map_check(tend_map *m, char *why, size_t why_len);

#endif
