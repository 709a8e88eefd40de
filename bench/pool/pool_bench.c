/*
 * bench/pool: tend_pool throughput with a trivial task (x + 1 on a uint64),
 * the same work as ../shared/bench/ipc/mp_bench.py's mp.Pool(2).map(inc).
 *
 *   pool_bench ITEMS SIZE
 *
 * Prints, in the format of the other benchmarks (NAME | METRIC | VALUE |
 * DETAILS), the tasks/s of: map chunksize=1 (no chunking), apply_async of
 * every item then a wait on every future (no chunking, one future each),
 * map chunksize=256, and apply() round trips.  Each is the median of
 * repeated runs (until ~1.5 s or 9 runs) on a pool started and warmed
 * first; every result is checked.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tend/pool.h"

static int inc(const void *arg, size_t arglen, void *res, size_t cap)
{
	uint64_t x;

	(void)arglen;
	(void)cap;
	memcpy(&x, arg, 8);
	x++;
	memcpy(res, &x, 8);
	return 8;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static size_t n_items;
static uint64_t *in, *out;
static tend_future **futs;

static void check(const char *what)
{
	size_t i;

	for (i = 0; i < n_items; i++)
		if (out[i] != in[i] + 1) {
			fprintf(stderr, "pool_bench: %s: wrong result at %zu\n", what, i);
			exit(1);
		}
	memset(out, 0, n_items * 8);
}

static double run_map(tend_pool *p, size_t chunksize)
{
	double t0 = now(), t1;
	int r = tend_pool_map(p, inc, in, 8, n_items, out, 8, chunksize);

	t1 = now();
	if (r < 0) {
		fprintf(stderr, "pool_bench: map: %s\n", strerror(-r));
		exit(1);
	}
	check("map");
	return t1 - t0;
}

static double run_async(tend_pool *p)
{
	double t0 = now(), t1;
	size_t i;
	int r;

	for (i = 0; i < n_items; i++) {
		r = tend_pool_apply_async(p, inc, &in[i], 8, &futs[i]);
		if (r < 0) {
			fprintf(stderr, "pool_bench: apply_async: %s\n", strerror(-r));
			exit(1);
		}
	}
	for (i = 0; i < n_items; i++) {
		r = tend_future_wait(futs[i], &out[i], 8, TEND_FOREVER);
		if (r != 8) {
			fprintf(stderr, "pool_bench: wait: %s\n", strerror(-r));
			exit(1);
		}
		tend_future_free(futs[i]);
	}
	t1 = now();
	check("apply_async");
	return t1 - t0;
}

static double run_apply(tend_pool *p, size_t n)
{
	double t0 = now(), t1;
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		r = tend_pool_apply(p, inc, &in[i], 8, &out[i], 8, TEND_FOREVER);
		if (r != 8 || out[i] != in[i] + 1) {
			fprintf(stderr, "pool_bench: apply: %s\n", r < 0 ? strerror(-r) : "wrong result");
			exit(1);
		}
	}
	t1 = now();
	return t1 - t0;
}

enum { MAP1, ASYNC, MAP256, APPLY };

static void measure(tend_pool *p, int what, unsigned size)
{
	static const char *names[] = {"map chunksize=1", "apply_async+wait", "map chunksize=256", "apply (sync)"};
	double times[9], total = 0, dt;
	size_t n = what == APPLY ? n_items / 40 : n_items;
	int k = 0;

	do {
		switch (what) {
		case MAP1:
			dt = run_map(p, 1);
			break;
		case ASYNC:
			dt = run_async(p);
			break;
		case MAP256:
			dt = run_map(p, 256);
			break;
		default:
			dt = run_apply(p, n);
			break;
		}
		times[k++] = dt;
		total += dt;
	} while (total < 1.5 && k < 9 && times[0] < 0.5);
	qsort(times, (size_t)k, sizeof(times[0]), cmp);
	printf("tend pool(%u) %-18s | %s %zuk tasks | %.0f tasks/s | median of %d runs (%.0f-%.0f tasks/s); "
	       "trivial function x+1, pool started and warmed first\n",
	       size, names[what], what == APPLY ? "apply" : "map", n / 1000, (double)n / times[k / 2], k,
	       (double)n / times[k - 1], (double)n / times[0]);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	tend_pool_opts o = {0};
	tend_pool *p;
	size_t i;
	int r;

	n_items = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
	o.size = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 2;
	in = malloc(n_items * 8);
	out = calloc(n_items, 8);
	futs = malloc(n_items * sizeof(*futs));
	if (!in || !out || !futs || n_items < 100)
		return 2;
	for (i = 0; i < n_items; i++)
		in[i] = i * 2654435761u;
	r = tend_pool_create(&p, &o);
	if (r < 0) {
		fprintf(stderr, "pool_bench: create: %s\n", strerror(-r));
		return 1;
	}
	/* warm up: workers started, queues' pages touched */
	(void)run_map(p, 1);
	measure(p, MAP1, o.size);
	measure(p, ASYNC, o.size);
	measure(p, MAP256, o.size);
	measure(p, APPLY, o.size);
	tend_pool_close(p);
	r = tend_pool_join(p, TEND_FOREVER);
	tend_pool_free(p);
	free(in);
	free(out);
	free(futs);
	return r < 0;
}
