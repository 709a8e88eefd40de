/*
 * tend_shm (src/lib/shm.c): every call and error, foreign and truncated
 * objects, the lock's semantics between threads and processes, mutual
 * exclusion across processes, and recovery of a lock whose holder was
 * SIGKILLed: reported to exactly one locker, usable afterwards, for a locker
 * that comes later and for waiters asleep when the holder dies.
 *
 * Children never call cmocka: they report through their exit status, and
 * the parent asserts on it.  Every child is killed and reaped by its test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/sync.h"
#include "tend/counter.h"
#include "tend/queue.h"
#include "tend/shm.h"

#define MS (1000000LL)

#define LIB_TEST_PREFIX "shm"
#include "lib_fixture.h"

static tend_shm *anon(size_t nelem, size_t elem_size)
{
	tend_shm *s = NULL;

	assert_int_equal(tend_shm_create(&s, NULL, nelem, elem_size, 0), 0);
	assert_non_null(s);
	return s;
}

/* ---- creation and arguments ----------------------------------------------- */

static void test_create_anon_geometry(void **state)
{
	tend_shm *s;
	unsigned char *p0, *p9;
	size_t i;

	(void)state;
	s = anon(10, 24);
	assert_int_equal(tend_shm_nelem(s), 10);
	assert_int_equal(tend_shm_elem_size(s), 24);
	assert_true(tend_shm_fd(s) >= 0);
	assert_true(fcntl(tend_shm_fd(s), F_GETFD) & FD_CLOEXEC);
	p0 = tend_shm_at(s, 0);
	p9 = tend_shm_at(s, 9);
	assert_non_null(p0);
	assert_int_equal((uintptr_t)p0 % 64, 0);
	assert_ptr_equal(p9, p0 + 9 * 24);
	assert_null(tend_shm_at(s, 10));
	assert_null(tend_shm_at(NULL, 0));
	for (i = 0; i < 10 * 24; i++)
		assert_int_equal(p0[i], 0);
	/* the last byte of the last element is writable */
	p9[23] = 0xab;
	assert_null(tend_shm_free(s));
	assert_null(tend_shm_free(NULL));
}

static void test_create_rejects_bad_arguments(void **state)
{
	tend_shm *s = (tend_shm *)0x1;
	char longname[300];

	(void)state;
	assert_int_equal(tend_shm_create(NULL, NULL, 1, 1, 0), -EINVAL);
	assert_int_equal(tend_shm_create(&s, NULL, 0, 8, 0), -EINVAL);
	assert_int_equal(tend_shm_create(&s, NULL, TEND_SHM_NELEM_MAX + 1, 8, 0), -EINVAL);
	assert_int_equal(tend_shm_create(&s, NULL, 4, 0, 0), -EINVAL);
	assert_int_equal(tend_shm_create(&s, NULL, 4, TEND_SHM_ELEM_MAX + 1, 0), -EINVAL);
	assert_int_equal(tend_shm_create(&s, NULL, TEND_SHM_NELEM_MAX, TEND_SHM_ELEM_MAX, 0), -EFBIG);
	assert_int_equal(tend_shm_create(&s, "noslash", 4, 8, 0), -EINVAL);
	assert_int_equal(tend_shm_create(&s, "/a/b", 4, 8, 0), -EINVAL);
	assert_int_equal(tend_shm_create(&s, "/", 4, 8, 0), -EINVAL);
	assert_int_equal(tend_shm_create(&s, "", 4, 8, 0), -EINVAL);
	memset(longname, 'x', sizeof(longname));
	longname[0] = '/';
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(tend_shm_create(&s, longname, 4, 8, 0), -EINVAL);
	assert_ptr_equal(s, (tend_shm *)0x1); /* untouched on failure */
	assert_int_equal(tend_shm_open(&s, NULL), -EINVAL);
	assert_int_equal(tend_shm_open(NULL, "/x"), -EINVAL);
	assert_int_equal(tend_shm_open(&s, "bad"), -EINVAL);
	assert_int_equal(tend_shm_open_fd(&s, -1), -EBADF);
	assert_int_equal(tend_shm_open_fd(NULL, 0), -EINVAL);
	assert_int_equal(tend_shm_unlink("bad"), -EINVAL);
	assert_int_equal(tend_shm_unlink(NULL), -EINVAL);
	assert_ptr_equal(s, (tend_shm *)0x1);
	assert_int_equal(tend_shm_lock(NULL), -EINVAL);
	assert_int_equal(tend_shm_trylock(NULL), -EINVAL);
	assert_int_equal(tend_shm_timedlock(NULL, 1), -EINVAL);
	assert_int_equal(tend_shm_unlock(NULL), -EINVAL);
	assert_int_equal(tend_shm_get(NULL, 0, longname), -EINVAL);
	assert_int_equal(tend_shm_set(NULL, 0, longname), -EINVAL);
}

