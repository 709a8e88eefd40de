/*
 * tend_pool (src/lib/pool.c): apply, apply_async with waits and timeouts,
 * map order with and without chunks, close/join, terminate with tasks
 * pending, workers that crash mid-task (SIGKILL, abort, exit) or at start,
 * max_tasks_per_child, the initializer, bad arguments, and a stream of
 * tasks and maps while a thread SIGKILLs workers at random instants, with
 * every task accounted for.
 *
 * Task functions run in the workers (forks of this binary) and never call
 * cmocka.  Every test ends by checking that this process has no child left,
 * zombie or not (/proc/<pid>/stat of every process, field ppid).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tend/pool.h"

#define MS (1000000LL)
/* Waits that a regression would turn into a hang fail after this instead. */
#define LONG (10 * 1000 * MS)

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A small /proc file into buf, NUL-terminated: its length, or -1. */
static ssize_t read_text(const char *path, char *buf, size_t size)
{
	ssize_t len;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	len = read(fd, buf, size - 1);
	close(fd);
	if (len <= 0)
		return -1;
	buf[len] = 0;
	return len;
}

/* Read the state letter and parent of a process; 0 or -1. */
static int stat_of(pid_t pid, char *ret_state, pid_t *ret_ppid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_text(path, buf, sizeof(buf)) < 0)
		return -1;
	p = strrchr(buf, ')');
	if (!p || !p[1] || !p[2])
		return -1;
	*ret_state = p[2];
	*ret_ppid = (pid_t)strtol(p + 4, NULL, 10);
	return 0;
}

/*
 * The children of parent, from each of its threads' /proc/PID/task/TID/
 * children (zombies are listed until reaped): as many reads as it has
 * threads and children, however many processes the machine runs (a scan of
 * /proc took so long beside 9000 other processes that the killer made under
 * 10 kills).  live: only those that are not zombies, their pids in pids (at
 * most n); else just counted.  Returns how many.
 */
static int children_of(pid_t parent, bool live, pid_t *pids, int n)
{
	char path[320], buf[4096], *p, *end;
	struct dirent *de;
	pid_t pid, ppid;
	char st;
	int k = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)parent);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)) && k < n) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/children", (int)parent, de->d_name);
		if (read_text(path, buf, sizeof(buf)) < 0)
			continue;
		for (p = buf; k < n; p = end) {
			pid = (pid_t)strtol(p, &end, 10);
			if (end == p)
				break;
			if (!live)
				k++;
			else if (stat_of(pid, &st, &ppid) == 0 && ppid == parent && st != 'Z')
				pids[k++] = pid;
		}
	}
	closedir(d);
	return k;
}

/* Processes whose parent is this one (zombies included). */
static int children(void)
{
	return children_of(getpid(), false, NULL, 1 << 30);
}

static int live_children(pid_t parent, pid_t *pids, int n)
{
	return children_of(parent, true, pids, n);
}

/* Teardown of every test: a failed test may leave its pool's workers
 * behind; kill and reap them so the next test starts clean. */
static int kill_leftovers(void **state)
{
	pid_t pids[64];
	int n, i;

	(void)state;
	n = live_children(getpid(), pids, 64);
	for (i = 0; i < n; i++) {
		kill(pids[i], SIGKILL);
		(void)waitpid(pids[i], NULL, 0);
	}
	while (waitpid(-1, NULL, WNOHANG) > 0) /* zombies */
		;
	return 0;
}

static void assert_no_children(void)
{
	assert_int_equal(children(), 0);
}

static tend_pool *pool_new(unsigned size)
{
	tend_pool_opts o = {.size = size};
	tend_pool *p = NULL;

	assert_int_equal(tend_pool_create(&p, &o), 0);
	assert_non_null(p);
	return p;
}

/* ---- task functions (run in the workers) ---------------------------------- */

static int inc64(const void *arg, size_t arglen, void *res, size_t cap)
{
	uint64_t x;

	if (arglen != 8 || cap < 8)
		return -EINVAL;
	memcpy(&x, arg, 8);
	x = x * 3 + 1;
	memcpy(res, &x, 8);
	return 8;
}

static int echo(const void *arg, size_t arglen, void *res, size_t cap)
{
	if (arglen > cap)
		return -ENOSPC;
	memcpy(res, arg, arglen);
	return (int)arglen;
}

static int my_pid(const void *arg, size_t arglen, void *res, size_t cap)
{
	pid_t pid = getpid();

	(void)arg;
	(void)arglen;
	if (cap < sizeof(pid))
		return -ENOSPC;
	memcpy(res, &pid, sizeof(pid));
	return sizeof(pid);
}

/* arg: milliseconds to sleep; result: the pid */
static int sleep_ms(const void *arg, size_t arglen, void *res, size_t cap)
{
	int ms;

	if (arglen != sizeof(ms))
		return -EINVAL;
	memcpy(&ms, arg, sizeof(ms));
	usleep((useconds_t)ms * 1000);
	return my_pid(NULL, 0, res, cap);
}

