/*
 * tend_queue (src/lib/queue.c): every call and error, priorities and FIFO,
 * blocking and timeouts, close waking waiters in other processes, no CPU
 * while blocked, a peer killed at each numbered point of put and get, and a
 * stress run that SIGKILLs random producers and consumers and accounts for
 * every message by sequence number.
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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/sync.h"
#include "tend/queue.h"

#define MS (1000000LL)

#define LIB_TEST_PREFIX "queue"
#include "lib_fixture.h"

static void assert_exit0(pid_t pid, int ms)
{
	int st = reap(pid, ms);

	assert_int_not_equal(st, -1);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static tend_queue *anon(size_t cap, size_t max_msg, unsigned nprio)
{
	tend_queue *q = NULL;

	assert_int_equal(tend_queue_create(&q, NULL, cap, max_msg, nprio, 0), 0);
	assert_non_null(q);
	return q;
}

/* ---- creation and arguments ----------------------------------------------- */

static void test_create_anon_geometry(void **state)
{
	tend_queue *q;

	(void)state;
	q = anon(10, 100, 3);
	assert_int_equal(tend_queue_capacity(q), 10);
	assert_int_equal(tend_queue_max_msg(q), 100);
	assert_int_equal(tend_queue_nprio(q), 3);
	assert_true(tend_queue_fd(q) >= 0);
	assert_true(fcntl(tend_queue_fd(q), F_GETFD) & FD_CLOEXEC);
	assert_int_equal(tend_queue_qsize(q), 0);
	assert_int_equal(tend_queue_empty(q), 1);
	assert_int_equal(tend_queue_full(q, 2), 0);
	assert_int_equal(tend_queue_closed(q), 0);
	assert_null(tend_queue_free(q));
	assert_null(tend_queue_free(NULL));
}

static void test_create_rejects_bad_arguments(void **state)
{
	tend_queue *q = (tend_queue *)0x1;
	char longname[300];

	(void)state;
	assert_int_equal(tend_queue_create(NULL, NULL, 1, 1, 1, 0), -EINVAL);
	assert_int_equal(tend_queue_create(&q, NULL, 0, 8, 1, 0), -EINVAL);
	assert_int_equal(tend_queue_create(&q, NULL, TEND_QUEUE_CAPACITY_MAX + 1, 8, 1, 0), -EINVAL);
	assert_int_equal(tend_queue_create(&q, NULL, 4, 0, 1, 0), -EINVAL);
	assert_int_equal(tend_queue_create(&q, NULL, 4, TEND_QUEUE_MSG_MAX + 1, 1, 0), -EINVAL);
	assert_int_equal(tend_queue_create(&q, NULL, 4, 8, 0, 0), -EINVAL);
	assert_int_equal(tend_queue_create(&q, NULL, 4, 8, TEND_QUEUE_PRIO_MAX + 1, 0), -EINVAL);
	assert_int_equal(tend_queue_create(&q, NULL, TEND_QUEUE_CAPACITY_MAX, TEND_QUEUE_MSG_MAX, 32, 0), -EFBIG);
	assert_int_equal(tend_queue_create(&q, "noslash", 4, 8, 1, 0), -EINVAL);
	assert_int_equal(tend_queue_create(&q, "/a/b", 4, 8, 1, 0), -EINVAL);
	assert_int_equal(tend_queue_create(&q, "/", 4, 8, 1, 0), -EINVAL);
	memset(longname, 'x', sizeof(longname));
	longname[0] = '/';
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(tend_queue_create(&q, longname, 4, 8, 1, 0), -EINVAL);
	assert_ptr_equal(q, (tend_queue *)0x1); /* untouched on failure */
	assert_int_equal(tend_queue_open(&q, NULL), -EINVAL);
	assert_int_equal(tend_queue_open(NULL, "/x"), -EINVAL);
	assert_int_equal(tend_queue_open_fd(&q, -1), -EBADF);
	assert_int_equal(tend_queue_unlink("bad"), -EINVAL);
}