static void test_named_create_open_unlink(void **state)
{
	tend_shm *a, *b, *c;
	const char *name = unique_name("named");
	uint64_t v = 0x1122334455667788ull, w = 0;
	struct stat st;
	char path[128];

	(void)state;
	assert_int_equal(tend_shm_create(&a, name, 5, sizeof(v), 0640), 0);
	snprintf(path, sizeof(path), "/dev/shm%s", name);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(tend_shm_create(&c, name, 5, sizeof(v), 0), -EEXIST);
	assert_int_equal(tend_shm_open(&b, name), 0);
	assert_int_equal(tend_shm_nelem(b), 5);
	assert_int_equal(tend_shm_elem_size(b), sizeof(v));
	assert_int_equal(tend_shm_set(a, 4, &v), 0);
	assert_int_equal(tend_shm_get(b, 4, &w), 0);
	assert_true(w == v);
	assert_true(*(uint64_t *)tend_shm_at(b, 4) == v);
	assert_int_equal(tend_shm_unlink(name), 0);
	assert_int_equal(tend_shm_unlink(name), -ENOENT);
	assert_int_equal(tend_shm_open(&c, name), -ENOENT);
	/* handles outlive the name */
	v = 5;
	assert_int_equal(tend_shm_set(b, 0, &v), 0);
	assert_int_equal(tend_shm_get(a, 0, &w), 0);
	assert_true(w == 5);
	tend_shm_free(a);
	tend_shm_free(b);
}

static void test_open_fd_shares_array(void **state)
{
	tend_shm *a = anon(3, 4), *b;
	uint32_t v = 77, w = 0;

	(void)state;
	assert_int_equal(tend_shm_open_fd(&b, tend_shm_fd(a)), 0);
	assert_int_not_equal(tend_shm_fd(b), tend_shm_fd(a));
	assert_int_equal(tend_shm_set(b, 2, &v), 0);
	assert_int_equal(tend_shm_get(a, 2, &w), 0);
	assert_int_equal(w, 77);
	/* one lock for both handles */
	assert_int_equal(tend_shm_lock(a), 0);
	assert_int_equal(tend_shm_trylock(b), -EDEADLK);
	assert_int_equal(tend_shm_unlock(b), 0);
	tend_shm_free(b);
	tend_shm_free(a);
}

/* ---- bad objects ----------------------------------------------------------- */

LIB_OPEN_IMAGE(tend_shm, tend_shm_open_fd, tend_shm_free, (void)0)

