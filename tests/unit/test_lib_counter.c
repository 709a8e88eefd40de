/*
 * tend_counter (src/lib/counter.c): every call and error for the three
 * kinds, foreign and truncated objects, slot claims (explicit, on first add,
 * in a forked child, by threads), exact sums across forked writers, and
 * writers SIGKILLed at rest and in the middle of their adds: their values
 * stay in the sum and their slots go to the next claimers.
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

#include "tend/counter.h"
#include "tend/shm.h"

static const enum tend_counter_kind kinds[] = {
	TEND_COUNTER_PARTITIONED,
	TEND_COUNTER_ATOMIC,
	TEND_COUNTER_LOCKED,
};

#define LIB_TEST_PREFIX "ctr"
#include "lib_fixture.h"

static tend_counter *anon(enum tend_counter_kind kind, unsigned nslots)
{
	tend_counter *c = NULL;

	assert_int_equal(tend_counter_create(&c, NULL, kind, nslots, 0), 0);
	assert_non_null(c);
	return c;
}

static int64_t sum_of(tend_counter *c)
{
	int64_t v = -12345;

	assert_int_equal(tend_counter_sum(c, &v), 0);
	return v;
}

/* ---- creation and arguments ----------------------------------------------- */

static void test_create_each_kind(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		unsigned n = kinds[k] == TEND_COUNTER_PARTITIONED ? 8 : 0;
		tend_counter *c = anon(kinds[k], n);

		assert_int_equal(tend_counter_kind(c), kinds[k]);
		assert_int_equal(tend_counter_nslots(c), n);
		assert_true(tend_counter_fd(c) >= 0);
		assert_true(fcntl(tend_counter_fd(c), F_GETFD) & FD_CLOEXEC);
		assert_int_equal(sum_of(c), 0);
		assert_int_equal(tend_counter_add(c, 5), 0);
		assert_int_equal(tend_counter_add(c, -7), 0);
		assert_int_equal(sum_of(c), -2);
		assert_int_equal(tend_counter_add(c, INT64_MAX), 0);
		assert_int_equal(tend_counter_add(c, 3), 0); /* wraps modulo 2^64 */
		assert_true(sum_of(c) == INT64_MIN);
		assert_null(tend_counter_free(c));
	}
	assert_null(tend_counter_free(NULL));
}

static void test_create_rejects_bad_arguments(void **state)
{
	tend_counter *c = (tend_counter *)0x1;
	int64_t v;

	(void)state;
	assert_int_equal(tend_counter_create(NULL, NULL, TEND_COUNTER_ATOMIC, 0, 0), -EINVAL);
	assert_int_equal(tend_counter_create(&c, NULL, TEND_COUNTER_PARTITIONED, 0, 0), -EINVAL);
	assert_int_equal(tend_counter_create(&c, NULL, TEND_COUNTER_PARTITIONED, TEND_COUNTER_SLOTS_MAX + 1, 0),
			 -EINVAL);
	assert_int_equal(tend_counter_create(&c, NULL, TEND_COUNTER_ATOMIC, 1, 0), -EINVAL);
	assert_int_equal(tend_counter_create(&c, NULL, TEND_COUNTER_LOCKED, 4, 0), -EINVAL);
	assert_int_equal(tend_counter_create(&c, NULL, (enum tend_counter_kind)3, 0, 0), -EINVAL);
	assert_int_equal(tend_counter_create(&c, NULL, (enum tend_counter_kind)-1, 0, 0), -EINVAL);
	assert_int_equal(tend_counter_create(&c, "noslash", TEND_COUNTER_ATOMIC, 0, 0), -EINVAL);
	assert_int_equal(tend_counter_create(&c, "/a/b", TEND_COUNTER_ATOMIC, 0, 0), -EINVAL);
	assert_int_equal(tend_counter_create(&c, "/", TEND_COUNTER_ATOMIC, 0, 0), -EINVAL);
	assert_ptr_equal(c, (tend_counter *)0x1); /* untouched on failure */
	assert_int_equal(tend_counter_open(&c, NULL), -EINVAL);
	assert_int_equal(tend_counter_open(NULL, "/x"), -EINVAL);
	assert_int_equal(tend_counter_open(&c, "x"), -EINVAL);
	assert_int_equal(tend_counter_open_fd(&c, -1), -EBADF);
	assert_int_equal(tend_counter_unlink("bad"), -EINVAL);
	assert_int_equal(tend_counter_unlink(NULL), -EINVAL);
	assert_ptr_equal(c, (tend_counter *)0x1);
	assert_int_equal(tend_counter_add(NULL, 1), -EINVAL);
	assert_int_equal(tend_counter_sum(NULL, &v), -EINVAL);
	assert_int_equal(tend_counter_claim(NULL), -EINVAL);
	assert_int_equal(tend_counter_release(NULL), -EINVAL);
	c = anon(TEND_COUNTER_ATOMIC, 0);
	assert_int_equal(tend_counter_sum(c, NULL), -EINVAL);
	tend_counter_free(c);
}