static void test_named_create_open_unlink(void **state)
{
	tend_queue *a, *b, *c;
	const char *name = unique_name("named");
	char buf[16];
	unsigned prio = 99;

	(void)state;
	assert_int_equal(tend_queue_create(&a, name, 4, 16, 2, 0600), 0);
	assert_int_equal(tend_queue_create(&c, name, 4, 16, 2, 0600), -EEXIST);
	assert_int_equal(tend_queue_open(&b, name), 0);
	assert_int_equal(tend_queue_capacity(b), 4);
	assert_int_equal(tend_queue_max_msg(b), 16);
	assert_int_equal(tend_queue_nprio(b), 2);
	assert_int_equal(tend_queue_put(a, "hello", 5, 1, TEND_NOWAIT), 0);
	assert_int_equal(tend_queue_get(b, buf, sizeof(buf), &prio, TEND_NOWAIT), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(prio, 1);
	assert_int_equal(tend_queue_unlink(name), 0);
	assert_int_equal(tend_queue_unlink(name), -ENOENT);
	assert_int_equal(tend_queue_open(&c, name), -ENOENT);
	/* handles outlive the name */
	assert_int_equal(tend_queue_put(b, "x", 1, 0, TEND_NOWAIT), 0);
	assert_int_equal(tend_queue_get(a, buf, sizeof(buf), NULL, TEND_NOWAIT), 1);
	tend_queue_free(a);
	tend_queue_free(b);
}

static void test_open_fd_shares_queue(void **state)
{
	tend_queue *a = anon(4, 8, 1), *b;
	char buf[8];

	(void)state;
	assert_int_equal(tend_queue_open_fd(&b, tend_queue_fd(a)), 0);
	assert_int_equal(tend_queue_put(b, "abc", 3, 0, TEND_NOWAIT), 0);
	assert_int_equal(tend_queue_get(a, buf, sizeof(buf), NULL, TEND_NOWAIT), 3);
	tend_queue_free(b);
	tend_queue_free(a);
}

/* ---- bad objects ----------------------------------------------------------- */

LIB_OPEN_IMAGE(tend_queue, tend_queue_open_fd, tend_queue_free, (void)0)

static void test_open_rejects_foreign_and_truncated(void **state)
{
	tend_queue *q = anon(4, 16, 2), *x = NULL;
	unsigned char *img, *bad;
	size_t len;
	int pfd[2], fd;

	(void)state;
	img = image_of(tend_queue_fd(q), &len);
	bad = malloc(len);
	assert_non_null(bad);
	check_common_header(open_image, img, bad, len, 4096);
	/* absurd geometry: capacity 0, then 2^31, then a max_msg that does not fit */
	memcpy(bad, img, len);
	memset(bad + 32, 0, 4);
	assert_int_equal(open_image(bad, len, len), -EBADMSG);
	memcpy(bad, img, len);
	bad[35] = 0x80;
	assert_int_equal(open_image(bad, len, len), -EBADMSG);
	memcpy(bad, img, len);
	bad[38] = 0x10;
	assert_int_equal(open_image(bad, len, len), -EBADMSG);
	/* a pipe is no queue */
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	assert_int_equal(tend_queue_open_fd(&x, pfd[0]), -EBADMSG);
	close(pfd[0]);
	close(pfd[1]);
	/* neither is random junk of a plausible size */
	fd = memfd_with("junkjunkjunkjunkjunkjunkjunkjunkjunkjunk", 40, 8192);
	assert_int_equal(tend_queue_open_fd(&x, fd), -EBADMSG);
	assert_null(x);
	close(fd);
	free(bad);
	free(img);
	tend_queue_free(q);
}

/* ---- put and get -------------------------------------------------------- */

static void test_put_get_lengths_and_errors(void **state)
{
	tend_queue *q = anon(8, 64, 2);
	unsigned char msg[65], buf[65];
	unsigned prio = 77;
	size_t len;

	(void)state;
	for (len = 0; len < sizeof(msg); len++)
		msg[len] = (unsigned char)(len * 7 + 1);
	for (len = 0; len <= 64; len += 8) {
		assert_int_equal(tend_queue_put(q, msg, len, 1, TEND_NOWAIT), 0);
		memset(buf, 0, sizeof(buf));
		assert_int_equal(tend_queue_get(q, buf, sizeof(buf), &prio, TEND_NOWAIT), (int)len);
		assert_memory_equal(buf, msg, len);
		assert_int_equal(prio, 1);
	}
	assert_int_equal(tend_queue_put(q, NULL, 0, 0, TEND_NOWAIT), 0);
	assert_int_equal(tend_queue_get(q, NULL, 0, NULL, TEND_NOWAIT), 0);
	assert_int_equal(tend_queue_put(q, msg, 65, 0, TEND_NOWAIT), -EMSGSIZE);
	assert_int_equal(tend_queue_put(q, msg, 1, 2, TEND_NOWAIT), -EINVAL);
	assert_int_equal(tend_queue_put(q, NULL, 1, 0, TEND_NOWAIT), -EINVAL);
	assert_int_equal(tend_queue_put(NULL, msg, 1, 0, TEND_NOWAIT), -EINVAL);
	assert_int_equal(tend_queue_get(NULL, buf, 1, NULL, TEND_NOWAIT), -EINVAL);
	assert_int_equal(tend_queue_get(q, NULL, 4, NULL, TEND_NOWAIT), -EINVAL);
	/* a buffer too small leaves the message where it is */
	assert_int_equal(tend_queue_put(q, msg, 40, 0, TEND_NOWAIT), 0);
	prio = 77;
	assert_int_equal(tend_queue_get(q, buf, 39, &prio, TEND_NOWAIT), -EMSGSIZE);
	assert_int_equal(prio, 77);
	assert_int_equal(tend_queue_qsize(q), 1);
	assert_int_equal(tend_queue_get(q, buf, 40, NULL, TEND_NOWAIT), 40);
	assert_int_equal(tend_queue_qsize(NULL), -EINVAL);
	assert_int_equal(tend_queue_empty(NULL), -EINVAL);
	assert_int_equal(tend_queue_full(NULL, 0), -EINVAL);
	assert_int_equal(tend_queue_full(q, 2), -EINVAL);
	assert_int_equal(tend_queue_close(NULL), -EINVAL);
	assert_int_equal(tend_queue_closed(NULL), -EINVAL);
	tend_queue_free(q);
}

static void test_nonblocking_full_and_empty(void **state)
{
	tend_queue *q = anon(3, 8, 2);
	int i, v;

	(void)state;
	assert_int_equal(tend_queue_get(q, &v, sizeof(v), NULL, TEND_NOWAIT), -EAGAIN);
	for (i = 0; i < 3; i++) {
		assert_int_equal(tend_queue_full(q, 0), 0);
		assert_int_equal(tend_queue_put(q, &i, sizeof(i), 0, TEND_NOWAIT), 0);
	}
	/* capacity is per level: 3, not the ring's 4 */
	assert_int_equal(tend_queue_full(q, 0), 1);
	assert_int_equal(tend_queue_full(q, 1), 0);
	assert_int_equal(tend_queue_put(q, &i, sizeof(i), 0, TEND_NOWAIT), -EAGAIN);
	assert_int_equal(tend_queue_put(q, &i, sizeof(i), 1, TEND_NOWAIT), 0);
	assert_int_equal(tend_queue_qsize(q), 4);
	assert_int_equal(tend_queue_empty(q), 0);
	assert_int_equal(tend_queue_get(q, &v, sizeof(v), NULL, TEND_NOWAIT), sizeof(v));
	assert_int_equal(v, 3); /* the level 1 message first */
	for (i = 0; i < 3; i++) {
		assert_int_equal(tend_queue_get(q, &v, sizeof(v), NULL, TEND_NOWAIT), sizeof(v));
		assert_int_equal(v, i);
	}
	assert_int_equal(tend_queue_empty(q), 1);
	assert_int_equal(tend_queue_qsize(q), 0);
	/* many laps around a small ring */
	for (i = 0; i < 1000; i++) {
		assert_int_equal(tend_queue_put(q, &i, sizeof(i), 0, TEND_NOWAIT), 0);
		assert_int_equal(tend_queue_get(q, &v, sizeof(v), NULL, TEND_NOWAIT), sizeof(v));
		assert_int_equal(v, i);
	}
	tend_queue_free(q);
}

static void test_priority_order_and_fifo(void **state)
{
	tend_queue *q = anon(64, 8, 8);
	unsigned prio, last_prio = 8;
	int seen[8], i, v, last[8];

	(void)state;
	for (i = 0; i < 8; i++)
		last[i] = -1;
	for (i = 0; i < 200; i++) {
		unsigned p = (unsigned)((i * 2654435761u) >> 29) & 7;

		v = i;
		assert_int_equal(tend_queue_put(q, &v, sizeof(v), p, TEND_NOWAIT), 0);
	}
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < 200; i++) {
		assert_int_equal(tend_queue_get(q, &v, sizeof(v), &prio, TEND_NOWAIT), sizeof(v));
		assert_true(prio <= last_prio); /* never a lower level before a higher one */
		assert_int_equal(prio, (unsigned)((v * 2654435761u) >> 29) & 7);
		assert_true(v > last[prio]); /* FIFO within a level */
		last[prio] = v;
		last_prio = prio;
		seen[prio]++;
	}
	for (i = 0; i < 8; i++)
		assert_true(seen[i] > 0);
	tend_queue_free(q);
}