static void put64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void test_open_rejects_foreign_and_truncated(void **state)
{
	tend_shm *s = anon(100, 40);
	tend_queue *q;
	tend_counter *c;
	unsigned char *img, *bad;
	size_t len;
	int pfd[2], fd;

	(void)state;
	img = image_of(tend_shm_fd(s), &len);
	bad = malloc(len);
	assert_non_null(bad);
	check_common_header(open_image, img, bad, len, 40);
	/* smaller than a header */
	assert_int_equal(open_image(img, 100, 100), -EBADMSG);
	/* other header size */
	memcpy(bad, img, len);
	bad[12] += 8;
	assert_int_equal(open_image(bad, len, len), -EBADMSG);
	/* ready word garbage */
	memcpy(bad, img, len);
	bad[24] ^= 0x55;
	assert_int_equal(open_image(bad, len, len), -EBADMSG);
	/* geometry: nelem 0, nelem * elem_size != the real size, elem_size
	 * huge, nelem huge (a product that would overflow), data_off moved */
	memcpy(bad, img, len);
	put64(bad + 32, 0);
	assert_int_equal(open_image(bad, len, len), -EBADMSG);
	memcpy(bad, img, len);
	put64(bad + 32, 101);
	assert_int_equal(open_image(bad, len, len), -EBADMSG);
	memcpy(bad, img, len);
	put64(bad + 40, (uint64_t)1 << 40);
	assert_int_equal(open_image(bad, len, len), -EBADMSG);
	memcpy(bad, img, len);
	put64(bad + 32, ~(uint64_t)0);
	put64(bad + 40, ~(uint64_t)0);
	assert_int_equal(open_image(bad, len, len), -EBADMSG);
	memcpy(bad, img, len);
	put64(bad + 48, 64); /* 128 in a real one */
	assert_int_equal(open_image(bad, len, len), -EBADMSG);
	/* a garbage lock word opens fine and is taken over as dead */
	memcpy(bad, img, len);
	put64(bad + 64, 0x7fffffff3fffffffull);
	fd = memfd_with(bad, len, len);
	{
		tend_shm *g = NULL;

		assert_int_equal(tend_shm_open_fd(&g, fd), 0);
		assert_int_equal(tend_shm_trylock(g), 1);
		assert_int_equal(tend_shm_unlock(g), 0);
		assert_int_equal(tend_shm_trylock(g), 0);
		assert_int_equal(tend_shm_unlock(g), 0);
		tend_shm_free(g);
	}
	close(fd);
	/* a lock word that names the calling thread: it holds the lock */
	memcpy(bad, img, len);
	put64(bad + 64, tend__token());
	fd = memfd_with(bad, len, len);
	{
		tend_shm *g = NULL;

		assert_int_equal(tend_shm_open_fd(&g, fd), 0);
		assert_int_equal(tend_shm_trylock(g), -EDEADLK);
		assert_int_equal(tend_shm_unlock(g), 0);
		assert_int_equal(tend_shm_trylock(g), 0);
		assert_int_equal(tend_shm_unlock(g), 0);
		tend_shm_free(g);
	}
	close(fd);
	/* a pipe, a directory, other libtend objects, junk */
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	assert_int_equal(tend_shm_open_fd(&s, pfd[0]), -EBADMSG);
	close(pfd[0]);
	close(pfd[1]);
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(tend_shm_open_fd(&s, fd), -EBADMSG);
	close(fd);
	assert_int_equal(tend_queue_create(&q, NULL, 4, 8, 1, 0), 0);
	assert_int_equal(tend_shm_open_fd(&s, tend_queue_fd(q)), -EBADMSG);
	tend_queue_free(q);
	assert_int_equal(tend_counter_create(&c, NULL, TEND_COUNTER_PARTITIONED, 4, 0), 0);
	assert_int_equal(tend_shm_open_fd(&s, tend_counter_fd(c)), -EBADMSG);
	tend_counter_free(c);
	fd = memfd_with("junkjunkjunkjunkjunkjunkjunkjunkjunkjunk", 40, 8192);
	assert_int_equal(tend_shm_open_fd(&s, fd), -EBADMSG);
	close(fd);
	free(bad);
	free(img);
	tend_shm_free(s);
}

/* ---- the lock --------------------------------------------------------------- */