static void test_named_create_open_unlink(void **state)
{
	const char *name = unique_name("named");
	tend_counter *a, *b, *x;
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		unsigned n = kinds[k] == TEND_COUNTER_PARTITIONED ? 4 : 0;

		name = unique_name("named");
		assert_int_equal(tend_counter_create(&a, name, kinds[k], n, 0600), 0);
		assert_int_equal(tend_counter_create(&x, name, kinds[k], n, 0600), -EEXIST);
		assert_int_equal(tend_counter_open(&b, name), 0);
		assert_int_equal(tend_counter_kind(b), kinds[k]);
		assert_int_equal(tend_counter_nslots(b), n);
		assert_int_equal(tend_counter_add(a, 10), 0);
		assert_int_equal(tend_counter_add(b, 32), 0);
		assert_int_equal(sum_of(a), 42);
		assert_int_equal(sum_of(b), 42);
		assert_int_equal(tend_counter_unlink(name), 0);
		assert_int_equal(tend_counter_unlink(name), -ENOENT);
		assert_int_equal(tend_counter_open(&x, name), -ENOENT);
		assert_int_equal(tend_counter_add(b, 1), 0); /* outlives the name */
		assert_int_equal(sum_of(a), 43);
		tend_counter_free(a);
		tend_counter_free(b);
	}
}

/* ---- bad objects ----------------------------------------------------------- */

LIB_OPEN_IMAGE(tend_counter, tend_counter_open_fd, tend_counter_free, assert_int_equal(tend_counter_add(h, 1), 0))

static void put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void test_open_rejects_foreign_and_truncated(void **state)
{
	tend_counter *c = anon(TEND_COUNTER_PARTITIONED, 4), *x = NULL;
	tend_shm *s;
	unsigned char *img, *bad;
	size_t len;
	int fd;

	(void)state;
	img = image_of(tend_counter_fd(c), &len);
	bad = malloc(len);
	assert_non_null(bad);
	check_common_header(open_image, img, bad, len, 64);
	assert_int_equal(open_image(img, len, len + 64), -EBADMSG);
	memcpy(bad, img, len);
	bad[3] ^= 0x10;
	assert_int_equal(open_image(bad, len, len), -EBADMSG);
	memcpy(bad, img, len);
	put32(bad + 8, 0xffffffffu);
	assert_int_equal(open_image(bad, len, len), -EPROTO);
	/* kind unknown, kind that does not match nslots, nslots that do not
	 * match the size, nslots 0, slots_off moved */
	memcpy(bad, img, len);
	put32(bad + 32, 3);
	assert_int_equal(open_image(bad, len, len), -EBADMSG);
	memcpy(bad, img, len);
	put32(bad + 32, TEND_COUNTER_ATOMIC);
	assert_int_equal(open_image(bad, len, len), -EBADMSG);
	memcpy(bad, img, len);
	put32(bad + 36, 5);
	assert_int_equal(open_image(bad, len, len), -EBADMSG);
	memcpy(bad, img, len);
	put32(bad + 36, 0);
	assert_int_equal(open_image(bad, len, len), -EBADMSG);
	memcpy(bad, img, len);
	put32(bad + 36, 0xffffffffu);
	assert_int_equal(open_image(bad, len, len), -EBADMSG);
	memcpy(bad, img, len);
	bad[40] += 64;
	assert_int_equal(open_image(bad, len, len), -EBADMSG);
	/* garbage slot owners and values are only values */
	memcpy(bad, img, len);
	memset(bad + 192, 0xa5, len - 192);
	assert_int_equal(open_image(bad, len, len), 0);
	/* other objects */
	assert_int_equal(tend_shm_create(&s, NULL, 4, 8, 0), 0);
	assert_int_equal(tend_counter_open_fd(&x, tend_shm_fd(s)), -EBADMSG);
	tend_shm_free(s);
	fd = memfd_with("junk", 4, 4096);
	assert_int_equal(tend_counter_open_fd(&x, fd), -EBADMSG);
	close(fd);
	assert_null(x);
	free(bad);
	free(img);
	tend_counter_free(c);
}