/* Producer in a child puts while the parent gets: priority and FIFO order
 * hold across processes, and a higher level put before a get always wins. */
static void test_cross_process_order(void **state)
{
	enum { N = 20000 };
	tend_queue *q = anon(256, 16, 4);
	int last[4] = { -1, -1, -1, -1 }, i, v[2];
	unsigned prio;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (i = 0; i < N; i++) {
			v[0] = i;
			v[1] = ~i;
			if (tend_queue_put(q, v, sizeof(v), (unsigned)i % 4, 5000 * MS) != 0)
				_exit(1);
		}
		_exit(0);
	}
	for (i = 0; i < N; i++) {
		assert_int_equal(tend_queue_get(q, v, sizeof(v), &prio, 5000 * MS), sizeof(v));
		assert_int_equal(v[1], ~v[0]);
		assert_int_equal(prio, (unsigned)v[0] % 4);
		assert_true(v[0] > last[prio]);
		last[prio] = v[0];
	}
	assert_exit0(pid, 5000);
	assert_int_equal(tend_queue_empty(q), 1);
	tend_queue_free(q);
}

/* ---- blocking, timeouts, close ------------------------------------------- */

static void test_timeouts(void **state)
{
	tend_queue *q = anon(1, 8, 1);
	int64_t t0;
	int v = 1;

	(void)state;
	t0 = now_ms();
	assert_int_equal(tend_queue_get(q, &v, sizeof(v), NULL, 60 * MS), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 59);
	assert_true(now_ms() - t0 < 1000);
	assert_int_equal(tend_queue_put(q, &v, sizeof(v), 0, 60 * MS), 0);
	t0 = now_ms();
	assert_int_equal(tend_queue_put(q, &v, sizeof(v), 0, 60 * MS), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 59);
	assert_true(now_ms() - t0 < 1000);
	tend_queue_free(q);
}

