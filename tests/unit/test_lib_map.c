/*
 * tend_map (src/lib/map.c): every call and error, add/replace/cas/incr
 * semantics, TTL and sweeping, CLOCK eviction and TEND_MAP_NOEVICT, key
 * walks, stats, foreign and damaged objects, readers in other processes
 * that must never see a torn value, a writer killed at each numbered point
 * of set, delete and incr (then a reader in another process must get the
 * old or the new item and the whole map must check out: no chunk lost,
 * none twice), and a stress run that SIGKILLs random writers and readers
 * and checks every key against a model.
 *
 * Children never call cmocka: they report through their exit status or a
 * shared ledger, and the parent asserts on it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/map-internal.h"
#include "lib/sync.h"
#include "tend/map.h"

#define LIB_TEST_PREFIX "map"
#include "lib_fixture.h"

static tend_map *anon(size_t cap, size_t max_value, size_t mem, unsigned flags)
{
	tend_map *m = NULL;

	assert_int_equal(tend_map_create(&m, NULL, cap, max_value, mem, flags, 0), 0);
	assert_non_null(m);
	return m;
}

static void assert_consistent(tend_map *m)
{
	char why[256];
	int r = tend__map_check(m, why, sizeof(why));

	if (r != 0)
		print_message("# map check: %s\n", why);
	assert_int_equal(r, 0);
}

static int set_s(tend_map *m, const char *k, const char *v)
{
	return tend_map_set(m, k, strlen(k), v, strlen(v), 0, NULL);
}

/* get key k as a string ("" when absent) */
static const char *get_s(tend_map *m, const char *k)
{
	static char buf[512];
	int r = tend_map_get(m, k, strlen(k), buf, sizeof(buf) - 1, NULL);

	if (r < 0)
		return r == -ENOENT ? "" : "<error>";
	buf[r] = 0;
	return buf;
}

/* ---- creation and arguments ----------------------------------------------- */

static void test_create_geometry_and_bad_arguments(void **state)
{
	tend_map *m = (tend_map *)0x1, *x;
	struct tend_map_stats st;

	(void)state;
	assert_int_equal(tend_map_create(NULL, NULL, 10, 10, 0, 0, 0), -EINVAL);
	assert_int_equal(tend_map_create(&m, NULL, 0, 10, 0, 0, 0), -EINVAL);
	assert_int_equal(tend_map_create(&m, NULL, TEND_MAP_CAPACITY_MAX + 1ul, 10, 0, 0, 0), -EINVAL);
	assert_int_equal(tend_map_create(&m, NULL, 10, 0, 0, 0, 0), -EINVAL);
	assert_int_equal(tend_map_create(&m, NULL, 10, TEND_MAP_VALUE_MAX + 1ul, 0, 0, 0), -EINVAL);
	assert_int_equal(tend_map_create(&m, NULL, 10, 10, TEND_MAP_MEM_MAX + 1, 0, 0), -EINVAL);
	assert_int_equal(tend_map_create(&m, NULL, 10, 10, 0, 0x8, 0), -EINVAL);
	assert_int_equal(tend_map_create(&m, "noslash", 10, 10, 0, 0, 0), -EINVAL);
	assert_ptr_equal(m, (tend_map *)0x1);
	assert_int_equal(tend_map_open(&m, NULL), -EINVAL);
	assert_int_equal(tend_map_open(NULL, "/x"), -EINVAL);
	assert_int_equal(tend_map_open_fd(&m, -1), -EBADF);
	assert_int_equal(tend_map_unlink("bad"), -EINVAL);

	x = anon(1000, 100, 0, TEND_MAP_NOEVICT);
	assert_int_equal(tend_map_capacity(x), 1000);
	assert_int_equal(tend_map_max_value(x), 100);
	assert_int_equal(tend_map_mem_bytes(x), 1 << 20); /* 64 pages of 16 KiB: more than 128000 */
	assert_int_equal(tend_map_flags(x), TEND_MAP_NOEVICT);
	assert_true(fcntl(tend_map_fd(x), F_GETFD) & FD_CLOEXEC);
	assert_int_equal(tend_map_stats(x, &st), 0);
	assert_int_equal(st.items, 0);
	assert_int_equal(st.capacity, 1000);
	assert_int_equal(st.mem_total, 1 << 20);
	tend_map_free(x);
	x = anon(10000, 100, 0, TEND_MAP_NOEVICT);
	assert_int_equal(tend_map_mem_bytes(x), 1280000 + 16384 - 1280000 % 16384); /* whole pages */
	assert_int_equal(tend_map_stats(x, &st), 0);
	assert_true(st.index_bytes >= 10000 * 64 / 7);
	assert_int_equal(tend_map_stats(NULL, &st), -EINVAL);
	assert_int_equal(tend_map_stats(x, NULL), -EINVAL);
	assert_consistent(x);
	assert_null(tend_map_free(x));
	assert_null(tend_map_free(NULL));
}

static void test_named_create_open_unlink(void **state)
{
	tend_map *a, *b, *c;
	const char *name = unique_name("named");

	(void)state;
	assert_int_equal(tend_map_create(&a, name, 100, 64, 0, 0, 0600), 0);
	assert_int_equal(tend_map_create(&c, name, 100, 64, 0, 0, 0600), -EEXIST);
	assert_int_equal(tend_map_open(&b, name), 0);
	assert_int_equal(tend_map_capacity(b), 100);
	assert_int_equal(tend_map_max_value(b), 64);
	assert_int_equal(set_s(a, "hello", "world"), 0);
	assert_string_equal(get_s(b, "hello"), "world");
	assert_int_equal(tend_map_unlink(name), 0);
	assert_int_equal(tend_map_unlink(name), -ENOENT);
	assert_int_equal(tend_map_open(&c, name), -ENOENT);
	assert_int_equal(set_s(b, "k2", "v2"), 0);
	assert_string_equal(get_s(a, "k2"), "v2");
	assert_int_equal(tend_map_open_fd(&c, tend_map_fd(a)), 0);
	assert_string_equal(get_s(c, "hello"), "world");
	tend_map_free(c);
	tend_map_free(b);
	tend_map_free(a);
}

