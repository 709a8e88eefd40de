/*
 * libtend internals: the shared-memory segment under every libtend object
 * (queue, shm array, counter).  A segment is a POSIX shm object (named) or a
 * sealed memfd (anonymous, inherited over fork), mapped MAP_SHARED, that
 * starts with struct tend__seg_hdr.  Opening validates the header against the
 * object's real size before anything else is read.
 */
#ifndef TEND_LIB_SEG_H
#define TEND_LIB_SEG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/sync.h"

/* Objects larger than this are refused (a corrupted size field). */
#define TEND__SEG_MAX ((uint64_t)1 << 40)

#define TEND__SEG_READY 0x52454459u /* "READY" */

struct tend__seg_hdr {
	uint64_t magic;         /* which kind of object */
	uint32_t version;       /* layout version of that kind */
	uint32_t hdr_size;      /* sizeof the kind's header struct */
	uint64_t total_size;    /* bytes of the object */
	_Atomic uint32_t ready; /* TEND__SEG_READY once initialised */
	uint32_t reserved;
};

struct tend__seg {
	unsigned char *base;
	size_t size;
	int fd;
};

/* Check a shm name: "/x", at most NAME_MAX bytes, one slash.  0 or -EINVAL. */
TEND__HIDDEN int tend__seg_name_check(const char *name);

/*
 * Create a zero-filled segment of size bytes: the shm object name (O_EXCL,
 * mode or 0600 when 0) or, for a NULL name, a sealed memfd.  The caller
 * fills it, then calls tend__seg_publish.  Returns 0, -EEXIST, -EINVAL,
 * -ENOMEM or another -errno; on failure nothing is left behind.
 */
TEND__HIDDEN int tend__seg_create(struct tend__seg *s, const char *name, size_t size, unsigned mode);

/* Write the common header and mark the segment ready (release).
 * This function can't fail. */
TEND__HIDDEN void tend__seg_publish(struct tend__seg *s, uint64_t magic, uint32_t version, uint32_t hdr_size);

/*
 * Map an existing object and check its common header: -ENOENT (no such
 * name), -EAGAIN (exists, not yet initialised), -EBADMSG (not a libtend
 * object of this kind, truncated, or sizes that do not match), -EPROTO (a
 * different layout version).  tend__seg_open opens NAME, or FD when NAME is
 * NULL.  Neither takes fd: it is duplicated (O_CLOEXEC).
 */
TEND__HIDDEN int tend__seg_open(struct tend__seg *s, const char *name, int fd, uint64_t magic, uint32_t version,
				uint32_t hdr_size);
TEND__HIDDEN int tend__seg_open_fd(struct tend__seg *s, int fd, uint64_t magic, uint32_t version,
				   uint32_t hdr_size);

/*
 * tend__seg_open of a name, mapped read-only (PROT_READ; read permission on
 * the object is enough): for tools that only look.  Nothing may write
 * through s.  Errors as tend__seg_open, plus -EINVAL (bad name).
 */
TEND__HIDDEN int tend__seg_open_ro(struct tend__seg *s, const char *name, uint64_t magic, uint32_t version,
				   uint32_t hdr_size);

/*
 * Open a libtend object into a new handle: allocate hsize zeroed bytes whose
 * first member is the handle's struct tend__seg, tend__seg_open NAME (or FD
 * when NAME is NULL) as the kind (magic, version, hdr_size), then
 * adopt(handle), which checks the kind's own header against the segment and
 * fills the rest of the handle (0, or -EBADMSG).  Returns 0 with the handle
 * in *ret_h, or an -errno of tend__seg_open, adopt's, -EINVAL (NULL ret_h)
 * or -ENOMEM, with nothing left behind.
 */
TEND__HIDDEN int tend__obj_open(void **ret_h, size_t hsize, const char *name, int fd, uint64_t magic,
				uint32_t version, uint32_t hdr_size, int (*adopt)(void *h));

/* Unmap and close.  Accepts an empty segment.  This function can't fail. */
TEND__HIDDEN void tend__seg_close(struct tend__seg *s);

/* shm_unlink with name checking: 0, -EINVAL, -ENOENT, -EACCES. */
TEND__HIDDEN int tend__seg_unlink(const char *name);

static inline uint64_t tend__align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

#endif