/* A get blocked in the parent is woken by a put in a child, and a put blocked
 * on a full level by a get. */
static void test_blocking_wakeups(void **state)
{
	tend_queue *q = anon(1, 8, 1);
	int v = 0, i;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (i = 1; i <= 5; i++) {
			usleep(30000); /* long enough for the parent to sleep */
			if (tend_queue_put(q, &i, sizeof(i), 0, TEND_FOREVER) != 0)
				_exit(1);
		}
		_exit(0);
	}
	for (i = 1; i <= 5; i++) {
		assert_int_equal(tend_queue_get(q, &v, sizeof(v), NULL, 5000 * MS), sizeof(v));
		assert_int_equal(v, i);
	}
	assert_exit0(pid, 5000);
	/* full level: the parent's put waits for the child's get */
	assert_int_equal(tend_queue_put(q, &v, sizeof(v), 0, TEND_NOWAIT), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		usleep(50000);
		_exit(tend_queue_get(q, &v, sizeof(v), NULL, TEND_FOREVER) == sizeof(v) ? 0 : 1);
	}
	assert_int_equal(tend_queue_put(q, &v, sizeof(v), 0, 5000 * MS), 0);
	assert_exit0(pid, 5000);
	tend_queue_free(q);
}

static void test_close_wakes_waiters(void **state)
{
	tend_queue *empty = anon(2, 8, 1), *full = anon(1, 8, 1);
	pid_t getter, putter;
	int v = 0;

	(void)state;
	assert_int_equal(tend_queue_put(full, &v, sizeof(v), 0, TEND_NOWAIT), 0);
	getter = fork();
	assert_true(getter >= 0);
	if (getter == 0)
		_exit(tend_queue_get(empty, &v, sizeof(v), NULL, TEND_FOREVER) == -EPIPE ? 0 : 1);
	putter = fork();
	assert_true(putter >= 0);
	if (putter == 0)
		_exit(tend_queue_put(full, &v, sizeof(v), 0, TEND_FOREVER) == -EPIPE ? 0 : 1);
	usleep(100000);
	assert_int_equal(waitpid(getter, NULL, WNOHANG), 0); /* both still blocked */
	assert_int_equal(waitpid(putter, NULL, WNOHANG), 0);
	assert_int_equal(tend_queue_close(empty), 0);
	assert_int_equal(tend_queue_close(full), 0);
	assert_exit0(getter, 3000);
	assert_exit0(putter, 3000);
	assert_int_equal(tend_queue_closed(full), 1);
	/* closed: puts fail, gets drain then fail */
	assert_int_equal(tend_queue_put(full, &v, sizeof(v), 0, TEND_NOWAIT), -EPIPE);
	assert_int_equal(tend_queue_get(full, &v, sizeof(v), NULL, TEND_FOREVER), sizeof(v));
	assert_int_equal(tend_queue_get(full, &v, sizeof(v), NULL, TEND_FOREVER), -EPIPE);
	tend_queue_free(empty);
	tend_queue_free(full);
}