/* ---- bad objects ------------------------------------------------------------ */

LIB_OPEN_IMAGE(tend_map, tend_map_open_fd, tend_map_free, (void)0)

static void test_open_rejects_foreign_and_damaged(void **state)
{
	tend_map *m = anon(100, 64, 0, 0);
	unsigned char *img, *bad;
	uint64_t v;
	size_t len;

	(void)state;
	assert_int_equal(set_s(m, "a", "b"), 0);
	img = image_of(tend_map_fd(m), &len);
	bad = malloc(len);
	assert_non_null(bad);
	check_common_header(open_image, img, bad, len, 4096);
	/* each header field made wrong alone: capacity 0, then huge; max_value
	 * huge; mem not the object's; unknown flags; an offset that does not
	 * match the geometry */
	{
		static const struct { size_t off; uint64_t v; } wrong[] = {
			{ 32, 0 }, { 32, (uint64_t)1 << 40 }, { 40, (uint64_t)1 << 40 }, { 48, 0 }, { 56, 0x40 },
			{ 80, 0 },
		};
		size_t i;

		for (i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
			memcpy(bad, img, len);
			v = wrong[i].off == 48 ? 2 * tend_map_mem_bytes(m) : wrong[i].v;
			memcpy(bad + wrong[i].off, &v, 8);
			assert_int_equal(open_image(bad, len, len), -EBADMSG);
		}
	}
	free(bad);
	free(img);
	tend_map_free(m);
}

/* ---- the calls ------------------------------------------------------------------ */

static void test_set_get_add_replace_cas_delete(void **state)
{
	tend_map *m = anon(100, 300, 0, 0);
	unsigned char key[TEND_MAP_KEY_MAX + 1], val[301], buf[301];
	uint64_t v1 = 0, v2 = 0, v3 = 0, got = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)(i * 13 + 5);
	for (i = 0; i < sizeof(val); i++)
		val[i] = (unsigned char)(i * 7 + 1);
	/* arguments */
	assert_int_equal(tend_map_set(NULL, "k", 1, "v", 1, 0, NULL), -EINVAL);
	assert_int_equal(tend_map_set(m, NULL, 1, "v", 1, 0, NULL), -EINVAL);
	assert_int_equal(tend_map_set(m, "k", 0, "v", 1, 0, NULL), -EINVAL);
	assert_int_equal(tend_map_set(m, key, TEND_MAP_KEY_MAX + 1, "v", 1, 0, NULL), -EINVAL);
	assert_int_equal(tend_map_set(m, "k", 1, NULL, 1, 0, NULL), -EINVAL);
	assert_int_equal(tend_map_set(m, "k", 1, "v", 1, -1, NULL), -EINVAL);
	assert_int_equal(tend_map_set(m, "k", 1, val, 301, 0, NULL), -EMSGSIZE);
	assert_int_equal(tend_map_get(NULL, "k", 1, buf, 1, NULL), -EINVAL);
	assert_int_equal(tend_map_get(m, "k", 0, buf, 1, NULL), -EINVAL);
	assert_int_equal(tend_map_get(m, "k", 1, NULL, 1, NULL), -EINVAL);
	assert_int_equal(tend_map_delete(NULL, "k", 1), -EINVAL);
	assert_int_equal(tend_map_delete(m, "k", 0), -EINVAL);
	assert_int_equal(tend_map_incr(m, NULL, 1, 1, NULL), -EINVAL);
	/* every key length and value length round trip */
	for (i = 1; i <= TEND_MAP_KEY_MAX; i += 17) {
		size_t vl = (i * 11) % 301;

		assert_int_equal(tend_map_set(m, key, i, val, vl, 0, NULL), 0);
		memset(buf, 0, sizeof(buf));
		assert_int_equal(tend_map_get(m, key, i, buf, sizeof(buf), NULL), (int)vl);
		assert_memory_equal(buf, val, vl);
	}
	assert_int_equal(tend_map_set(m, key, TEND_MAP_KEY_MAX, val, 300, 0, NULL), 0);
	assert_int_equal(tend_map_get(m, key, TEND_MAP_KEY_MAX, buf, 300, NULL), 300);
	assert_int_equal(tend_map_get(m, key, TEND_MAP_KEY_MAX, buf, 299, NULL), -EMSGSIZE);
	/* keys that differ in one byte are different keys */
	key[0] ^= 1;
	assert_int_equal(tend_map_get(m, key, TEND_MAP_KEY_MAX, buf, 300, NULL), -ENOENT);
	key[0] ^= 1;
	/* empty value */
	assert_int_equal(tend_map_set(m, "empty", 5, NULL, 0, 0, NULL), 0);
	assert_int_equal(tend_map_get(m, "empty", 5, NULL, 0, NULL), 0);
	/* add, replace, versions, cas */
	assert_int_equal(tend_map_add(m, "x", 1, "1", 1, 0, &v1), 0);
	assert_int_equal(tend_map_add(m, "x", 1, "2", 1, 0, NULL), -EEXIST);
	assert_string_equal(get_s(m, "x"), "1");
	assert_int_equal(tend_map_replace(m, "nope", 4, "2", 1, 0, NULL), -ENOENT);
	assert_string_equal(get_s(m, "nope"), "");
	assert_int_equal(tend_map_replace(m, "x", 1, "22", 2, 0, &v2), 0);
	assert_true(v2 != v1);
	assert_int_equal(tend_map_get(m, "x", 1, buf, sizeof(buf), &got), 2);
	assert_true(got == v2);
	assert_int_equal(tend_map_cas(m, "x", 1, "333", 3, 0, v1, NULL), -ESTALE);
	assert_string_equal(get_s(m, "x"), "22");
	assert_int_equal(tend_map_cas(m, "x", 1, "333", 3, 0, v2, &v3), 0);
	assert_true(v3 != v2 && v3 != v1);
	assert_string_equal(get_s(m, "x"), "333");
	assert_int_equal(tend_map_cas(m, "y", 1, "4", 1, 0, v3, NULL), -ENOENT);
	/* delete */
	/* delete_cas: only the version it names */
	assert_int_equal(tend_map_delete_cas(m, "x", 1, v2), -ESTALE);
	assert_string_equal(get_s(m, "x"), "333");
	assert_int_equal(tend_map_delete_cas(m, "x", 0, v3), -EINVAL);
	assert_int_equal(tend_map_delete_cas(m, "y", 1, v3), -ENOENT);
	assert_int_equal(tend_map_delete_cas(m, "x", 1, v3), 0);
	assert_int_equal(tend_map_delete_cas(m, "x", 1, v3), -ENOENT);
	assert_string_equal(get_s(m, "x"), "");
	assert_int_equal(tend_map_set(m, "x", 1, "333", 3, 0, NULL), 0);
	assert_int_equal(tend_map_delete(m, "x", 1), 0);
	assert_int_equal(tend_map_delete(m, "x", 1), -ENOENT);
	assert_string_equal(get_s(m, "x"), "");
	assert_int_equal(tend_map_add(m, "x", 1, "5", 1, 0, NULL), 0);
	assert_string_equal(get_s(m, "x"), "5");
	assert_consistent(m);
	tend_map_free(m);
}

