/*
 * The fixture the libtend tests share (included by test_lib_queue.c,
 * test_lib_shm.c, test_lib_counter.c and test_lib_map.c): unique /dev/shm names, and the children of the
 * running test, tracked so that a failed assertion (which longjmps out of the
 * test) leaves none behind: kill_kids() as the teardown kills and reaps them
 * and unlinks the test's last name; memfd_with() and image_of() make and
 * read back object images for the open-path tests (LIB_OPEN_IMAGE defines
 * the opener of one kind); DIE_AT runs a call in a child that SIGKILLs
 * itself at a numbered fault point.  Define LIB_TEST_PREFIX ("queue", "shm",
 * "ctr", "map") before including it; every function is inline, so a test
 * that needs only some of them compiles without warnings.
 */
#ifndef TEND_LIB_FIXTURE_H
#define TEND_LIB_FIXTURE_H

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/sync.h"

static char shm_name[64];

static inline const char *unique_name(const char *tag)
{
	static int n;

	snprintf(shm_name, sizeof(shm_name), "/tend-test-%s-%s-%d-%d", LIB_TEST_PREFIX, tag, (int)getpid(), n++);
	return shm_name;
}

static inline int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Children of the running test, so that a failed assertion (which
 * longjmps out of the test) does not leave them behind: the teardown kills
 * and reaps whatever is still here (and unlinks the test's last shm name).
 * A reaped child leaves the list. */
static pid_t kids[64];
static int nkids;

static inline pid_t fork_kid(void)
{
	pid_t pid = fork();

	if (pid > 0 && nkids < (int)(sizeof(kids) / sizeof(kids[0])))
		kids[nkids++] = pid;
	return pid;
}

static inline void forget_kid(pid_t pid)
{
	int i;

	for (i = 0; i < nkids; i++)
		if (kids[i] == pid) {
			kids[i] = kids[--nkids];
			return;
		}
}

static inline int kill_kids(void **state)
{
	(void)state;
	while (nkids > 0) {
		pid_t pid = kids[--nkids];

		if (pid > 0) { /* never kill(-1) or kill(0) */
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
	/* and the last name a failed test may have left in /dev/shm */
	if (shm_name[0])
		shm_unlink(shm_name);
	shm_name[0] = 0;
	return 0;
}

static inline int reap(pid_t pid, int ms)
{
	int64_t end = now_ms() + ms;
	int st;

	if (pid <= 0) /* never kill(-1) or kill(0) */
		return -1;
	while (now_ms() < end) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			forget_kid(pid);
			return st;
		}
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	forget_kid(pid);
	return -1;
}

/* The child's exit code, or -1 when it was killed or timed out. */
static inline int exit_code(pid_t pid, int ms)
{
	int st = reap(pid, ms);

	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static inline void kill_and_reap(pid_t pid)
{
	int st;

	assert_true(pid > 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	forget_kid(pid);
	assert_true(WIFSIGNALED(st));
}

static inline int memfd_with(const void *bytes, size_t len, size_t size)
{
	int fd = memfd_create("t", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	if (len)
		assert_int_equal(pwrite(fd, bytes, len, 0), (ssize_t)len);
	return fd;
}

/* The bytes of an object (through its fd), to corrupt one field at a time. */
static inline unsigned char *image_of(int fd, size_t *ret_len)
{
	struct stat st;
	unsigned char *img;

	assert_int_equal(fstat(fd, &st), 0);
	img = malloc((size_t)st.st_size);
	assert_non_null(img);
	assert_int_equal(pread(fd, img, (size_t)st.st_size, 0), st.st_size);
	*ret_len = (size_t)st.st_size;
	return img;
}

/*
 * Define open_image(IMG, LEN, SIZE) for one kind: a copy of IMG's first LEN
 * bytes in an object of SIZE bytes, opened through OPEN_FD; an object that
 * opens gets USE (a statement on the handle h) and is freed, one that does
 * not must leave the handle untouched.  Returns what OPEN_FD returned.
 */
#define LIB_OPEN_IMAGE(type, open_fd, free_fn, use)                                   \
	static int open_image(const unsigned char *img, size_t len, size_t size)      \
	{                                                                             \
		type *h = NULL;                                                       \
		int fd = memfd_with(img, len, size), r;                               \
                                                                                      \
		r = open_fd(&h, fd);                                                  \
		close(fd);                                                            \
		if (r == 0) {                                                         \
			assert_non_null(h);                                           \
			use;                                                          \
			free_fn(h);                                                   \
		} else {                                                              \
			assert_null(h);                                               \
		}                                                                     \
		return r;                                                             \
	}

/* The point DIE_AT's child dies at. */
static int fixture_kill_point __attribute__((unused));

static inline void fixture_kill_at(int point)
{
	if (point == fixture_kill_point)
		raise(SIGKILL);
}

/*
 * Run CALL in a child that SIGKILLs itself at fault point POINT (see
 * tend__fault_hook) and exits 0 if the call returns; the child's wait status
 * (-1: it did not end within 10 s and was killed).
 */
#define DIE_AT(point, call)                                                           \
	({                                                                            \
		pid_t pid_ = fork_kid();                                              \
                                                                                      \
		assert_true(pid_ >= 0);                                               \
		if (pid_ == 0) {                                                      \
			fixture_kill_point = (point);                                 \
			tend__fault_hook = fixture_kill_at;                           \
			call;                                                         \
			_exit(0);                                                     \
		}                                                                     \
		reap(pid_, 10000);                                                    \
	})

/* The checks every libtend open makes of the header all objects share (magic
 * at byte 0, layout version at byte 8, size and readiness): OPEN_IMAGE opens a
 * copy of IMG's first LEN bytes in an object of SIZE bytes; IMG is a good
 * image of LEN bytes, BAD scratch space of LEN bytes (left all zero), TRUNC
 * how much a truncated copy lacks. */
static inline void check_common_header(int (*open_image)(const unsigned char *, size_t, size_t),
				       const unsigned char *img, unsigned char *bad, size_t len,
				       size_t trunc)
{
	assert_int_equal(open_image(img, len, len), 0);
	/* empty object: a creator that has not finished */
	assert_int_equal(open_image(img, 0, 0), -EAGAIN);
	/* smaller than a header */
	assert_int_equal(open_image(img, 16, 16), -EBADMSG);
	/* truncated: the header says more than the object holds */
	assert_int_equal(open_image(img, len - trunc, len - trunc), -EBADMSG);
	/* grown */
	assert_int_equal(open_image(img, len, len + 4096), -EBADMSG);
	/* wrong magic */
	memcpy(bad, img, len);
	bad[0] ^= 0xff;
	assert_int_equal(open_image(bad, len, len), -EBADMSG);
	/* other layout version */
	memcpy(bad, img, len);
	bad[8] += 1;
	assert_int_equal(open_image(bad, len, len), -EPROTO);
	/* not marked ready, all zero: being created */
	memset(bad, 0, len);
	assert_int_equal(open_image(bad, len, len), -EAGAIN);
}

#endif