/* ---- slots ------------------------------------------------------------------ */

static void test_claim_and_release(void **state)
{
	tend_counter *a = anon(TEND_COUNTER_PARTITIONED, 2), *b, *x, *atom;

	(void)state;
	assert_int_equal(tend_counter_open_fd(&b, tend_counter_fd(a)), 0);
	assert_int_equal(tend_counter_open_fd(&x, tend_counter_fd(a)), 0);
	assert_int_equal(tend_counter_claim(a), 0);
	assert_int_equal(tend_counter_claim(a), 0); /* already held */
	assert_int_equal(tend_counter_claim(b), 1); /* one slot per handle */
	assert_int_equal(tend_counter_claim(x), -ENOSPC);
	assert_int_equal(tend_counter_add(a, 1), 0);
	assert_int_equal(tend_counter_add(b, 10), 0);
	assert_int_equal(tend_counter_add(x, 100), 0); /* the shared word */
	assert_int_equal(sum_of(x), 111);
	/* release keeps the value and frees the slot */
	assert_int_equal(tend_counter_release(a), 0);
	assert_int_equal(tend_counter_release(a), 0);
	assert_int_equal(sum_of(b), 111);
	assert_int_equal(tend_counter_claim(x), 0);
	assert_int_equal(tend_counter_add(x, 1000), 0);
	/* a released handle claims again on its next add: all slots are taken */
	assert_int_equal(tend_counter_add(a, 10000), 0);
	assert_int_equal(tend_counter_claim(a), -ENOSPC);
	assert_int_equal(sum_of(a), 11111);
	/* free releases */
	x = tend_counter_free(x);
	assert_int_equal(tend_counter_release(a), 0);
	assert_int_equal(tend_counter_claim(a), 0);
	assert_int_equal(sum_of(a), 11111);
	tend_counter_free(a);
	tend_counter_free(b);
	/* no slots, nothing to claim */
	atom = anon(TEND_COUNTER_ATOMIC, 0);
	assert_int_equal(tend_counter_claim(atom), 0);
	assert_int_equal(tend_counter_release(atom), 0);
	tend_counter_free(atom);
	atom = anon(TEND_COUNTER_LOCKED, 0);
	assert_int_equal(tend_counter_claim(atom), 0);
	assert_int_equal(tend_counter_release(atom), 0);
	tend_counter_free(atom);
}