static long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || !(p = strrchr(buf, ')')))
		return -1;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

/* A get blocked on an empty queue sleeps: no CPU used over half a second. */
static void test_blocked_waiter_uses_no_cpu(void **state)
{
	tend_queue *q = anon(2, 8, 4);
	long before, after;
	int v;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(tend_queue_get(q, &v, sizeof(v), NULL, TEND_FOREVER) == -EPIPE ? 0 : 1);
	usleep(50000);
	before = cpu_ticks(pid);
	usleep(500000);
	after = cpu_ticks(pid);
	assert_true(before >= 0);
	assert_true(after - before <= 1); /* 10 ms ticks: a busy loop would show 50 */
	tend_queue_close(q);
	assert_exit0(pid, 3000);
	tend_queue_free(q);
}

/* Threads of one process as producers and consumers (MPMC). */
struct thr {
	tend_queue *q;
	int id, n;
	long sum;
};

static void *producer_thread(void *arg)
{
	struct thr *t = arg;
	int i, v;

	for (i = 0; i < t->n; i++) {
		v = t->id * 1000000 + i;
		if (tend_queue_put(t->q, &v, sizeof(v), (unsigned)i % 2, 5000 * MS) != 0)
			return (void *)1;
	}
	return NULL;
}

static void *consumer_thread(void *arg)
{
	struct thr *t = arg;
	int v, i;

	for (i = 0; i < t->n; i++) {
		if (tend_queue_get(t->q, &v, sizeof(v), NULL, 5000 * MS) != sizeof(v))
			return (void *)1;
		t->sum += v;
	}
	return NULL;
}

static void test_threads_mpmc(void **state)
{
	enum { T = 3, N = 20000 };
	tend_queue *q = anon(16, 8, 2);
	struct thr pr[T], co[T];
	pthread_t pt[T], ct[T];
	long want = 0, got = 0;
	void *ret;
	int i;

	(void)state;
	for (i = 0; i < T; i++) {
		pr[i] = (struct thr){ q, i + 1, N, 0 };
		co[i] = (struct thr){ q, i + 1, N, 0 };
		want += (long)(i + 1) * 1000000 * N + (long)N * (N - 1) / 2;
		assert_int_equal(pthread_create(&pt[i], NULL, producer_thread, &pr[i]), 0);
		assert_int_equal(pthread_create(&ct[i], NULL, consumer_thread, &co[i]), 0);
	}
	for (i = 0; i < T; i++) {
		assert_int_equal(pthread_join(pt[i], &ret), 0);
		assert_null(ret);
		assert_int_equal(pthread_join(ct[i], &ret), 0);
		assert_null(ret);
		got += co[i].sum;
	}
	assert_int_equal(got, want);
	assert_int_equal(tend_queue_empty(q), 1);
	tend_queue_free(q);
}

/* ---- a peer killed at each point of put and get -------------------------- */

/* Run fn in a child that SIGKILLs itself at the numbered point; assert that
 * it died there. */
