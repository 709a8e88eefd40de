/*
 * Spill files: a message longer than a queue's slot travels through a file
 * in /dev/shm ("/tend-py-<id>-<who><n>-<seq>"), written whole by its sender
 * and read and removed by its receiver; whoever owns the id (a pool, a named
 * queue's unlink) sweeps what a killed receiver left.  Used by pool.c (tasks
 * and results) and queue.c (objects larger than max_msg).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tendpy.h"

void tp_spill_name(char *out, uint64_t id, char who, long a, uint64_t seq)
{
	snprintf(out, TP_SPILL_NAME_MAX, "/tend-py-%016llx-%c%ld-%llu", (unsigned long long)id, who, a,
		 (unsigned long long)seq);
}

int tp_spill_write(const char *name, const void *const *parts, const size_t *lens, int n)
{
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600), i, r = 0;

	if (fd < 0)
		return -errno;
	for (i = 0; i < n && r == 0; i++) {
		const unsigned char *p = parts[i];
		size_t left = lens[i];

		while (left > 0) {
			ssize_t w = write(fd, p, left);

			if (w < 0) {
				if (errno == EINTR)
					continue;
				r = -errno;
				break;
			}
			p += w;
			left -= (size_t)w;
		}
	}
	close(fd);
	if (r < 0)
		shm_unlink(name);
	return r;
}

PyObject *tp_spill_take(const char *name)
{
	int fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
	struct stat st;
	PyObject *b = NULL;
	size_t got = 0;

	if (fd < 0)
		return PyErr_SetFromErrnoWithFilename(PyExc_OSError, name);
	if (fstat(fd, &st) < 0) {
		PyErr_SetFromErrnoWithFilename(PyExc_OSError, name);
		goto out_close;
	}
	b = PyBytes_FromStringAndSize(NULL, st.st_size);
	if (!b)
		goto out_close;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, PyBytes_AS_STRING(b) + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			Py_CLEAR(b);
			if (r == 0)
				errno = EIO;
			PyErr_SetFromErrnoWithFilename(PyExc_OSError, name);
			break;
		}
		got += (size_t)r;
	}
out_close:
	close(fd);
	shm_unlink(name);
	return b;
}

void tp_spill_sweep(uint64_t id)
{
	char prefix[40], path[NAME_MAX + 2];
	struct dirent *e;
	DIR *d = opendir("/dev/shm");
	size_t n;

	if (!d)
		return;
	n = (size_t)snprintf(prefix, sizeof(prefix), "tend-py-%016llx-", (unsigned long long)id);
	while ((e = readdir(d)))
		if (strncmp(e->d_name, prefix, n) == 0) {
			snprintf(path, sizeof(path), "/%s", e->d_name);
			shm_unlink(path);
		}
	closedir(d);
}