static int fail_edom(const void *arg, size_t arglen, void *res, size_t cap)
{
	(void)arg;
	(void)arglen;
	(void)res;
	(void)cap;
	return -EDOM;
}

static int too_long(const void *arg, size_t arglen, void *res, size_t cap)
{
	(void)arg;
	(void)arglen;
	(void)res;
	return (int)cap + 1;
}

/* arg: how to die */
static int crash(const void *arg, size_t arglen, void *res, size_t cap)
{
	int how;

	(void)res;
	(void)cap;
	if (arglen != sizeof(how))
		return -EINVAL;
	memcpy(&how, arg, sizeof(how));
	/* cmocka catches SIGSEGV to report a failed test: not in a worker */
	signal(SIGSEGV, SIG_DFL);
	signal(SIGABRT, SIG_DFL);
	if (how == 0)
		raise(SIGKILL);
	else if (how == 1)
		abort();
	else if (how == 2)
		_exit(3);
	else
		raise(SIGSEGV); /* a real null store is UB that UBSan reports */
	return 0;
}

/* map: element i (a uint32) -> i * i, or a crash on 0xdead, -EDOM on 0xbad */
static int square(const void *arg, size_t arglen, void *res, size_t cap)
{
	uint32_t x;
	uint64_t y;

	if (arglen != 4 || cap != 8)
		return -EINVAL;
	memcpy(&x, arg, 4);
	if (x == 0xdead)
		raise(SIGKILL);
	if (x == 0xbad)
		return -EDOM;
	y = (uint64_t)x * x;
	memcpy(res, &y, 8);
	return 8;
}

/* ---- arguments ------------------------------------------------------------- */

static void test_bad_arguments(void **state)
{
	tend_pool_opts o = {0};
	tend_pool *p = (tend_pool *)0x1;
	tend_future *f = (tend_future *)0x1;
	char buf[16] = {0};

	(void)state;
	assert_int_equal(tend_pool_create(NULL, NULL), -EINVAL);
	o.size = TEND_POOL_SIZE_MAX + 1;
	assert_int_equal(tend_pool_create(&p, &o), -EINVAL);
	o.size = 1;
	o.depth = TEND_POOL_DEPTH_MAX + 1;
	assert_int_equal(tend_pool_create(&p, &o), -EINVAL);
	o.depth = 0;
	o.max_arg = (size_t)1 << 30;
	assert_int_equal(tend_pool_create(&p, &o), -EINVAL);
	o.max_arg = 0;
	o.max_result = (size_t)1 << 30;
	assert_int_equal(tend_pool_create(&p, &o), -EINVAL);
	assert_ptr_equal(p, (tend_pool *)0x1); /* untouched on failure */
	assert_no_children();

	p = pool_new(1);
	assert_int_equal(tend_pool_apply(NULL, echo, buf, 1, buf, 1, TEND_FOREVER), -EINVAL);
	assert_int_equal(tend_pool_apply(p, NULL, buf, 1, buf, 1, TEND_FOREVER), -EINVAL);
	assert_int_equal(tend_pool_apply(p, echo, NULL, 1, buf, 1, TEND_FOREVER), -EINVAL);
	assert_int_equal(tend_pool_apply(p, echo, buf, 1, NULL, 1, TEND_FOREVER), -EINVAL);
	assert_int_equal(tend_pool_apply(p, echo, buf, 1, buf, 1, TEND_NOWAIT), -EINVAL);
	assert_int_equal(tend_pool_apply_async(p, echo, buf, 1, NULL), -EINVAL);
	assert_int_equal(tend_pool_apply_async(NULL, echo, buf, 1, &f), -EINVAL);
	assert_int_equal(tend_pool_apply_async(p, NULL, buf, 1, &f), -EINVAL);
	assert_ptr_equal(f, (tend_future *)0x1);
	assert_int_equal(tend_pool_map(NULL, square, buf, 4, 1, buf, 8, 1), -EINVAL);
	assert_int_equal(tend_pool_map(p, NULL, buf, 4, 1, buf, 8, 1), -EINVAL);
	assert_int_equal(tend_pool_map(p, square, NULL, 4, 1, buf, 8, 1), -EINVAL);
	assert_int_equal(tend_pool_map(p, square, buf, 4, 1, NULL, 8, 1), -EINVAL);
	assert_int_equal(tend_pool_map(p, square, NULL, 4, 0, NULL, 8, 1), 0); /* n == 0 */
	assert_int_equal(tend_future_wait(NULL, buf, 1, TEND_FOREVER), -EINVAL);
	assert_int_equal(tend_future_ready(NULL), -EINVAL);
	assert_null(tend_future_free(NULL));
	assert_int_equal(tend_pool_join(p, TEND_FOREVER), -EINVAL); /* not closed */
	assert_int_equal(tend_pool_join(NULL, TEND_FOREVER), -EINVAL);
	assert_int_equal(tend_pool_close(NULL), -EINVAL);
	assert_int_equal(tend_pool_terminate(NULL), -EINVAL);
	assert_int_equal(tend_pool_size(NULL), -EINVAL);
	assert_int_equal(tend_pool_pids(NULL, NULL, 0), -EINVAL);
	assert_int_equal(tend_pool_pids(p, NULL, 1), -EINVAL);
	/* too long for max_arg (4096 by default) */
	{
		static char big[TEND_POOL_DEFAULT_MSG + 1];

		assert_int_equal(tend_pool_apply(p, echo, big, sizeof(big), buf, sizeof(buf), TEND_FOREVER),
				 -EMSGSIZE);
		assert_int_equal(tend_pool_map(p, echo, big, sizeof(big), 1, buf, 1, 1), -EMSGSIZE);
	}
	assert_null(tend_pool_free(p));
	assert_null(tend_pool_free(NULL));
	assert_no_children();
}