static void die_at(int point, void (*fn)(tend_queue *), tend_queue *q)
{
	int st = DIE_AT(point, fn(q));

	assert_true(st != -1 && WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
}

static void put_marker(tend_queue *q)
{
	int v = 4242;

	tend_queue_put(q, &v, sizeof(v), 0, TEND_FOREVER);
}

static void get_one(tend_queue *q)
{
	int v;

	tend_queue_get(q, &v, sizeof(v), NULL, TEND_FOREVER);
}

/* A producer killed anywhere in put: the message is there exactly when the
 * kill came after the commit, and survivors keep working (the lock it held
 * is taken over). */
static void test_producer_killed_at_each_point(void **state)
{
	static const struct { int point, committed; } pts[] = {
		{ 1, 0 }, { 2, 0 }, { 3, 0 }, { 4, 1 }, { 5, 1 },
	};
	size_t k;
	int v, i;

	(void)state;
	for (k = 0; k < sizeof(pts) / sizeof(pts[0]); k++) {
		tend_queue *q = anon(4, 8, 1);

		die_at(pts[k].point, put_marker, q);
		for (i = 0; i < 3; i++) {
			v = i;
			assert_int_equal(tend_queue_put(q, &v, sizeof(v), 0, 2000 * MS), 0);
		}
		if (pts[k].committed) {
			assert_int_equal(tend_queue_get(q, &v, sizeof(v), NULL, 2000 * MS), sizeof(v));
			assert_int_equal(v, 4242);
		}
		for (i = 0; i < 3; i++) {
			assert_int_equal(tend_queue_get(q, &v, sizeof(v), NULL, 2000 * MS), sizeof(v));
			assert_int_equal(v, i);
		}
		assert_int_equal(tend_queue_get(q, &v, sizeof(v), NULL, TEND_NOWAIT), -EAGAIN);
		assert_int_equal(tend_queue_qsize(q), 0);
		tend_queue_free(q);
	}
}

/* A consumer killed anywhere in get: before its commit the message stays for
 * the next get, after it the message is gone; nobody is stuck on its lock. */
static void test_consumer_killed_at_each_point(void **state)
{
	static const struct { int point, taken; } pts[] = { { 11, 0 }, { 12, 0 }, { 13, 1 } };
	size_t k;
	int v, i;

	(void)state;
	for (k = 0; k < sizeof(pts) / sizeof(pts[0]); k++) {
		tend_queue *q = anon(4, 8, 1);

		for (i = 0; i < 3; i++)
			assert_int_equal(tend_queue_put(q, &i, sizeof(i), 0, TEND_NOWAIT), 0);
		die_at(pts[k].point, get_one, q);
		for (i = pts[k].taken; i < 3; i++) {
			assert_int_equal(tend_queue_get(q, &v, sizeof(v), NULL, 2000 * MS), sizeof(v));
			assert_int_equal(v, i);
		}
		assert_int_equal(tend_queue_get(q, &v, sizeof(v), NULL, TEND_NOWAIT), -EAGAIN);
		/* and puts still find room */
		for (i = 0; i < 4; i++)
			assert_int_equal(tend_queue_put(q, &i, sizeof(i), 0, 2000 * MS), 0);
		tend_queue_free(q);
	}
}

/* The wake-up windows: a consumer sleeps in get (another process) while a
 * producer dies right after waking it (before its commit) or right after its
 * commit (before unlocking).  The sleeper must not stay asleep: it gets the
 * committed message, or the next one.  Then the mirror image: a producer
 * sleeps on a full level while a consumer dies around its commit. */
static void test_sleepers_survive_dead_wakers(void **state)
{
	static const int put_points[] = { 2, 3, 4, 5 };
	static const int get_points[] = { 11, 12, 13 };
	size_t k;
	int v;

	(void)state;
	for (k = 0; k < sizeof(put_points) / sizeof(put_points[0]); k++) {
		tend_queue *q = anon(4, 8, 1);
		pid_t sleeper = fork();

		assert_true(sleeper >= 0);
		if (sleeper == 0) {
			int got;

			if (tend_queue_get(q, &got, sizeof(got), NULL, 4000 * MS) != sizeof(got))
				_exit(1);
			_exit(got == 4242 || got == 7 ? 0 : 2);
		}
		usleep(30000); /* let it reach the futex */
		die_at(put_points[k], put_marker, q);
		if (put_points[k] < 4) { /* nothing committed: the next put must wake it */
			v = 7;
			assert_int_equal(tend_queue_put(q, &v, sizeof(v), 0, 2000 * MS), 0);
		}
		assert_exit0(sleeper, 5000);
		tend_queue_free(q);
	}
	for (k = 0; k < sizeof(get_points) / sizeof(get_points[0]); k++) {
		tend_queue *q = anon(1, 8, 1);
		pid_t sleeper;

		v = 1;
		assert_int_equal(tend_queue_put(q, &v, sizeof(v), 0, TEND_NOWAIT), 0);
		sleeper = fork();
		assert_true(sleeper >= 0);
		if (sleeper == 0) {
			v = 2;
			_exit(tend_queue_put(q, &v, sizeof(v), 0, 4000 * MS) == 0 ? 0 : 1);
		}
		usleep(30000);
		die_at(get_points[k], get_one, q);
		if (get_points[k] < 13) /* nothing taken: the next get makes room */
			assert_int_equal(tend_queue_get(q, &v, sizeof(v), NULL, 2000 * MS), sizeof(v));
		assert_exit0(sleeper, 5000);
		assert_int_equal(tend_queue_get(q, &v, sizeof(v), NULL, 2000 * MS), sizeof(v));
		assert_int_equal(v, 2);
		tend_queue_free(q);
	}
}

/* ---- random SIGKILL stress with full accounting --------------------------- */

enum { MAXINC = 4096, MAXSEQ = 2048, NPROD = 3, NCONS = 3, MSGWORDS = 8 };

/* The stress test's children, killed and reaped by its teardown even when an
 * assertion failed half-way. */
static pid_t stress_pids[NPROD + NCONS];

static int kill_stress_children(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NPROD + NCONS; i++)
		if (stress_pids[i] > 0) { /* > 0: never kill(-1) or kill(0) */
			kill(stress_pids[i], SIGKILL);
			waitpid(stress_pids[i], NULL, 0);
			stress_pids[i] = 0;
		}
	return 0;
}