static void test_lock_semantics(void **state)
{
	tend_shm *s = anon(2, 8);
	uint64_t v = 0;

	(void)state;
	assert_int_equal(tend_shm_unlock(s), -EPERM); /* not held */
	assert_int_equal(tend_shm_lock(s), 0);
	assert_int_equal(tend_shm_lock(s), -EDEADLK);
	assert_int_equal(tend_shm_trylock(s), -EDEADLK);
	assert_int_equal(tend_shm_timedlock(s, 10 * MS), -EDEADLK);
	assert_int_equal(tend_shm_get(s, 0, &v), -EDEADLK);
	assert_int_equal(tend_shm_set(s, 0, &v), -EDEADLK);
	assert_int_equal(tend_shm_unlock(s), 0);
	assert_int_equal(tend_shm_unlock(s), -EPERM);
	assert_int_equal(tend_shm_trylock(s), 0);
	assert_int_equal(tend_shm_unlock(s), 0);
	assert_int_equal(tend_shm_timedlock(s, TEND_NOWAIT), 0);
	assert_int_equal(tend_shm_unlock(s), 0);
	assert_int_equal(tend_shm_timedlock(s, TEND_FOREVER), 0);
	assert_int_equal(tend_shm_unlock(s), 0);
	/* get and set: ranges and arguments */
	assert_int_equal(tend_shm_get(s, 2, &v), -ERANGE);
	assert_int_equal(tend_shm_set(s, 2, &v), -ERANGE);
	assert_int_equal(tend_shm_get(s, 0, NULL), -EINVAL);
	assert_int_equal(tend_shm_set(s, 0, NULL), -EINVAL);
	v = 42;
	assert_int_equal(tend_shm_set(s, 1, &v), 0);
	v = 0;
	assert_int_equal(tend_shm_get(s, 1, &v), 0);
	assert_true(v == 42);
	assert_int_equal(tend_shm_get(s, 0, &v), 0);
	assert_true(v == 0);
	tend_shm_free(s);
}

/* Another process sees a held lock: trylock -EAGAIN, timedlock times out
 * after its timeout, unlock -EPERM; once released it gets the lock. */
