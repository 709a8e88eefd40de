/*
 * Shared-memory segments: create, publish, open and validate.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/seg.h"

int tend__seg_name_check(const char *name)
{
	size_t len;

	if (!name || name[0] != '/')
		return -EINVAL;
	len = strnlen(name, NAME_MAX + 1);
	if (len < 2 || len > NAME_MAX || strchr(name + 1, '/'))
		return -EINVAL;
	return 0;
}

int tend__seg_create(struct tend__seg *s, const char *name, size_t size, unsigned mode)
{
	void *base;
	int fd, r;

	s->base = NULL;
	s->size = 0;
	s->fd = -1;
	if (size < sizeof(struct tend__seg_hdr) || size > TEND__SEG_MAX)
		return -EINVAL;
	if (name) {
		r = tend__seg_name_check(name);
		if (r < 0)
			return r;
		fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode ? (mode_t)mode : 0600);
	} else {
		fd = memfd_create("tend", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	}
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		r = -errno;
		goto out_close;
	}
	/* Nobody can shrink an anonymous segment under its users (SIGBUS). */
	if (!name)
		(void)fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		r = -errno;
		goto out_close;
	}
	s->base = base;
	s->size = size;
	s->fd = fd;
	return 0;

out_close:
	close(fd);
	if (name)
		shm_unlink(name);
	return r;
}

void tend__seg_publish(struct tend__seg *s, uint64_t magic, uint32_t version, uint32_t hdr_size)
{
	struct tend__seg_hdr *h = (struct tend__seg_hdr *)s->base;

	h->magic = magic;
	h->version = version;
	h->hdr_size = hdr_size;
	h->total_size = s->size;
	atomic_store_explicit(&h->ready, TEND__SEG_READY, memory_order_release);
}

/* tend__seg_open_fd with the mapping's protection (PROT_READ: a read-only fd will do). */
static int seg_map_fd(struct tend__seg *s, int fd, int prot, uint64_t magic, uint32_t version, uint32_t hdr_size)
{
	const struct tend__seg_hdr *h;
	struct stat st;
	void *base;
	int own, r;

	s->base = NULL;
	s->size = 0;
	s->fd = -1;
	if (fd < 0)
		return -EBADF;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	if (st.st_size == 0)
		return -EAGAIN;
	if ((uint64_t)st.st_size < hdr_size || (uint64_t)st.st_size < sizeof(*h) ||
	    (uint64_t)st.st_size > TEND__SEG_MAX)
		return -EBADMSG;
	own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (own < 0)
		return -errno;
	base = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, own, 0);
	if (base == MAP_FAILED) {
		r = -errno;
		goto out_close;
	}
	h = base;
	if (atomic_load_explicit(&h->ready, memory_order_acquire) != TEND__SEG_READY)
		r = h->magic == 0 && h->ready == 0 ? -EAGAIN : -EBADMSG;
	else if (h->magic != magic)
		r = -EBADMSG;
	else if (h->version != version)
		r = -EPROTO;
	else if (h->hdr_size != hdr_size || h->total_size != (uint64_t)st.st_size)
		r = -EBADMSG;
	else
		r = 0;
	if (r < 0)
		goto out_unmap;
	s->base = base;
	s->size = (size_t)st.st_size;
	s->fd = own;
	return 0;

out_unmap:
	munmap(base, (size_t)st.st_size);
out_close:
	close(own);
	return r;
}

int tend__seg_open_fd(struct tend__seg *s, int fd, uint64_t magic, uint32_t version, uint32_t hdr_size)
{
	return seg_map_fd(s, fd, PROT_READ | PROT_WRITE, magic, version, hdr_size);
}

/* Maps the named segment with prot, after checking the name. */
static int seg_map_name(struct tend__seg *s, const char *name, int prot, uint64_t magic, uint32_t version,
			uint32_t hdr_size)
{
	int fd, r;

	s->base = NULL;
	s->size = 0;
	s->fd = -1;
	r = tend__seg_name_check(name);
	if (r < 0)
		return r;
	fd = shm_open(name, (prot & PROT_WRITE ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = seg_map_fd(s, fd, prot, magic, version, hdr_size);
	close(fd);
	return r;
}

int tend__seg_open_ro(struct tend__seg *s, const char *name, uint64_t magic, uint32_t version, uint32_t hdr_size)
{
	return seg_map_name(s, name, PROT_READ, magic, version, hdr_size);
}

int tend__seg_open(struct tend__seg *s, const char *name, int fd, uint64_t magic, uint32_t version,
		   uint32_t hdr_size)
{
	if (!name)
		return tend__seg_open_fd(s, fd, magic, version, hdr_size);
	return seg_map_name(s, name, PROT_READ | PROT_WRITE, magic, version, hdr_size);
}

int tend__obj_open(void **ret_h, size_t hsize, const char *name, int fd, uint64_t magic, uint32_t version,
		   uint32_t hdr_size, int (*adopt)(void *h))
{
	struct tend__seg *s;
	int r;

	if (!ret_h)
		return -EINVAL;
	s = calloc(1, hsize);
	if (!s)
		return -ENOMEM;
	r = tend__seg_open(s, name, fd, magic, version, hdr_size);
	if (r < 0)
		goto out_free;
	r = adopt(s);
	if (r < 0)
		goto out_close;
	*ret_h = s;
	return 0;

out_close:
	tend__seg_close(s);
out_free:
	free(s);
	return r;
}

void tend__seg_close(struct tend__seg *s)
{
	if (s->base)
		munmap(s->base, s->size);
	if (s->fd >= 0)
		close(s->fd);
	s->base = NULL;
	s->size = 0;
	s->fd = -1;
}

int tend__seg_unlink(const char *name)
{
	int r = tend__seg_name_check(name);

	if (r < 0)
		return r;
	return shm_unlink(name) < 0 ? -errno : 0;
}