static void test_incr(void **state)
{
	tend_map *m = anon(100, 64, 0, 0);
	uint64_t v = 41, got = 0, ver1 = 0, ver2 = 0;

	(void)state;
	assert_int_equal(tend_map_incr(m, "n", 1, 1, &got), -ENOENT);
	assert_int_equal(tend_map_set(m, "n", 1, &v, 8, 0, &ver1), 0);
	assert_int_equal(tend_map_incr(m, "n", 1, 1, &got), 0);
	assert_int_equal(got, 42);
	assert_int_equal(tend_map_incr(m, "n", 1, -50, &got), 0);
	assert_true(got == (uint64_t)-8); /* wraps below 0 */
	assert_int_equal(tend_map_incr(m, "n", 1, 10, NULL), 0);
	assert_int_equal(tend_map_get(m, "n", 1, &got, 8, &ver2), 8);
	assert_int_equal(got, 2);
	assert_true(ver2 != ver1);
	assert_int_equal(set_s(m, "s", "seven"), 0);
	assert_int_equal(tend_map_incr(m, "s", 1, 1, &got), -EDOM);
	assert_string_equal(get_s(m, "s"), "seven");
	assert_consistent(m);
	tend_map_free(m);
}

static void test_ttl_expiry_and_sweep(void **state)
{
	tend_map *m = anon(100, 64, 0, 0);
	struct tend_map_stats st;
	uint64_t v = 1;
	int i;
	char k[16];

	(void)state;
	assert_int_equal(tend_map_set(m, "short", 5, "s", 1, 40, NULL), 0);
	assert_int_equal(tend_map_set(m, "long", 4, "l", 1, 60000, NULL), 0);
	assert_int_equal(tend_map_set(m, "n", 1, &v, 8, 40, NULL), 0);
	for (i = 0; i < 20; i++) {
		snprintf(k, sizeof(k), "t%d", i);
		assert_int_equal(tend_map_set(m, k, strlen(k), "x", 1, 40, NULL), 0);
	}
	assert_string_equal(get_s(m, "short"), "s");
	usleep(80000);
	assert_string_equal(get_s(m, "short"), "");
	assert_string_equal(get_s(m, "long"), "l");
	assert_int_equal(tend_map_incr(m, "n", 1, 1, NULL), -ENOENT);
	/* replace and cas see an expired key as absent, add as free */
	assert_int_equal(tend_map_replace(m, "short", 5, "r", 1, 0, NULL), -ENOENT);
	assert_int_equal(tend_map_add(m, "short", 5, "a", 1, 0, NULL), 0);
	assert_string_equal(get_s(m, "short"), "a");
	/* the t* items (writes sweep a bucket each as they go: some may be
	 * gone already) */
	i = tend_map_sweep(m);
	assert_true(i >= 0 && i <= 20);
	assert_int_equal(tend_map_sweep(m), 0);
	assert_int_equal(tend_map_sweep(NULL), -EINVAL);
	assert_int_equal(tend_map_stats(m, &st), 0);
	assert_int_equal(st.items, 2);
	assert_int_equal(st.expirations, 22); /* n, short, and the 20 t* */
	assert_consistent(m);
	tend_map_free(m);
}

static void test_walk_keys(void **state)
{
	enum { N = 500 };
	tend_map *m = anon(N, 16, 0, 0);
	unsigned char seen[N];
	char k[TEND_MAP_KEY_MAX];
	uint64_t cursor = 0;
	size_t klen;
	int i, n = 0, r;

	(void)state;
	for (i = 0; i < N; i++) {
		snprintf(k, sizeof(k), "key-%d", i);
		assert_int_equal(tend_map_set(m, k, strlen(k), "v", 1, 0, NULL), 0);
	}
	assert_int_equal(tend_map_delete(m, "key-7", 5), 0);
	memset(seen, 0, sizeof(seen));
	while ((r = tend_map_next(m, &cursor, k, sizeof(k), &klen)) == 1) {
		k[klen] = 0;
		i = atoi(k + 4);
		assert_true(i >= 0 && i < N);
		assert_int_equal(seen[i], 0);
		seen[i] = 1;
		n++;
	}
	assert_int_equal(r, 0);
	assert_int_equal(n, N - 1);
	assert_int_equal(seen[7], 0);
	assert_int_equal(tend_map_next(m, &cursor, k, sizeof(k), &klen), 0);
	assert_int_equal(tend_map_next(m, &cursor, k, 10, &klen), -EINVAL);
	assert_int_equal(tend_map_next(m, NULL, k, sizeof(k), &klen), -EINVAL);
	tend_map_free(m);
}