struct stress_msg {
	uint32_t inc, seq, check, pad[MSGWORDS - 3];
};

struct ledger {
	_Atomic uint32_t next_inc;
	_Atomic uint32_t stop;
	_Atomic uint32_t bad;
	_Atomic int last_err;                     /* a child's unexpected error */
	_Atomic uint32_t done[MAXINC];            /* puts that returned 0, per incarnation */
	_Atomic uint8_t recv[MAXINC][MAXSEQ];     /* times recorded by a consumer */
	uint8_t doubt[MAXINC][MAXSEQ];            /* in a killed consumer's buffer */
	struct stress_msg cbuf[NCONS];            /* each consumer's receive buffer */
};

static uint32_t check_of(uint32_t inc, uint32_t seq)
{
	return (inc * 2654435761u) ^ (seq * 40503u) ^ 0x5eedu;
}

static void stress_producer(tend_queue *q, struct ledger *lg, uint32_t inc)
{
	struct stress_msg m;
	uint32_t seq;
	int r;

	memset(&m, 0, sizeof(m));
	for (seq = 0; seq < MAXSEQ && !atomic_load(&lg->stop); seq++) {
		m.inc = inc;
		m.seq = seq;
		m.check = check_of(inc, seq);
		/* lengths vary: 12..32 bytes */
		r = tend_queue_put(q, &m, 12 + (seq % 6) * 4, seq % 3 == 0 ? 1 : 0, 3000 * MS);
		if (r == -EPIPE)
			break;
		if (r != 0) {
			atomic_store(&lg->last_err, r);
			_exit(3); /* -ETIMEDOUT: a put stuck for 3 s, wedged */
		}
		atomic_store(&lg->done[inc], seq + 1);
	}
	_exit(0);
}

static void stress_consumer(tend_queue *q, struct ledger *lg, int slot)
{
	struct stress_msg *m = &lg->cbuf[slot];
	int r;

	for (;;) {
		memset(m, 0, sizeof(*m));
		r = tend_queue_get(q, m, sizeof(*m), NULL, 3000 * MS);
		if (r == -EPIPE)
			_exit(0);
		if (r < 0) {
			atomic_store(&lg->last_err, r);
			_exit(3); /* -ETIMEDOUT: a get stuck for 3 s while producers run */
		}
		if (r < 12 || m->inc >= MAXINC || m->seq >= MAXSEQ || m->check != check_of(m->inc, m->seq)) {
			atomic_fetch_add(&lg->bad, 1);
			continue;
		}
		atomic_fetch_add(&lg->recv[m->inc][m->seq], 1);
	}
}