/* A child that inherits a handle claims its own slot on its first add. */
static void test_fork_child_claims_own_slot(void **state)
{
	tend_counter *c = anon(TEND_COUNTER_PARTITIONED, 4);
	pid_t pid;

	(void)state;
	assert_int_equal(tend_counter_claim(c), 0);
	assert_int_equal(tend_counter_add(c, 5), 0);
	pid = fork_kid();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (tend_counter_add(c, 7) != 0)
			_exit(10);
		_exit(tend_counter_claim(c)); /* the slot the add used */
	}
	assert_int_equal(exit_code(pid, 5000), 1);
	assert_int_equal(sum_of(c), 12);
	/* the parent still holds slot 0; the child's freeing the handle at
	 * exit would not have released it either */
	assert_int_equal(tend_counter_claim(c), 0);
	tend_counter_free(c);
}

struct thr {
	tend_counter *c;
	int n, slot;
};

static void *adder_thread(void *arg)
{
	struct thr *t = arg;
	int i;

	for (i = 0; i < t->n; i++)
		if (tend_counter_add(t->c, 1) != 0)
			return (void *)1;
	t->slot = tend_counter_claim(t->c);
	return NULL;
}

/* Threads of a process share its slot, and lose no add. */
static void test_threads_share_a_slot(void **state)
{
	enum { T = 4, N = 50000 };
	struct thr t[T];
	pthread_t th[T];
	void *ret;
	size_t k;
	int i;

	(void)state;
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		tend_counter *c = anon(kinds[k], kinds[k] == TEND_COUNTER_PARTITIONED ? 4 : 0);

		for (i = 0; i < T; i++) {
			t[i].c = c;
			t[i].n = N;
			assert_int_equal(pthread_create(&th[i], NULL, adder_thread, &t[i]), 0);
		}
		for (i = 0; i < T; i++) {
			assert_int_equal(pthread_join(th[i], &ret), 0);
			assert_null(ret);
			assert_int_equal(t[i].slot, 0);
		}
		assert_int_equal(sum_of(c), (int64_t)T * N);
		tend_counter_free(c);
	}
}

/* ---- processes -------------------------------------------------------------- */

/* Forked writers of every kind: the sum is exact, and each partitioned
 * writer had a slot of its own. */
static void test_forked_writers_sum(void **state)
{
	enum { P = 4, N = 100000 };
	pid_t pid[P];
	int i, k, seen;
	size_t kk;

	(void)state;
	for (kk = 0; kk < sizeof(kinds) / sizeof(kinds[0]); kk++) {
		tend_counter *c = anon(kinds[kk], kinds[kk] == TEND_COUNTER_PARTITIONED ? P : 0);

		for (k = 0; k < P; k++) {
			pid[k] = fork_kid();
			assert_true(pid[k] >= 0);
			if (pid[k] == 0) {
				for (i = 0; i < N; i++)
					if (tend_counter_add(c, k + 1) != 0)
						_exit(100);
				_exit(tend_counter_claim(c));
			}
		}
		seen = 0;
		for (k = 0; k < P; k++) {
			int code = exit_code(pid[k], 15000);

			assert_true(code >= 0 && code < P);
			if (kinds[kk] == TEND_COUNTER_PARTITIONED) {
				assert_false(seen & (1 << code)); /* a slot of its own */
				seen |= 1 << code;
			}
		}
		assert_int_equal(sum_of(c), (int64_t)N * (P * (P + 1) / 2));
		tend_counter_free(c);
	}
}

/* Fork a writer that adds n, tells the parent and waits to be killed. */
static pid_t spawn_resting_writer(tend_counter *c, int64_t n, int *ret_slot)
{
	int ready[2], slot = -1;
	pid_t pid;

	assert_int_equal(pipe(ready), 0);
	pid = fork_kid();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		if (tend_counter_add(c, n) != 0)
			_exit(1);
		slot = tend_counter_claim(c);
		if (write(ready[1], &slot, sizeof(slot)) != sizeof(slot))
			_exit(2);
		for (;;)
			pause();
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &slot, sizeof(slot)), sizeof(slot));
	close(ready[0]);
	*ret_slot = slot;
	return pid;
}

/* Killed writers keep their values in the sum, and their slots go to the
 * next claimers once no slot is free. */