static void test_stats_counts(void **state)
{
	tend_map *m = anon(100, 64, 0, 0);
	struct tend_map_stats st;
	char buf[64];
	int i;

	(void)state;
	assert_int_equal(set_s(m, "a", "12345"), 0);
	assert_int_equal(set_s(m, "bb", "1"), 0);
	for (i = 0; i < 300; i++)
		assert_int_equal(tend_map_get(m, "a", 1, buf, sizeof(buf), NULL), 5);
	for (i = 0; i < 7; i++)
		assert_int_equal(tend_map_get(m, "zz", 2, buf, sizeof(buf), NULL), -ENOENT);
	assert_int_equal(tend_map_stats(m, &st), 0);
	assert_int_equal(st.items, 2);
	assert_int_equal(st.bytes, 1 + 5 + 2 + 1);
	assert_int_equal(st.mem_used, 48 + 48);
	assert_int_equal(st.hits, 300);
	assert_int_equal(st.misses, 7);
	assert_int_equal(st.evictions, 0);
	tend_map_free(m);
}

/* tend_map_stats_name: the counts of a map, read through a read-only mapping that changes no byte of it */
static void test_stats_name_read_only(void **state)
{
	const char *name = unique_name("ro");
	struct tend_map_stats st;
	tend_map *a, *b;
	char path[300], buf[64];
	unsigned char *before, *after;
	size_t size;
	FILE *f;

	(void)state;
	assert_int_equal(tend_map_create(&a, name, 1000, 64, 0, 0, 0600), 0);
	assert_int_equal(set_s(a, "a", "12345"), 0);
	assert_int_equal(set_s(a, "bb", "1"), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(tend_map_get(a, "a", 1, buf, sizeof(buf), NULL), 5);
	assert_int_equal(tend_map_get(a, "zz", 2, buf, sizeof(buf), NULL), -ENOENT);
	tend_map_free(a); /* its hits and misses go to the map */

	snprintf(path, sizeof(path), "/dev/shm%s", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	size = (size_t)ftell(f);
	before = malloc(size);
	after = malloc(size);
	rewind(f);
	assert_int_equal(fread(before, 1, size, f), size);
	assert_int_equal(tend_map_stats_name(name, &st), 0);
	assert_int_equal(st.items, 2);
	assert_int_equal(st.bytes, 1 + 5 + 2 + 1);
	assert_int_equal(st.hits, 10);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.capacity, 1000);
	rewind(f);
	assert_int_equal(fread(after, 1, size, f), size);
	assert_memory_equal(before, after, size);
	fclose(f);
	free(before);
	free(after);
	/* read permission is enough: a child that owns the object with mode 0400
	 * (nobody's, when the test runs as root) reads the counts, and cannot open it */
	assert_int_equal(chmod(path, 0400), 0);
	if (geteuid() == 0) {
		pid_t pid;
		int status;

		assert_int_equal(chown(path, 65534, 65534), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			if (setgid(65534) < 0 || setuid(65534) < 0)
				_exit(10);
			if (tend_map_open(&b, name) != -EACCES)
				_exit(11);
			if (tend_map_stats_name(name, &st) != 0 || st.items != 2)
				_exit(12);
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	} else {
		assert_int_equal(tend_map_open(&b, name), -EACCES);
		assert_int_equal(tend_map_stats_name(name, &st), 0);
		assert_int_equal(st.items, 2);
	}

	assert_int_equal(tend_map_stats_name("no-slash", &st), -EINVAL);
	assert_int_equal(tend_map_stats_name(NULL, &st), -EINVAL);
	assert_int_equal(tend_map_stats_name(name, NULL), -EINVAL);
	assert_int_equal(tend_map_unlink(name), 0);
	assert_int_equal(tend_map_stats_name(name, &st), -ENOENT);
}

/* ---- full maps --------------------------------------------------------------- */

static void test_noevict_full_is_enospc(void **state)
{
	tend_map *m = anon(64, 1000, 64 * 1024, TEND_MAP_NOEVICT);
	struct tend_map_stats st;
	char k[32], v[1000];
	int i, r = 0, stored = 0;

	(void)state;
	memset(v, 'v', sizeof(v));
	/* 1 KiB values: a 64 KiB page holds 60 of them */
	for (i = 0; i < 200 && r == 0; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		r = tend_map_set(m, k, strlen(k), v, sizeof(v), 0, NULL);
		if (r == 0)
			stored++;
	}
	assert_int_equal(r, -ENOSPC);
	assert_true(stored >= 50 && stored <= 64);
	assert_int_equal(tend_map_stats(m, &st), 0);
	assert_int_equal(st.items, (uint64_t)stored);
	assert_int_equal(st.evictions, 0);
	/* a failed write changed nothing; a delete makes room again */
	assert_string_equal(get_s(m, k), "");
	assert_int_equal(tend_map_delete(m, "k0", 2), 0);
	assert_int_equal(tend_map_set(m, k, strlen(k), v, sizeof(v), 0, NULL), 0);
	assert_consistent(m);
	tend_map_free(m);
}

/* With eviction, a full map keeps taking writes, and items read since the
 * CLOCK hand last passed survive where unread ones go. */
static void test_clock_eviction_keeps_hot_items(void **state)
{
	enum { HOT = 20 };
	tend_map *m = anon(1000, 1000, 64 * 1024, 0);
	struct tend_map_stats st;
	char k[32], v[1000], buf[1000];
	int i, j, hot_alive = 0;

	(void)state;
	memset(v, 'v', sizeof(v));
	for (i = 0; i < HOT; i++) {
		snprintf(k, sizeof(k), "hot%d", i);
		assert_int_equal(tend_map_set(m, k, strlen(k), v, sizeof(v), 0, NULL), 0);
	}
	for (i = 0; i < 400; i++) {
		for (j = 0; j < HOT; j++) {
			snprintf(k, sizeof(k), "hot%d", j);
			(void)tend_map_get(m, k, strlen(k), buf, sizeof(buf), NULL);
		}
		snprintf(k, sizeof(k), "cold%d", i);
		assert_int_equal(tend_map_set(m, k, strlen(k), v, sizeof(v), 0, NULL), 0);
	}
	for (j = 0; j < HOT; j++) {
		snprintf(k, sizeof(k), "hot%d", j);
		hot_alive += tend_map_get(m, k, strlen(k), buf, sizeof(buf), NULL) == 1000;
	}
	assert_int_equal(tend_map_stats(m, &st), 0);
	print_message("# eviction: %lu items, %lu evictions, %d of %d hot items alive\n", (unsigned long)st.items,
		      (unsigned long)st.evictions, hot_alive, HOT);
	assert_true(st.evictions >= 400 + HOT - 64);
	assert_true(st.items <= 64);
	assert_int_equal(hot_alive, HOT);
	/* the most recent cold item is there */
	assert_int_equal(tend_map_get(m, "cold399", 7, buf, sizeof(buf), NULL), 1000);
	assert_consistent(m);
	tend_map_free(m);
}

/* The index is full (capacity 1: one bucket of 7 slots) before memory is. */
static void test_index_full(void **state)
{
	tend_map *no = anon(1, 8, 0, TEND_MAP_NOEVICT), *ev = anon(1, 8, 0, 0);
	struct tend_map_stats st;
	char k[16];
	int i;

	(void)state;
	for (i = 0; i < 7; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		assert_int_equal(tend_map_set(no, k, strlen(k), "v", 1, 0, NULL), 0);
		assert_int_equal(tend_map_set(ev, k, strlen(k), "v", 1, 0, NULL), 0);
	}
	assert_int_equal(tend_map_set(no, "k7", 2, "v", 1, 0, NULL), -ENOSPC);
	assert_int_equal(tend_map_set(no, "k6", 2, "w", 1, 0, NULL), 0); /* a present key still updates */
	assert_int_equal(tend_map_set(ev, "k7", 2, "v", 1, 0, NULL), 0);
	assert_string_equal(get_s(ev, "k7"), "v");
	assert_int_equal(tend_map_stats(ev, &st), 0);
	assert_int_equal(st.items, 7);
	assert_int_equal(st.evictions, 1);
	assert_consistent(no);
	assert_consistent(ev);
	tend_map_free(no);
	tend_map_free(ev);
}

/* ---- processes -------------------------------------------------------------------- */

/* A value that says whose it is: key id, sequence, and bytes derived from
 * both; a torn value (halves of two writes) does not check. */
static size_t make_value(unsigned char *v, uint32_t id, uint32_t seq)
{
	size_t len = 8 + (seq % 15) * 8, i;

	memcpy(v, &id, 4);
	memcpy(v + 4, &seq, 4);
	for (i = 8; i < len; i++)
		v[i] = (unsigned char)(id * 31 + seq * 7 + i);
	return len;
}

/* The sequence of a well-formed value of key id, or 0 when torn. */
static uint32_t check_value(const unsigned char *v, int len, uint32_t id)
{
	unsigned char want[128];
	uint32_t vid, seq;

	if (len < 8)
		return 0;
	memcpy(&vid, v, 4);
	memcpy(&seq, v + 4, 4);
	if (vid != id || seq == 0 || make_value(want, id, seq) != (size_t)len || memcmp(want, v, (size_t)len) != 0)
		return 0;
	return seq;
}

static void key_of(char *k, size_t n, uint32_t id)
{
	snprintf(k, n, "key:%u", id);
}

/* Readers in two processes while the parent rewrites a few hot keys (which
 * share buckets with their readers): every value read checks. */
static void test_readers_never_see_torn_values(void **state)
{
	enum { NKEYS = 8, WRITES = 60000 };
	tend_map *m = anon(64, 128, 1 << 20, TEND_MAP_NOEVICT);
	unsigned char v[128];
	char k[32];
	pid_t rd[2];
	uint32_t id, seq;
	int i;

	(void)state;
	for (id = 0; id < NKEYS; id++) {
		key_of(k, sizeof(k), id);
		assert_int_equal(tend_map_set(m, k, strlen(k), v, make_value(v, id, 1), 0, NULL), 0);
	}
	for (i = 0; i < 2; i++) {
		rd[i] = fork_kid();
		assert_true(rd[i] >= 0);
		if (rd[i] == 0) {
			unsigned char buf[128];
			long n;

			for (n = 0; n < 400000; n++) {
				uint32_t rid = (uint32_t)(n * 7 + i) % NKEYS;
				int r;

				key_of(k, sizeof(k), rid);
				r = tend_map_get(m, k, strlen(k), buf, sizeof(buf), NULL);
				if (r < 0 || check_value(buf, r, rid) == 0) {
					fprintf(stderr, "# reader: key %u: %d\n", rid, r);
					_exit(1);
				}
			}
			_exit(0);
		}
	}
	for (seq = 2; seq < WRITES; seq++) {
		id = seq % NKEYS;
		key_of(k, sizeof(k), id);
		assert_int_equal(tend_map_set(m, k, strlen(k), v, make_value(v, id, seq), 0, NULL), 0);
	}
	for (i = 0; i < 2; i++)
		assert_int_equal(exit_code(rd[i], 60000), 0);
	assert_consistent(m);
	tend_map_free(m);
}

/* ---- a writer killed at each point -------------------------------------------------- */

/* Run op in a child that SIGKILLs itself at the numbered point.  Returns
 * true when it died there (false: the point is not on that op's path). */
static bool die_at(int point, void (*op)(tend_map *), tend_map *m)
{
	int st = DIE_AT(point, op(m));

	assert_true(st != -1);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

/* A key's state in the model: absent, a sequence (plain keys), or a
 * number (counter keys: id % 4 == 0). */
#define ABSENT UINT64_MAX

static bool is_counter(uint32_t id)
{
	return id % 4 == 0;
}

/* What the map holds for key id, as a model state; sets *ret_ok false for
 * a value that does not check. */
static uint64_t map_state(tend_map *m, uint32_t id, bool *ret_ok)
{
	unsigned char buf[128];
	char k[32];
	int r;

	key_of(k, sizeof(k), id);
	r = tend_map_get(m, k, strlen(k), buf, sizeof(buf), NULL);
	*ret_ok = true;
	if (r == -ENOENT)
		return ABSENT;
	if (is_counter(id)) {
		uint64_t v;

		if (r != 8) {
			*ret_ok = false;
			return 0;
		}
		memcpy(&v, buf, 8);
		return v;
	}
	if (r < 0 || check_value(buf, r, id) == 0) {
		*ret_ok = false;
		return 0;
	}
	return check_value(buf, r, id);
}

/* A reader in another process (the first to touch the map after the kill:
 * it must not hang on the dead writer's odd bucket) gets key id: writes the
 * value's sequence (0: absent, 255: torn or an error) as its exit code. */
static int read_in_child(tend_map *m, uint32_t id)
{
	pid_t pid = fork_kid();

	assert_true(pid >= 0);
	if (pid == 0) {
		bool ok;
		uint64_t st = map_state(m, id, &ok);

		_exit(!ok || (st != ABSENT && (st == 0 || st > 254)) ? 255 : st == ABSENT ? 0 : (int)st);
	}
	return exit_code(pid, 10000);
}

static void set_seq2(tend_map *m)
{
	unsigned char v[128];
	char k[32];

	key_of(k, sizeof(k), 1);
	tend_map_set(m, k, strlen(k), v, make_value(v, 1, 2), 0, NULL);
}

static void set_new_key(tend_map *m)
{
	unsigned char v[128];
	char k[32];

	key_of(k, sizeof(k), 2);
	tend_map_set(m, k, strlen(k), v, make_value(v, 2, 5), 0, NULL);
}

static void delete_key1(tend_map *m)
{
	char k[32];

	key_of(k, sizeof(k), 1);
	tend_map_delete(m, k, strlen(k));
}

/* Map with key 1 at sequence 1; with_free: a chunk of that size on the free
 * list, so that the next set pops instead of carving. */
static tend_map *kill_map(bool with_free)
{
	tend_map *m = anon(100, 128, 0, TEND_MAP_NOEVICT);
	unsigned char v[128];
	char k[32];

	key_of(k, sizeof(k), 1);
	assert_int_equal(tend_map_set(m, k, strlen(k), v, make_value(v, 1, 1), 0, NULL), 0);
	if (with_free) {
		assert_int_equal(tend_map_set(m, "junk", 4, v, make_value(v, 1, 2), 0, NULL), 0);
		assert_int_equal(tend_map_delete(m, "junk", 4), 0);
	}
	return m;
}

static void test_writer_killed_at_each_point(void **state)
{
	int point, killed;
	unsigned with_free;

	(void)state;
	for (with_free = 0; with_free < 2; with_free++) {
		for (point = TEND__MAP_FP_LOCKED, killed = 0; point <= TEND__MAP_FP_DONE; point++) {
			bool after = point >= TEND__MAP_FP_COMMITTED;
			struct tend_map_stats st;
			tend_map *m;

			/* replace key 1: sequence 1 before the commit, 2 after */
			m = kill_map(with_free);
			assert_true(die_at(point, set_seq2, m));
			assert_int_equal(read_in_child(m, 1), after ? 2 : 1);
			assert_consistent(m);
			set_seq2(m);
			assert_int_equal(read_in_child(m, 1), 2);
			assert_consistent(m);
			tend_map_free(m);

			/* a new key: absent before the commit, there after */
			m = kill_map(with_free);
			assert_true(die_at(point, set_new_key, m));
			assert_int_equal(read_in_child(m, 2), after ? 5 : 0);
			assert_consistent(m);
			assert_int_equal(tend_map_stats(m, &st), 0);
			assert_int_equal(st.items, after ? 2 : 1);
			tend_map_free(m);

			/* delete: the points of allocation are not on its path */
			m = kill_map(with_free);
			if (die_at(point, delete_key1, m)) {
				killed++;
				assert_int_equal(read_in_child(m, 1), after ? 0 : 1);
				assert_consistent(m);
			} else {
				assert_true(point >= TEND__MAP_FP_ALLOC_INTENT && point <= TEND__MAP_FP_WRITTEN);
			}
			tend_map_free(m);
		}
		assert_int_equal(killed, TEND__MAP_FP_DONE - TEND__MAP_FP_LOCKED + 1 - 3);
	}
}

static void incr_counter(tend_map *m)
{
	tend_map_incr(m, "ctr", 3, 5, NULL);
}

static void test_incr_killed_at_each_point(void **state)
{
	static const int points[] = {
		TEND__MAP_FP_LOCKED,	   TEND__MAP_FP_INCR_INTENT,  TEND__MAP_FP_INCR_ODD,
		TEND__MAP_FP_INCR_VALUE,   TEND__MAP_FP_INCR_VERSION, TEND__MAP_FP_INCR_EVEN,
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		tend_map *m = anon(100, 64, 0, 0);
		uint64_t v = 100, ver0 = 0, ver1 = 0, got = 0;
		pid_t pid;

		assert_int_equal(tend_map_set(m, "ctr", 3, &v, 8, 0, &ver0), 0);
		assert_true(die_at(points[i], incr_counter, m));
		/* a reader in another process: the old value with the old
		 * version, or the new value with a new one, never a mix */
		pid = fork_kid();
		assert_true(pid >= 0);
		if (pid == 0) {
			uint64_t x = 0, ver = 0;

			if (tend_map_get(m, "ctr", 3, &x, 8, &ver) != 8)
				_exit(3);
			_exit(x == 100 && ver == ver0 ? 0 : x == 105 && ver != ver0 ? 1 : 2);
		}
		/* the seqlock store is the commit of an incr */
		assert_int_equal(exit_code(pid, 10000), points[i] >= TEND__MAP_FP_INCR_ODD ? 1 : 0);
		assert_int_equal(tend_map_get(m, "ctr", 3, &got, 8, &ver1), 8);
		assert_int_equal(tend_map_incr(m, "ctr", 3, 1, &got), 0);
		assert_int_equal(got, points[i] >= TEND__MAP_FP_INCR_ODD ? 106 : 101);
		assert_consistent(m);
		tend_map_free(m);
	}
}

static void set_big(tend_map *m)
{
	char v[500];

	memset(v, 'B', sizeof(v));
	tend_map_set(m, "big", 3, v, sizeof(v), 0, NULL);
}

/* One page, taken by small items; a big item needs it: the page is
 * reclaimed (its items evicted, its free chunks unlisted, its class
 * changed).  A writer killed at each step leaves a map that checks out and
 * takes the write again. */
static void test_reclaim_killed_at_each_point(void **state)
{
	int point;

	(void)state;
	for (point = TEND__MAP_FP_RECLAIM_INTENT; point <= TEND__MAP_FP_RECLAIM_COMMITTED; point++) {
		tend_map *m = anon(100, 600, 16384, 0);
		struct tend_map_stats st;
		char k[16], buf[600];
		int i;

		for (i = 0; i < 10; i++) {
			snprintf(k, sizeof(k), "a%d", i);
			assert_int_equal(tend_map_set(m, k, strlen(k), "small", 5, 0, NULL), 0);
		}
		assert_int_equal(tend_map_delete(m, "a3", 2), 0); /* a free chunk to unlist */
		assert_true(die_at(point, set_big, m));
		assert_int_equal(tend_map_get(m, "big", 3, buf, sizeof(buf), NULL), -ENOENT);
		assert_consistent(m);
		set_big(m);
		assert_int_equal(tend_map_get(m, "big", 3, buf, sizeof(buf), NULL), 500);
		assert_int_equal(tend_map_stats(m, &st), 0);
		assert_int_equal(st.items, 1);
		assert_int_equal(st.evictions, 9);
		assert_consistent(m);
		tend_map_free(m);
	}
}

static uint32_t next_key_id;

static void set_next_key(tend_map *m)
{
	char k[32];

	key_of(k, sizeof(k), next_key_id);
	if (tend_map_set(m, k, strlen(k), "v", 1, 0, NULL) != 0)
		_exit(3); /* full, no move possible: the key is absent */
}

/* Keys are added (each by a child that dies if its set moves an item to
 * the item's other bucket) until one set does: the moved item must still
 * be found, once, and every key before it too.  A map that fills up
 * without a move (possible, the hash seed is random) is tried again. */
static void test_move_killed(void **state)
{
	bool moved = false;
	int tries;

	(void)state;
	for (tries = 0; tries < 20 && !moved; tries++) {
		tend_map *m = anon(400, 8, 0, TEND_MAP_NOEVICT); /* 100 buckets, 700 slots */
		bool full = false;
		uint32_t id;

		for (next_key_id = 0; next_key_id < 700 && !moved && !full; next_key_id++) {
			char k[32];

			moved = die_at(TEND__MAP_FP_MOVED, set_next_key, m);
			key_of(k, sizeof(k), next_key_id);
			full = !moved && strcmp(get_s(m, k), "v") != 0;
			for (id = 0; id < next_key_id; id++) {
				key_of(k, sizeof(k), id);
				assert_string_equal(get_s(m, k), "v");
			}
			if (moved || full || next_key_id % 50 == 0)
				assert_consistent(m);
		}
		tend_map_free(m);
	}
	assert_true(moved);
}

/* ---- random SIGKILL stress against a model ------------------------------------------- */

enum { NW = 3, NR = 2, KPW = 48, NKEYS = NW * KPW };

static pid_t stress_pids[NW + NR];

static int kill_stress_children(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NW + NR; i++)
		if (stress_pids[i] > 0) { /* never kill(-1) or kill(0) */
			kill(stress_pids[i], SIGKILL);
			waitpid(stress_pids[i], NULL, 0);
			stress_pids[i] = 0;
		}
	return kill_kids(state);
}

struct model_key {
	uint64_t state;       /* after the last completed op */
	uint64_t pending;     /* the state an op in flight would leave */
	uint32_t in_flight;   /* 1 while an op runs */
	uint32_t next_seq;
};

struct model {
	_Atomic uint32_t stop;
	_Atomic uint32_t bad;        /* torn values and impossible states */
	_Atomic uint32_t errors;     /* unexpected return codes */
	_Atomic uint64_t ops;
	_Atomic int last_err;
	struct model_key k[NKEYS];
};

/* A killed writer's op in flight: the map holds the state from before it
 * or the state it would leave, nothing else. */
static void reconcile(tend_map *m, struct model *md, uint32_t id, bool evicting)
{
	struct model_key *mk = &md->k[id];
	bool ok;
	uint64_t now = map_state(m, id, &ok);

	if (!ok)
		atomic_fetch_add(&md->bad, 1);
	else if (mk->in_flight && now == mk->pending)
		mk->state = now;
	else if (now != mk->state && !(evicting && now == ABSENT))
		atomic_fetch_add(&md->bad, 1);
	else
		mk->state = now;
	mk->in_flight = 0;
}

static void stress_writer(tend_map *m, struct model *md, uint32_t w, unsigned seed, bool evicting)
{
	unsigned char v[128];
	char k[32];
	uint32_t i;

	/* take over the keys of the killed incarnation */
	for (i = 0; i < KPW; i++)
		reconcile(m, md, w * KPW + i, evicting);
	while (!atomic_load(&md->stop)) {
		uint32_t id = w * KPW + rand_r(&seed) % KPW, op = rand_r(&seed) % 10;
		struct model_key *mk = &md->k[id];
		int r, want = 0;

		key_of(k, sizeof(k), id);
		if (op < 2) {
			mk->pending = ABSENT;
			mk->in_flight = 1;
			r = tend_map_delete(m, k, strlen(k));
			want = mk->state == ABSENT ? -ENOENT : 0;
		} else if (is_counter(id) && op < 7 && mk->state != ABSENT) {
			int64_t d = (int64_t)(rand_r(&seed) % 1000) - 300;

			mk->pending = mk->state + (uint64_t)d;
			mk->in_flight = 1;
			r = tend_map_incr(m, k, strlen(k), d, NULL);
		} else if (is_counter(id)) {
			uint64_t x = rand_r(&seed);

			mk->pending = x;
			mk->in_flight = 1;
			r = tend_map_set(m, k, strlen(k), &x, 8, 0, NULL);
		} else {
			uint32_t seq = ++mk->next_seq + 1;

			mk->pending = seq;
			mk->in_flight = 1;
			r = tend_map_set(m, k, strlen(k), v, make_value(v, id, seq), 0, NULL);
		}
		if (evicting && r == -ENOENT) {
			/* evicted meanwhile: the op found nothing */
			mk->state = ABSENT;
		} else if (r != want) {
			atomic_store(&md->last_err, r);
			atomic_fetch_add(&md->errors, 1);
		} else {
			mk->state = mk->pending;
		}
		mk->in_flight = 0;
		atomic_fetch_add(&md->ops, 1);
	}
	_exit(0);
}

static void stress_reader(tend_map *m, struct model *md, unsigned seed)
{
	while (!atomic_load(&md->stop)) {
		bool ok;

		(void)map_state(m, rand_r(&seed) % NKEYS, &ok);
		if (!ok)
			atomic_fetch_add(&md->bad, 1);
	}
	_exit(0);
}

static void stress(bool evicting)
{
	/* evicting: little memory, so that writes evict all the time */
	tend_map *m = evicting ? anon(NKEYS, 128, 64 * 1024, 0) : anon(2 * NKEYS, 128, 4 << 20, TEND_MAP_NOEVICT);
	struct tend_map_stats st;
	struct model *md;
	int64_t end;
	unsigned seed = (unsigned)getpid();
	int i, kills = 0, present = 0;
	uint32_t id;

	md = mmap(NULL, sizeof(*md), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(md != MAP_FAILED);
	for (id = 0; id < NKEYS; id++) {
		md->k[id].state = ABSENT;
		md->k[id].next_seq = 1;
	}
#define SPAWN(i)                                                                       \
	do {                                                                           \
		unsigned s_ = rand_r(&seed);                                           \
		pid_t p_ = fork();                                                     \
		assert_true(p_ >= 0);                                                  \
		if (p_ == 0) {                                                         \
			if ((i) < NW)                                                  \
				stress_writer(m, md, (uint32_t)(i), s_, evicting);     \
			stress_reader(m, md, s_);                                      \
		}                                                                      \
		stress_pids[i] = p_;                                                   \
	} while (0)
	for (i = 0; i < NW + NR; i++)
		SPAWN(i);
	/* 2.5 s and at least 120 kills (a loaded machine forks slowly), at
	 * most 10 s */
	end = now_ms() + 2500;
	while ((now_ms() < end || kills < 120) && now_ms() < end + 7500) {
		int who = (int)(rand_r(&seed) % (NW + NR)), st_;

		usleep(1000 + rand_r(&seed) % 4000);
		assert_true(stress_pids[who] > 0);
		kill(stress_pids[who], SIGKILL);
		waitpid(stress_pids[who], &st_, 0);
		if (!WIFSIGNALED(st_))
			print_message("# child %d status 0x%x\n", who, st_);
		assert_true(WIFSIGNALED(st_));
		kills++;
		SPAWN(who);
	}
	atomic_store(&md->stop, 1);
	for (i = 0; i < NW + NR; i++) {
		pid_t p = stress_pids[i];

		stress_pids[i] = 0;
		assert_int_equal(exit_code(p, 10000), 0);
	}
	for (id = 0; id < NKEYS; id++) {
		reconcile(m, md, id, evicting);
		present += md->k[id].state != ABSENT;
	}
	assert_int_equal(tend_map_stats(m, &st), 0);
	print_message("# stress%s: %d kills, %lu ops, %d keys present, %lu evictions, last error %d\n",
		      evicting ? " (evicting)" : "", kills, (unsigned long)atomic_load(&md->ops), present,
		      (unsigned long)st.evictions, atomic_load(&md->last_err));
	assert_true(kills > 100);
	assert_int_equal(atomic_load(&md->bad), 0);
	assert_int_equal(atomic_load(&md->errors), 0);
	assert_consistent(m);
	assert_int_equal(tend_map_stats(m, &st), 0);
	assert_int_equal(st.items, (uint64_t)present);
	if (evicting)
		assert_true(st.evictions > 0);
	munmap(md, sizeof(*md));
	tend_map_free(m);
}

static void test_sigkill_stress_model(void **state)
{
	(void)state;
	stress(false);
}

static void test_sigkill_stress_evicting(void **state)
{
	(void)state;
	stress(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_create_geometry_and_bad_arguments, kill_kids),
		cmocka_unit_test_teardown(test_named_create_open_unlink, kill_kids),
		cmocka_unit_test_teardown(test_open_rejects_foreign_and_damaged, kill_kids),
		cmocka_unit_test_teardown(test_set_get_add_replace_cas_delete, kill_kids),
		cmocka_unit_test_teardown(test_incr, kill_kids),
		cmocka_unit_test_teardown(test_ttl_expiry_and_sweep, kill_kids),
		cmocka_unit_test_teardown(test_walk_keys, kill_kids),
		cmocka_unit_test_teardown(test_stats_counts, kill_kids),
		cmocka_unit_test_teardown(test_stats_name_read_only, kill_kids),
		cmocka_unit_test_teardown(test_noevict_full_is_enospc, kill_kids),
		cmocka_unit_test_teardown(test_clock_eviction_keeps_hot_items, kill_kids),
		cmocka_unit_test_teardown(test_index_full, kill_kids),
		cmocka_unit_test_teardown(test_readers_never_see_torn_values, kill_kids),
		cmocka_unit_test_teardown(test_writer_killed_at_each_point, kill_kids),
		cmocka_unit_test_teardown(test_incr_killed_at_each_point, kill_kids),
		cmocka_unit_test_teardown(test_reclaim_killed_at_each_point, kill_kids),
		cmocka_unit_test_teardown(test_move_killed, kill_kids),
		cmocka_unit_test_teardown(test_sigkill_stress_model, kill_stress_children),
		cmocka_unit_test_teardown(test_sigkill_stress_evicting, kill_stress_children),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