static void test_sigkill_stress_accounting(void **state)
{
	tend_queue *q = anon(8, 32, 2);
	struct ledger *lg;
	pid_t prod[NPROD], cons[NCONS];
	int64_t end;
	unsigned seed = (unsigned)getpid();
	int i, st, kills = 0, lost = 0, dup = 0, ghost = 0;
	uint32_t inc, seq, ninc;

	(void)state;
	lg = mmap(NULL, sizeof(*lg), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(lg != MAP_FAILED);
#define SPAWN_PROD(i)                                                          \
	do {                                                                   \
		uint32_t inc_ = atomic_fetch_add(&lg->next_inc, 1);            \
		assert_true(inc_ < MAXINC);                                    \
		prod[i] = fork();                                              \
		assert_true(prod[i] >= 0);                                     \
		if (prod[i] == 0)                                              \
			stress_producer(q, lg, inc_);                          \
		stress_pids[i] = prod[i];                                      \
	} while (0)
#define SPAWN_CONS(i)                                                          \
	do {                                                                   \
		cons[i] = fork();                                              \
		assert_true(cons[i] >= 0);                                     \
		if (cons[i] == 0)                                              \
			stress_consumer(q, lg, i);                             \
		stress_pids[NPROD + i] = cons[i];                              \
	} while (0)
	for (i = 0; i < NPROD; i++)
		SPAWN_PROD(i);
	for (i = 0; i < NCONS; i++)
		SPAWN_CONS(i);
	/* 2.5 s and at least 120 kills (a loaded machine forks slowly: 56 in
	 * 2.5 s under ASan at load 8), at most 10 s */
	end = now_ms() + 2500;
	while ((now_ms() < end || kills < 120) && now_ms() < end + 7500) {
		int who = (int)(rand_r(&seed) % (NPROD + NCONS));

		usleep(1000 + rand_r(&seed) % 4000);
		if (who < NPROD) {
			if (prod[who] <= 0)
				continue; /* never kill(-1) or kill(0) */
			kill(prod[who], SIGKILL);
			waitpid(prod[who], &st, 0);
			/* a producer that ran out of sequence numbers exits by itself */
			assert_true(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 0));
			if (atomic_load(&lg->next_inc) < MAXINC - NPROD)
				SPAWN_PROD(who);
			else
				prod[who] = stress_pids[who] = -1;
		} else {
			struct stress_msg m;

			who -= NPROD;
			assert_true(cons[who] > 0);
			kill(cons[who], SIGKILL);
			waitpid(cons[who], &st, 0);
			if (!WIFSIGNALED(st))
				print_message("# consumer status 0x%x, error %d\n", st, atomic_load(&lg->last_err));
			assert_true(WIFSIGNALED(st));
			m = lg->cbuf[who];
			if (m.inc < MAXINC && m.seq < MAXSEQ && m.check == check_of(m.inc, m.seq) && m.check)
				lg->doubt[m.inc][m.seq] = 1;
			SPAWN_CONS(who);
		}
		kills++;
		for (i = 0; i < NPROD; i++) /* respawn producers that finished */
			if (prod[i] > 0 && waitpid(prod[i], &st, WNOHANG) == prod[i]) {
				if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
					print_message("# producer status 0x%x, error %d\n", st, atomic_load(&lg->last_err));
				assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
				if (atomic_load(&lg->next_inc) < MAXINC - NPROD)
					SPAWN_PROD(i);
				else
					prod[i] = stress_pids[i] = -1;
			}
	}
	/* Stop: producers finish their current put, then the queue is closed and
	 * consumers drain it and leave with -EPIPE. */
	atomic_store(&lg->stop, 1);
	for (i = 0; i < NPROD; i++)
		if (prod[i] > 0) {
			stress_pids[i] = 0;
			assert_exit0(prod[i], 8000);
		}
	tend_queue_close(q);
	for (i = 0; i < NCONS; i++) {
		stress_pids[NPROD + i] = 0;
		assert_exit0(cons[i], 8000);
	}
	assert_int_equal(tend_queue_qsize(q), 0);
	ninc = atomic_load(&lg->next_inc);
	for (inc = 0; inc < ninc; inc++) {
		uint32_t done = atomic_load(&lg->done[inc]);

		for (seq = 0; seq < MAXSEQ; seq++) {
			unsigned n = atomic_load(&lg->recv[inc][seq]);

			if (n > 1)
				dup++;
			if (seq < done && n + lg->doubt[inc][seq] == 0)
				lost++;
			if (seq > done && n + lg->doubt[inc][seq] > 0)
				ghost++;
		}
	}
	print_message("# stress: %d kills, %u producer incarnations\n", kills, ninc);
	assert_true(kills > 100);
	assert_int_equal(atomic_load(&lg->bad), 0);
	assert_int_equal(dup, 0);
	assert_int_equal(lost, 0);
	assert_int_equal(ghost, 0);
	munmap(lg, sizeof(*lg));
	tend_queue_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_anon_geometry),
		cmocka_unit_test(test_create_rejects_bad_arguments),
		cmocka_unit_test(test_named_create_open_unlink),
		cmocka_unit_test(test_open_fd_shares_queue),
		cmocka_unit_test(test_open_rejects_foreign_and_truncated),
		cmocka_unit_test(test_put_get_lengths_and_errors),
		cmocka_unit_test(test_nonblocking_full_and_empty),
		cmocka_unit_test(test_priority_order_and_fifo),
		cmocka_unit_test(test_cross_process_order),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_blocking_wakeups),
		cmocka_unit_test(test_close_wakes_waiters),
		cmocka_unit_test(test_blocked_waiter_uses_no_cpu),
		cmocka_unit_test(test_threads_mpmc),
		cmocka_unit_test(test_producer_killed_at_each_point),
		cmocka_unit_test(test_consumer_killed_at_each_point),
		cmocka_unit_test(test_sleepers_survive_dead_wakers),
		cmocka_unit_test_teardown(test_sigkill_stress_accounting, kill_stress_children),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