static void test_killed_writer_slot_recovered(void **state)
{
	tend_counter *c = anon(TEND_COUNTER_PARTITIONED, 2);
	pid_t w1, w2, w3;
	int s1, s2, s3;

	(void)state;
	w1 = spawn_resting_writer(c, 1000, &s1);
	w2 = spawn_resting_writer(c, 200, &s2);
	assert_true(s1 >= 0 && s2 >= 0 && s1 != s2);
	/* both held by live writers: the parent gets none */
	assert_int_equal(tend_counter_claim(c), -ENOSPC);
	assert_int_equal(tend_counter_add(c, 30), 0);
	assert_int_equal(tend_counter_release(c), 0);
	kill_and_reap(w1);
	assert_int_equal(sum_of(c), 1230);
	/* the dead writer's slot, value kept */
	w3 = spawn_resting_writer(c, 4, &s3);
	assert_int_equal(s3, s1);
	assert_int_equal(sum_of(c), 1234);
	kill_and_reap(w2);
	kill_and_reap(w3);
	assert_int_equal(tend_counter_claim(c), s1); /* the first dead one found */
	assert_int_equal(tend_counter_add(c, 1), 0);
	assert_int_equal(sum_of(c), 1235);
	tend_counter_free(c);
}

/* Writers SIGKILLed in the middle of their adds: each one's contribution is
 * exactly the adds it completed (give or take the one in flight, which it
 * had not yet recorded), and nothing else is lost. */
static void test_writers_killed_mid_add(void **state)
{
	enum { P = 3, ROUNDS = 4 };
	tend_counter *c = anon(TEND_COUNTER_PARTITIONED, P);
	_Atomic uint64_t *done;
	int64_t lo = 0, hi = 0, sum;
	pid_t pid[P];
	int k, r;

	(void)state;
	done = mmap(NULL, sizeof(*done) * P * ROUNDS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(done != MAP_FAILED);
	for (r = 0; r < ROUNDS; r++) {
		for (k = 0; k < P; k++) {
			pid[k] = fork_kid();
			assert_true(pid[k] >= 0);
			if (pid[k] == 0) {
				_Atomic uint64_t *d = &done[r * P + k];

				for (;;) {
					if (tend_counter_add(c, 1) != 0)
						_exit(1);
					atomic_store_explicit(d, atomic_load_explicit(d, memory_order_relaxed) + 1,
							      memory_order_release);
				}
			}
		}
		usleep(20000 + 10000 * r);
		for (k = 0; k < P; k++)
			kill_and_reap(pid[k]);
		for (k = 0; k < P; k++) {
			uint64_t n = atomic_load(&done[r * P + k]);

			lo += (int64_t)n;
			hi += (int64_t)n + 1;
		}
		sum = sum_of(c);
		assert_true(sum >= lo);
		assert_true(sum <= hi);
		assert_true(lo > 0);
		/* the next round's writers take over the dead ones' slots */
		lo = hi = sum;
	}
	/* all slots are held by dead writers: a new claimer gets one */
	assert_true(tend_counter_claim(c) >= 0);
	munmap(done, sizeof(*done) * P * ROUNDS);
	tend_counter_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_create_each_kind, kill_kids),
		cmocka_unit_test_teardown(test_create_rejects_bad_arguments, kill_kids),
		cmocka_unit_test_teardown(test_named_create_open_unlink, kill_kids),
		cmocka_unit_test_teardown(test_open_rejects_foreign_and_truncated, kill_kids),
		cmocka_unit_test_teardown(test_claim_and_release, kill_kids),
		cmocka_unit_test_teardown(test_fork_child_claims_own_slot, kill_kids),
		cmocka_unit_test_teardown(test_threads_share_a_slot, kill_kids),
		cmocka_unit_test_teardown(test_forked_writers_sum, kill_kids),
		cmocka_unit_test_teardown(test_killed_writer_slot_recovered, kill_kids),
		cmocka_unit_test_teardown(test_writers_killed_mid_add, kill_kids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