static void test_lock_held_by_other_process(void **state)
{
	tend_shm *s = anon(1, 8);
	int ready[2];
	pid_t pid;
	char c;

	(void)state;
	assert_int_equal(tend_shm_lock(s), 0);
	assert_int_equal(pipe(ready), 0);
	pid = fork_kid();
	assert_true(pid >= 0);
	if (pid == 0) {
		int64_t t0;

		if (tend_shm_trylock(s) != -EAGAIN)
			_exit(1);
		if (tend_shm_unlock(s) != -EPERM)
			_exit(2);
		t0 = now_ms();
		if (tend_shm_timedlock(s, 80 * MS) != -ETIMEDOUT)
			_exit(3);
		if (now_ms() - t0 < 79 || now_ms() - t0 > 2000)
			_exit(4);
		if (write(ready[1], "x", 1) != 1)
			_exit(5);
		/* the parent unlocks after a while: the blocked lock wakes */
		if (tend_shm_timedlock(s, 5000 * MS) != 0)
			_exit(6);
		if (tend_shm_unlock(s) != 0)
			_exit(7);
		_exit(0);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	usleep(50000);
	assert_int_equal(tend_shm_unlock(s), 0);
	assert_int_equal(exit_code(pid, 5000), 0);
	close(ready[0]);
	close(ready[1]);
	tend_shm_free(s);
}

struct try_arg {
	tend_shm *s;
	pid_t tid;
};

static void *try_from_thread(void *arg)
{
	struct try_arg *a = arg;

	a->tid = gettid();
	return (void *)(intptr_t)tend_shm_trylock(a->s);
}

/* pthread_join() returns when the kernel has cleared the thread's tid, a
 * moment before the thread leaves /proc: wait for that (at most 2 s). */
static void wait_thread_gone(pid_t tid)
{
	char path[64];
	int i;

	snprintf(path, sizeof(path), "/proc/self/task/%d", (int)tid);
	for (i = 0; i < 2000 && access(path, F_OK) == 0; i++)
		usleep(1000);
	assert_int_not_equal(access(path, F_OK), 0);
}

/* The lock names a thread, not a process. */
static void test_lock_between_threads(void **state)
{
	tend_shm *s = anon(1, 8);
	struct try_arg a = { .s = s };
	pthread_t t;
	void *ret;

	(void)state;
	assert_int_equal(tend_shm_lock(s), 0);
	assert_int_equal(pthread_create(&t, NULL, try_from_thread, &a), 0);
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_int_equal((int)(intptr_t)ret, -EAGAIN);
	assert_int_equal(tend_shm_unlock(s), 0);
	assert_int_equal(pthread_create(&t, NULL, try_from_thread, &a), 0);
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_int_equal((int)(intptr_t)ret, 0);
	wait_thread_gone(a.tid);
	/* the thread is gone: its lock is taken over, once */
	assert_int_equal(tend_shm_trylock(s), 1);
	assert_int_equal(tend_shm_unlock(s), 0);
	assert_int_equal(tend_shm_trylock(s), 0);
	assert_int_equal(tend_shm_unlock(s), 0);
	tend_shm_free(s);
}

/* Processes incrementing plain (non-atomic) words under the lock lose no
 * update, and never see the two words of a pair differ. */
static void test_mutual_exclusion_across_processes(void **state)
{
	enum { P = 3, N = 20000 };
	tend_shm *s = anon(2, sizeof(uint64_t));
	volatile uint64_t *a = tend_shm_at(s, 0), *b = tend_shm_at(s, 1);
	pid_t pid[P];
	int i, k;

	(void)state;
	for (k = 0; k < P; k++) {
		pid[k] = fork_kid();
		assert_true(pid[k] >= 0);
		if (pid[k] == 0) {
			for (i = 0; i < N; i++) {
				if (tend_shm_lock(s) != 0)
					_exit(1);
				if (*a != *b)
					_exit(2);
				*a = *a + 1;
				if ((i & 63) == 0)
					sched_yield(); /* hold it across a reschedule now and then */
				*b = *b + 1;
				if (tend_shm_unlock(s) != 0)
					_exit(3);
			}
			_exit(0);
		}
	}
	for (k = 0; k < P; k++)
		assert_int_equal(exit_code(pid[k], 15000), 0);
	assert_true(*a == (uint64_t)P * N);
	assert_true(*b == (uint64_t)P * N);
	tend_shm_free(s);
}

/* ---- robust recovery ------------------------------------------------------- */

/* Fork a child that takes the lock, writes half of a pair, tells the parent
 * and waits to be killed.  Returns its pid. */
static pid_t spawn_holder(tend_shm *s)
{
	int ready[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe(ready), 0);
	pid = fork_kid();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint64_t *w = tend_shm_at(s, 0);

		close(ready[0]);
		if (tend_shm_lock(s) < 0)
			_exit(1);
		w[0] = 111; /* the pair w[0] == w[1] is broken while held */
		if (write(ready[1], "L", 1) != 1)
			_exit(2);
		for (;;)
			pause();
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return pid;
}

static void test_recover_after_holder_killed(void **state)
{
	tend_shm *s = anon(2, sizeof(uint64_t));
	uint64_t *w = tend_shm_at(s, 0);
	pid_t holder;

	(void)state;
	holder = spawn_holder(s);
	assert_int_equal(tend_shm_trylock(s), -EAGAIN); /* alive: not taken */
	assert_int_equal(tend_shm_timedlock(s, 20 * MS), -ETIMEDOUT);
	kill_and_reap(holder);
	/* reported once: the first locker gets 1 and repairs */
	assert_int_equal(tend_shm_lock(s), 1);
	assert_true(w[0] == 111 && w[1] == 0);
	w[1] = w[0];
	assert_int_equal(tend_shm_unlock(s), 0);
	assert_int_equal(tend_shm_lock(s), 0);
	assert_int_equal(tend_shm_unlock(s), 0);
	assert_int_equal(tend_shm_trylock(s), 0);
	assert_int_equal(tend_shm_unlock(s), 0);
	/* the same through trylock, timedlock, get and set */
	holder = spawn_holder(s);
	kill_and_reap(holder);
	assert_int_equal(tend_shm_trylock(s), 1);
	assert_int_equal(tend_shm_unlock(s), 0);
	holder = spawn_holder(s);
	kill_and_reap(holder);
	assert_int_equal(tend_shm_timedlock(s, 100 * MS), 1);
	assert_int_equal(tend_shm_unlock(s), 0);
	holder = spawn_holder(s);
	kill_and_reap(holder);
	assert_int_equal(tend_shm_get(s, 0, &w[1]), 1);
	assert_int_equal(tend_shm_get(s, 0, &w[1]), 0);
	holder = spawn_holder(s);
	kill_and_reap(holder);
	assert_int_equal(tend_shm_set(s, 1, &w[0]), 1);
	assert_int_equal(tend_shm_set(s, 1, &w[0]), 0);
	tend_shm_free(s);
}

/* Waiters asleep in lock() when the holder is killed: exactly one of them
 * is told the owner died, all of them get the lock in turn, promptly. */
static void test_sleeping_waiters_recover_once(void **state)
{
	enum { W = 3 };
	tend_shm *s = anon(1, sizeof(uint64_t));
	pid_t holder, waiter[W];
	int k, ones = 0, zeros = 0, code;
	int64_t t0;

	(void)state;
	holder = spawn_holder(s);
	for (k = 0; k < W; k++) {
		waiter[k] = fork_kid();
		assert_true(waiter[k] >= 0);
		if (waiter[k] == 0) {
			int r = tend_shm_lock(s);

			if (r < 0)
				_exit(10);
			usleep(2000);
			if (tend_shm_unlock(s) != 0)
				_exit(11);
			_exit(r); /* 0 or 1 */
		}
	}
	usleep(150000); /* let them fall asleep (past the 1 ms slices) */
	for (k = 0; k < W; k++)
		assert_int_equal(waitpid(waiter[k], NULL, WNOHANG), 0);
	t0 = now_ms();
	kill_and_reap(holder);
	for (k = 0; k < W; k++) {
		code = exit_code(waiter[k], 5000);
		assert_true(code == 0 || code == 1);
		ones += code == 1;
		zeros += code == 0;
	}
	assert_int_equal(ones, 1);
	assert_int_equal(zeros, W - 1);
	/* a waiter notices within its slice (at most 100 ms) */
	assert_true(now_ms() - t0 < 1500);
	assert_int_equal(tend_shm_trylock(s), 0);
	assert_int_equal(tend_shm_unlock(s), 0);
	tend_shm_free(s);
}

/* A named array whose lock holder died is recovered through another
 * handle opened by name, in yet another process. */
static void test_recover_named(void **state)
{
	const char *name = unique_name("robust");
	tend_shm *s, *t;
	pid_t holder, opener;

	(void)state;
	assert_int_equal(tend_shm_create(&s, name, 2, sizeof(uint64_t), 0), 0);
	holder = spawn_holder(s);
	kill_and_reap(holder);
	opener = fork_kid();
	assert_true(opener >= 0);
	if (opener == 0) {
		if (tend_shm_open(&t, name) != 0)
			_exit(20);
		_exit(tend_shm_lock(t) == 1 && tend_shm_unlock(t) == 0 ? 0 : 21);
	}
	assert_int_equal(exit_code(opener, 5000), 0);
	/* the opener exited after unlocking: nothing to recover */
	assert_int_equal(tend_shm_trylock(s), 0);
	assert_int_equal(tend_shm_unlock(s), 0);
	assert_int_equal(tend_shm_unlink(name), 0);
	tend_shm_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_create_anon_geometry, kill_kids),
		cmocka_unit_test_teardown(test_create_rejects_bad_arguments, kill_kids),
		cmocka_unit_test_teardown(test_named_create_open_unlink, kill_kids),
		cmocka_unit_test_teardown(test_open_fd_shares_array, kill_kids),
		cmocka_unit_test_teardown(test_open_rejects_foreign_and_truncated, kill_kids),
		cmocka_unit_test_teardown(test_lock_semantics, kill_kids),
		cmocka_unit_test_teardown(test_lock_held_by_other_process, kill_kids),
		cmocka_unit_test_teardown(test_lock_between_threads, kill_kids),
		cmocka_unit_test_teardown(test_mutual_exclusion_across_processes, kill_kids),
		cmocka_unit_test_teardown(test_recover_after_holder_killed, kill_kids),
		cmocka_unit_test_teardown(test_sleeping_waiters_recover_once, kill_kids),
		cmocka_unit_test_teardown(test_recover_named, kill_kids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