static void test_create_default_size(void **state)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	pid_t pids[64];
	tend_pool *p = NULL;
	int n, i;

	(void)state;
	assert_int_equal(tend_pool_create(&p, NULL), 0);
	assert_int_equal(tend_pool_size(p), ncpu);
	n = tend_pool_pids(p, pids, 64);
	assert_int_equal(n, ncpu);
	for (i = 0; i < n && i < 64; i++)
		assert_int_equal(kill(pids[i], 0), 0);
	assert_int_equal(children(), ncpu);
	tend_pool_free(p);
	assert_no_children();
}

/* ---- apply -------------------------------------------------------------- */

static void test_apply(void **state)
{
	uint64_t x = 7, y = 0;
	char buf[64], small[4];
	tend_pool *p = pool_new(2);
	pid_t pids[2], pid = 0;

	(void)state;
	assert_int_equal(tend_pool_apply(p, inc64, &x, 8, &y, 8, LONG), 8);
	assert_int_equal(y, 22);
	assert_int_equal(tend_pool_apply(p, echo, "hello", 5, buf, sizeof(buf), 5 * 1000 * MS), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(tend_pool_apply(p, echo, NULL, 0, buf, sizeof(buf), LONG), 0);
	/* the function's own error, and result_cap as the function sees it */
	assert_int_equal(tend_pool_apply(p, fail_edom, NULL, 0, NULL, 0, LONG), -EDOM);
	assert_int_equal(tend_pool_apply(p, echo, "hello", 5, small, sizeof(small), LONG), -ENOSPC);
	assert_int_equal(tend_pool_apply(p, too_long, NULL, 0, buf, sizeof(buf), LONG), -EOVERFLOW);
	/* it ran in a worker */
	assert_int_equal(tend_pool_apply(p, my_pid, NULL, 0, &pid, sizeof(pid), LONG), sizeof(pid));
	assert_int_equal(tend_pool_pids(p, pids, 2), 2);
	assert_true(pid == pids[0] || pid == pids[1]);
	assert_int_not_equal(pid, getpid());
	tend_pool_free(p);
	assert_no_children();
}

static void test_apply_timeout_keeps_pool_usable(void **state)
{
	tend_pool *p = pool_new(1);
	int ms = 300;
	int64_t t0;
	pid_t pid;

	(void)state;
	t0 = now_ms();
	assert_int_equal(tend_pool_apply(p, sleep_ms, &ms, sizeof(ms), &pid, sizeof(pid), 50 * MS), -ETIMEDOUT);
	assert_true(now_ms() - t0 < 250);
	/* the timed-out task still runs; its result is dropped, not mixed up */
	ms = 0;
	assert_int_equal(tend_pool_apply(p, sleep_ms, &ms, sizeof(ms), &pid, sizeof(pid), TEND_FOREVER), sizeof(pid));
	tend_pool_free(p);
	assert_no_children();
}

/* ---- apply_async ---------------------------------------------------------- */

static void test_apply_async_wait_timeout(void **state)
{
	tend_pool *p = pool_new(2);
	tend_future *f, *fs[100];
	int ms = 200, i;
	char small[2];
	uint64_t x, y;
	pid_t pid;
	int64_t t0;

	(void)state;
	assert_int_equal(tend_pool_apply_async(p, sleep_ms, &ms, sizeof(ms), &f), 0);
	ms = 9999; /* the argument was copied */
	assert_int_equal(tend_future_ready(f), 0);
	assert_int_equal(tend_future_wait(f, &pid, sizeof(pid), TEND_NOWAIT), -EAGAIN);
	t0 = now_ms();
	assert_int_equal(tend_future_wait(f, &pid, sizeof(pid), 30 * MS), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 25);
	assert_int_equal(tend_future_wait(f, &pid, sizeof(pid), LONG), sizeof(pid));
	assert_true(now_ms() - t0 < 2000);
	assert_int_equal(tend_future_ready(f), 1);
	/* a finished future keeps its result */
	pid = 0;
	assert_int_equal(tend_future_wait(f, &pid, sizeof(pid), TEND_NOWAIT), sizeof(pid));
	assert_int_not_equal(pid, 0);
	assert_int_equal(tend_future_wait(f, small, sizeof(small), LONG), -EMSGSIZE);
	tend_future_free(f);

	/* many at once: more than the workers' queues hold, waited out of order */
	{
		tend_pool_opts o = {.size = 2, .depth = 4};
		tend_pool *q = NULL;

		assert_int_equal(tend_pool_create(&q, &o), 0);
		for (i = 0; i < 100; i++) {
			x = (uint64_t)i;
			assert_int_equal(tend_pool_apply_async(q, inc64, &x, 8, &fs[i]), 0);
		}
		for (i = 99; i >= 0; i--) {
			assert_int_equal(tend_future_wait(fs[i], &y, 8, LONG), 8);
			assert_int_equal(y, (uint64_t)i * 3 + 1);
			tend_future_free(fs[i]);
		}
		/* freed while unfinished: the pool frees it later */
		ms = 20;
		assert_int_equal(tend_pool_apply_async(q, sleep_ms, &ms, sizeof(ms), &f), 0);
		tend_future_free(f);
		tend_pool_close(q);
		assert_int_equal(tend_pool_join(q, LONG), 0);
		tend_pool_free(q);
	}
	tend_pool_free(p);
	assert_no_children();
}

static void test_future_outlives_pool(void **state)
{
	tend_pool *p = pool_new(1);
	tend_future *f, *g;
	int ms = 5000;
	pid_t pid;

	(void)state;
	assert_int_equal(tend_pool_apply_async(p, sleep_ms, &ms, sizeof(ms), &f), 0);
	assert_int_equal(tend_pool_apply_async(p, sleep_ms, &ms, sizeof(ms), &g), 0);
	tend_pool_free(p);
	assert_no_children();
	assert_int_equal(tend_future_ready(f), 1);
	assert_int_equal(tend_future_wait(f, &pid, sizeof(pid), LONG), -ECANCELED);
	assert_int_equal(tend_future_wait(g, &pid, sizeof(pid), TEND_NOWAIT), -ECANCELED);
	tend_future_free(f);
	tend_future_free(g);
}

/* ---- map -------------------------------------------------------------------- */

static void check_map(tend_pool *p, size_t n, size_t chunksize)
{
	uint32_t *in = malloc(n * 4 + 1);
	uint64_t *out = malloc(n * 8 + 1);
	size_t i;

	assert_non_null(in);
	assert_non_null(out);
	for (i = 0; i < n; i++) {
		in[i] = (uint32_t)(i * 7 + 3) % 2048; /* never 0xbad or 0xdead */
		out[i] = 0xffffffffffffffffull;
	}
	assert_int_equal(tend_pool_map(p, square, in, 4, n, out, 8, chunksize), 0);
	for (i = 0; i < n; i++)
		if (out[i] != (uint64_t)in[i] * in[i])
			fail_msg("n=%zu chunksize=%zu: out[%zu] = %llu, want %llu", n, chunksize, i,
				 (unsigned long long)out[i], (unsigned long long)in[i] * in[i]);
	free(in);
	free(out);
}

static void test_map_order(void **state)
{
	static const size_t sizes[] = {1, 2, 7, 100, 1000, 4099};
	static const size_t chunks[] = {0, 1, 3, 7, 64, 5000};
	tend_pool *p = pool_new(2);
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (j = 0; j < sizeof(chunks) / sizeof(chunks[0]); j++)
			check_map(p, sizes[i], chunks[j]);
	/* chunks larger than max_arg / in_size are cut down, not refused */
	check_map(p, 20000, 100000);
	tend_pool_free(p);
	assert_no_children();

	/* more results in flight (2 x 4096) than the result queue holds: the
	 * workers wait for room, nothing is lost or stuck */
	{
		tend_pool_opts o = {.size = 2, .depth = 4096, .max_arg = 64, .max_result = 64};

		assert_int_equal(tend_pool_create(&p, &o), 0);
		check_map(p, 30000, 1);
		check_map(p, 30000, 3);
		tend_pool_free(p);
		assert_no_children();
	}
}

static void test_map_errors(void **state)
{
	tend_pool *p = pool_new(2);
	uint32_t in[500];
	uint64_t out[500];
	size_t i;

	(void)state;
	for (i = 0; i < 500; i++)
		in[i] = (uint32_t)i;
	in[321] = 0xbad;
	assert_int_equal(tend_pool_map(p, square, in, 4, 500, out, 8, 1), -EDOM);
	assert_int_equal(tend_pool_map(p, square, in, 4, 500, out, 8, 16), -EDOM);
	in[321] = 0xdead; /* kills its worker */
	assert_int_equal(tend_pool_map(p, square, in, 4, 500, out, 8, 1), -EOWNERDEAD);
	assert_int_equal(tend_pool_map(p, square, in, 4, 500, out, 8, 0), -EOWNERDEAD);
	in[321] = 321;
	check_map(p, 500, 1);
	tend_pool_free(p);
	assert_no_children();
}

/* ---- close, join, terminate ------------------------------------------------- */

static void test_close_join(void **state)
{
	tend_pool *p = pool_new(2);
	tend_future *fs[6], *f;
	uint64_t x = 1, y;
	int ms = 50, i;
	pid_t pid;

	(void)state;
	for (i = 0; i < 6; i++)
		assert_int_equal(tend_pool_apply_async(p, sleep_ms, &ms, sizeof(ms), &fs[i]), 0);
	assert_int_equal(tend_pool_close(p), 0);
	assert_int_equal(tend_pool_close(p), 0);
	assert_int_equal(tend_pool_apply(p, inc64, &x, 8, &y, 8, LONG), -EPIPE);
	assert_int_equal(tend_pool_apply_async(p, inc64, &x, 8, &f), -EPIPE);
	assert_int_equal(tend_pool_map(p, inc64, &x, 8, 1, &y, 8, 1), -EPIPE);
	/* join waits for the queued tasks: 3 rounds of 50 ms on 2 workers */
	assert_int_equal(tend_pool_join(p, 5 * MS), -ETIMEDOUT);
	assert_int_equal(tend_pool_join(p, LONG), 0);
	for (i = 0; i < 6; i++) {
		assert_int_equal(tend_future_wait(fs[i], &pid, sizeof(pid), TEND_NOWAIT), sizeof(pid));
		tend_future_free(fs[i]);
	}
	assert_no_children(); /* the workers ended and were reaped by join */
	assert_int_equal(tend_pool_pids(p, NULL, 0), 0);
	assert_int_equal(tend_pool_join(p, LONG), 0);
	assert_int_equal(tend_pool_terminate(p), 0);
	assert_int_equal(tend_pool_apply(p, inc64, &x, 8, &y, 8, LONG), -EPIPE);
	tend_pool_free(p);
	assert_no_children();
}

static void test_terminate_pending(void **state)
{
	tend_pool *p = pool_new(2);
	tend_future *fs[20];
	uint64_t x = 1, y;
	int ms = 300, i, cancelled = 0;
	int64_t t0;
	pid_t pid;

	(void)state;
	for (i = 0; i < 20; i++)
		assert_int_equal(tend_pool_apply_async(p, sleep_ms, &ms, sizeof(ms), &fs[i]), 0);
	usleep(20 * 1000);
	t0 = now_ms();
	assert_int_equal(tend_pool_terminate(p), 0);
	assert_true(now_ms() - t0 < 200);
	assert_no_children(); /* killed and reaped: no zombie */
	for (i = 0; i < 20; i++) {
		assert_int_equal(tend_future_ready(fs[i]), 1);
		if (tend_future_wait(fs[i], &pid, sizeof(pid), LONG) == -ECANCELED)
			cancelled++;
		tend_future_free(fs[i]);
	}
	assert_int_equal(cancelled, 20);
	assert_int_equal(tend_pool_terminate(p), 0);
	assert_int_equal(tend_pool_apply(p, inc64, &x, 8, &y, 8, LONG), -EPIPE);
	assert_int_equal(tend_pool_join(p, LONG), 0);
	tend_pool_free(p);
	assert_no_children();
}

/* ---- crashes ------------------------------------------------------------------ */

static void test_crash_mid_task(void **state)
{
	tend_pool *p = pool_new(2);
	pid_t before[2], after[2], pid;
	uint64_t x = 5, y;
	int how, k;
	int64_t t0;

	(void)state;
	for (how = 0; how < 4; how++) {
		assert_int_equal(tend_pool_pids(p, before, 2), 2);
		t0 = now_ms();
		assert_int_equal(tend_pool_apply(p, crash, &how, sizeof(how), NULL, 0, LONG), -EOWNERDEAD);
		assert_true(now_ms() - t0 < 1000);
		/* replaced: still 2 workers, exactly one of them new */
		assert_int_equal(tend_pool_pids(p, after, 2), 2);
		k = (after[0] != before[0]) + (after[1] != before[1]);
		assert_int_equal(k, 1);
		assert_int_equal(children(), 2);
		/* and the pool still works */
		assert_int_equal(tend_pool_apply(p, inc64, &x, 8, &y, 8, LONG), 8);
		assert_int_equal(y, 16);
		assert_int_equal(tend_pool_apply(p, my_pid, NULL, 0, &pid, sizeof(pid), LONG), sizeof(pid));
	}
	tend_pool_free(p);
	assert_no_children();
}

static void test_crash_keeps_queued_tasks(void **state)
{
	tend_pool *p = pool_new(1); /* every task goes to the one worker */
	tend_future *before, *dead, *fs[10];
	uint64_t x, y;
	int how = 0, i, ms = 30;
	pid_t pid;

	(void)state;
	assert_int_equal(tend_pool_apply_async(p, sleep_ms, &ms, sizeof(ms), &before), 0);
	assert_int_equal(tend_pool_apply_async(p, crash, &how, sizeof(how), &dead), 0);
	for (i = 0; i < 10; i++) {
		x = (uint64_t)i;
		assert_int_equal(tend_pool_apply_async(p, inc64, &x, 8, &fs[i]), 0);
	}
	assert_int_equal(tend_future_wait(before, &pid, sizeof(pid), LONG), sizeof(pid));
	assert_int_equal(tend_future_wait(dead, NULL, 0, LONG), -EOWNERDEAD);
	/* the tasks queued behind the crash run in the replacement */
	for (i = 0; i < 10; i++) {
		assert_int_equal(tend_future_wait(fs[i], &y, 8, LONG), 8);
		assert_int_equal(y, (uint64_t)i * 3 + 1);
		tend_future_free(fs[i]);
	}
	tend_future_free(before);
	tend_future_free(dead);
	tend_pool_free(p);
	assert_no_children();
}

static void test_worker_killed_from_outside(void **state)
{
	tend_pool *p = pool_new(1);
	tend_future *f;
	pid_t pid, pid2, got;
	int ms = 5000;
	int64_t t0;

	(void)state;
	/* busy: its task fails */
	assert_int_equal(tend_pool_apply_async(p, sleep_ms, &ms, sizeof(ms), &f), 0);
	assert_int_equal(tend_pool_pids(p, &pid, 1), 1);
	usleep(20 * 1000);
	assert_int_equal(kill(pid, SIGKILL), 0);
	t0 = now_ms();
	assert_int_equal(tend_future_wait(f, &got, sizeof(got), LONG), -EOWNERDEAD);
	assert_true(now_ms() - t0 < 1000);
	tend_future_free(f);
	/* idle: nothing fails, it is replaced */
	assert_int_equal(tend_pool_pids(p, &pid2, 1), 1);
	assert_int_not_equal(pid2, pid);
	assert_int_equal(kill(pid2, SIGKILL), 0);
	usleep(20 * 1000);
	ms = 0;
	assert_int_equal(tend_pool_apply(p, sleep_ms, &ms, sizeof(ms), &got, sizeof(got), LONG), sizeof(got));
	assert_int_not_equal(got, pid2);
	tend_pool_free(p);
	assert_no_children();
}

/* ---- max_tasks_per_child and the initializer ---------------------------------- */

static void test_max_tasks_per_child(void **state)
{
	tend_pool_opts o = {.size = 1, .max_tasks_per_child = 3};
	tend_pool *p = NULL;
	tend_future *fs[12];
	pid_t pids[12];
	int i;

	(void)state;
	assert_int_equal(tend_pool_create(&p, &o), 0);
	for (i = 0; i < 6; i++)
		assert_int_equal(tend_pool_apply(p, my_pid, NULL, 0, &pids[i], sizeof(pid_t), LONG),
				 sizeof(pid_t));
	/* asynchronously too: the queue never gives a worker a 4th task */
	for (i = 6; i < 12; i++)
		assert_int_equal(tend_pool_apply_async(p, my_pid, NULL, 0, &fs[i]), 0);
	for (i = 6; i < 12; i++) {
		assert_int_equal(tend_future_wait(fs[i], &pids[i], sizeof(pid_t), LONG), sizeof(pid_t));
		tend_future_free(fs[i]);
	}
	for (i = 0; i < 12; i++) {
		if (i % 3)
			assert_int_equal(pids[i], pids[i - 1]);
		else if (i)
			assert_int_not_equal(pids[i], pids[i - 1]);
	}
	tend_pool_free(p);
	assert_no_children();

	/* map chunks count as tasks */
	o.size = 2;
	o.max_tasks_per_child = 2;
	assert_int_equal(tend_pool_create(&p, &o), 0);
	check_map(p, 1000, 10);
	tend_pool_close(p);
	assert_int_equal(tend_pool_join(p, LONG), 0);
	tend_pool_free(p);
	assert_no_children();
}

struct init_log {
	_Atomic int calls;
	pid_t pids[64];
};

static int initialized; /* set in each worker by init_worker */

static void init_worker(void *arg)
{
	struct init_log *log = arg;
	int i = atomic_fetch_add(&log->calls, 1);

	if (i < 64)
		log->pids[i] = getpid();
	initialized = 4242;
}

static int read_initialized(const void *arg, size_t arglen, void *res, size_t cap)
{
	(void)arg;
	(void)arglen;
	(void)cap;
	memcpy(res, &initialized, sizeof(initialized));
	return sizeof(initialized);
}

static void test_initializer(void **state)
{
	struct init_log *log = mmap(NULL, sizeof(*log), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	tend_pool_opts o = {.size = 2, .initializer = init_worker, .max_tasks_per_child = 2};
	tend_pool *p = NULL;
	pid_t pids[2];
	int v, i, j, seen;

	(void)state;
	assert_ptr_not_equal(log, MAP_FAILED);
	o.initarg = log;
	assert_int_equal(tend_pool_create(&p, &o), 0);
	for (i = 0; i < 6; i++) {
		v = 0;
		assert_int_equal(tend_pool_apply(p, read_initialized, NULL, 0, &v, sizeof(v), LONG), sizeof(v));
		assert_int_equal(v, 4242);
	}
	assert_int_equal(initialized, 0); /* it ran in the workers, not here */
	/* each worker ran it once, replacements included */
	assert_int_equal(tend_pool_pids(p, pids, 2), 2);
	for (i = 0; i < 2; i++) {
		seen = 0;
		for (j = 0; j < atomic_load(&log->calls) && j < 64; j++)
			seen += log->pids[j] == pids[i];
		assert_int_equal(seen, 1);
	}
	/* 2 workers, each replaced once after its 2 tasks; the replacements
	 * ran the 3rd task of each slot */
	assert_int_equal(atomic_load(&log->calls), 4);
	tend_pool_free(p);
	assert_no_children();
	munmap(log, sizeof(*log));
}

static void broken_init(void *arg)
{
	(void)arg;
	_exit(1);
}

static void test_broken_initializer(void **state)
{
	tend_pool_opts o = {.size = 2, .initializer = broken_init};
	tend_pool *p = NULL;
	uint64_t in[10] = {0}, out[10];
	uint64_t x = 1, y;
	int64_t t0;

	(void)state;
	assert_int_equal(tend_pool_create(&p, &o), 0);
	t0 = now_ms();
	assert_int_equal(tend_pool_apply(p, inc64, &x, 8, &y, 8, LONG), -ECHILD);
	assert_int_equal(tend_pool_apply(p, inc64, &x, 8, &y, 8, LONG), -ECHILD);
	assert_int_equal(tend_pool_map(p, inc64, in, 8, 10, out, 8, 1), -ECHILD);
	assert_true(now_ms() - t0 < 2000);
	tend_pool_free(p);
	assert_no_children();
}

/* The caller reaps every child itself: results stay right, nothing hangs. */
static void test_caller_ignores_sigchld(void **state)
{
	struct sigaction sa = {.sa_handler = SIG_IGN}, old;
	tend_pool *p;
	uint64_t x = 2, y;
	int how = 0;

	(void)state;
	assert_int_equal(sigaction(SIGCHLD, &sa, &old), 0);
	p = pool_new(2);
	assert_int_equal(tend_pool_apply(p, crash, &how, sizeof(how), NULL, 0, LONG), -EOWNERDEAD);
	assert_int_equal(tend_pool_apply(p, inc64, &x, 8, &y, 8, LONG), 8);
	check_map(p, 1000, 1);
	tend_pool_close(p);
	assert_int_equal(tend_pool_join(p, LONG), 0);
	tend_pool_free(p);
	assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
	assert_no_children();
}

/* A child forked by the caller that frees its copy of the pool does not
 * touch the parent's workers. */
static void test_free_in_forked_child(void **state)
{
	tend_pool *p = pool_new(2);
	uint64_t x = 2, y;
	pid_t c;
	int st;

	(void)state;
	c = fork();
	assert_true(c >= 0);
	if (c == 0) {
		/* not this process's pool: every call but free is refused, and
		 * none of them touches the creator's workers or queues */
		tend_future *f = NULL;
		uint64_t out[4];
		int bad = 0;

		bad |= tend_pool_apply(p, inc64, &x, 8, &y, 8, LONG) != -EPERM;
		bad |= tend_pool_apply_async(p, inc64, &x, 8, &f) != -EPERM;
		bad |= tend_pool_map(p, inc64, out, 8, 4, out, 8, 0) != -EPERM;
		bad |= tend_pool_close(p) != -EPERM;
		bad |= tend_pool_terminate(p) != -EPERM;
		tend_pool_free(p);
		_exit(bad ? 1 : 0);
	}
	assert_int_equal(waitpid(c, &st, 0), c);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(children(), 2);
	assert_int_equal(tend_pool_apply(p, inc64, &x, 8, &y, 8, LONG), 8);
	check_map(p, 1000, 1);
	tend_pool_free(p);
	assert_no_children();
}

/* ---- kills at random instants: every task accounted for ------------------ */

/* x -> 3x + 1, but the worker kills itself on every 997th value */
static int inc_or_die(const void *arg, size_t arglen, void *res, size_t cap)
{
	uint64_t x;

	if (arglen != 8)
		return -EINVAL;
	memcpy(&x, arg, 8);
	if (x % 997 == 996)
		raise(SIGKILL);
	return inc64(arg, arglen, res, cap);
}

struct killer {
	pthread_t thread;
	_Atomic int stop;
	_Atomic int kills;
	pid_t parent;
};

/* SIGKILL a random worker every 1-3 ms, at whatever instant that falls.
 * Through a pidfd opened before the pid is checked to be a live child of
 * ours: were the pid reused in between, the pidfd's process would be dead
 * and the signal would go nowhere. */
static void *killer_main(void *arg)
{
	struct killer *k = arg;
	unsigned seed = 12345;
	pid_t pids[16], ppid;
	char st;
	int n, fd;

	while (!atomic_load(&k->stop)) {
		usleep(1000 + rand_r(&seed) % 2000);
		n = live_children(k->parent, pids, 16);
		if (n == 0)
			continue;
		n = (int)(rand_r(&seed) % (unsigned)n);
		fd = (int)syscall(SYS_pidfd_open, pids[n], 0);
		if (fd < 0)
			continue;
		if (stat_of(pids[n], &st, &ppid) == 0 && ppid == k->parent && st != 'Z' &&
		    syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) == 0)
			atomic_fetch_add(&k->kills, 1);
		close(fd);
	}
	return NULL;
}

static void test_random_kills_accounting(void **state)
{
	enum { N = 6000, ROUNDS = 4 };
	struct killer k = {.parent = getpid()};
	tend_pool *p = pool_new(2);
	static tend_future *fs[N];
	static uint64_t in[N], out[N];
	int round, i, r, self = 0, failed = 0, map_failed = 0;
	uint64_t x, y;
	int64_t t0;

	(void)state;
	assert_int_equal(pthread_create(&k.thread, NULL, killer_main, &k), 0);
	t0 = now_ms();
	/* at least ROUNDS rounds, then until 50 kills (or 8 s; 10 kills, the
	 * least the test needs, however slow the machine, or 120 s) */
	for (round = 0; round < ROUNDS || (atomic_load(&k.kills) < 50 && now_ms() - t0 < 8000) ||
			(atomic_load(&k.kills) < 10 && now_ms() - t0 < 120000);
	     round++) {
		for (i = 0; i < N; i++) {
			x = (uint64_t)(round * N + i);
			assert_int_equal(tend_pool_apply_async(p, inc_or_die, &x, 8, &fs[i]), 0);
		}
		for (i = 0; i < N; i++) {
			x = (uint64_t)(round * N + i);
			r = tend_future_wait(fs[i], &y, 8, LONG);
			if (x % 997 == 996) {
				assert_int_equal(r, -EOWNERDEAD);
				self++;
			} else if (r == -EOWNERDEAD) {
				failed++; /* a kill from outside hit it */
			} else {
				assert_int_equal(r, 8);
				assert_int_equal(y, x * 3 + 1);
			}
			tend_future_free(fs[i]);
		}
		/* map under the same kills: all right, or the crash reported */
		for (i = 0; i < N; i++) {
			in[i] = (uint64_t)i * 2;
			out[i] = 0;
		}
		r = tend_pool_map(p, inc64, in, 8, N, out, 8, (size_t)(1 + (round % 5) * 7));
		if (r == 0) {
			for (i = 0; i < N; i++)
				assert_int_equal(out[i], in[i] * 3 + 1);
		} else {
			assert_int_equal(r, -EOWNERDEAD);
			map_failed++;
		}
	}
	atomic_store(&k.stop, 1);
	assert_int_equal(pthread_join(k.thread, NULL), 0);
	print_message("# %d rounds, %d kills from outside, %d self-kills: %d other tasks and %d maps failed\n",
		      round, atomic_load(&k.kills), self, failed, map_failed);
	assert_true(atomic_load(&k.kills) >= 10);
	/* a kill fails at most the one task its victim held */
	assert_true(failed + map_failed <= atomic_load(&k.kills));
	/* and afterwards the pool is whole */
	x = 1;
	assert_int_equal(tend_pool_apply(p, inc64, &x, 8, &y, 8, LONG), 8);
	assert_int_equal(children(), 2);
	tend_pool_close(p);
	assert_int_equal(tend_pool_join(p, LONG), 0);
	tend_pool_free(p);
	assert_no_children();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_bad_arguments, kill_leftovers),
		cmocka_unit_test_teardown(test_create_default_size, kill_leftovers),
		cmocka_unit_test_teardown(test_apply, kill_leftovers),
		cmocka_unit_test_teardown(test_apply_timeout_keeps_pool_usable, kill_leftovers),
		cmocka_unit_test_teardown(test_apply_async_wait_timeout, kill_leftovers),
		cmocka_unit_test_teardown(test_future_outlives_pool, kill_leftovers),
		cmocka_unit_test_teardown(test_map_order, kill_leftovers),
		cmocka_unit_test_teardown(test_map_errors, kill_leftovers),
		cmocka_unit_test_teardown(test_close_join, kill_leftovers),
		cmocka_unit_test_teardown(test_terminate_pending, kill_leftovers),
		cmocka_unit_test_teardown(test_crash_mid_task, kill_leftovers),
		cmocka_unit_test_teardown(test_crash_keeps_queued_tasks, kill_leftovers),
		cmocka_unit_test_teardown(test_worker_killed_from_outside, kill_leftovers),
		cmocka_unit_test_teardown(test_max_tasks_per_child, kill_leftovers),
		cmocka_unit_test_teardown(test_initializer, kill_leftovers),
		cmocka_unit_test_teardown(test_broken_initializer, kill_leftovers),
		cmocka_unit_test_teardown(test_caller_ignores_sigchld, kill_leftovers),
		cmocka_unit_test_teardown(test_free_in_forked_child, kill_leftovers),
		cmocka_unit_test_teardown(test_random_kills_accounting, kill_leftovers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
