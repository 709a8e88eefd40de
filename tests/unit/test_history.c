/*
 * The dashboard's history ring (src/daemon/history.c): samples at most one
 * per interval, CPU as a share of the interval, the oldest first after the
 * ring wraps, the exits' ring, nothing allocated until used.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "common/util.h"
#include "daemon/history.h"

#define S NSEC_PER_SEC

static void test_samples(void **state)
{
	struct history *h = NULL;
	unsigned cpu;
	uint64_t mem;

	(void)state;
	/* the first call sets the reference: no sample yet */
	history_sample(&h, 10 * S, 1000000, 8 << 20, true);
	assert_non_null(h);
	assert_int_equal(h->nsamples, 0);
	/* sooner than the interval: ignored */
	history_sample(&h, 12 * S, 2000000, 8 << 20, true);
	assert_int_equal(h->nsamples, 0);
	/* 5 s later with 2.5 CPU-seconds more: 50 % of one CPU = 500 per mille */
	history_sample(&h, 15 * S, 3500000, 16 << 20, true);
	assert_int_equal(h->nsamples, 1);
	history_sample_at(h, 0, &cpu, &mem);
	assert_int_equal(cpu, 500);
	assert_int_equal(mem, 16 << 20);
	/* no process: 0 and 0; then a new process counts from its own 0 */
	history_sample(&h, 20 * S, 0, 99 << 20, false);
	history_sample(&h, 25 * S, 1000000, 4 << 20, true);
	history_sample_at(h, 1, &cpu, &mem);
	assert_int_equal(cpu, 0);
	assert_int_equal(mem, 0);
	history_sample_at(h, 2, &cpu, &mem);
	assert_int_equal(cpu, 200);
	/* the ring keeps the last HIST_SAMPLES, oldest first */
	for (int i = 0; i < HIST_SAMPLES + 5; i++)
		history_sample(&h, (30 + 5 * i) * S, 1000000 + (uint64_t)i * 5000000, (uint64_t)(i + 1) << 20, true);
	assert_int_equal(h->nsamples, HIST_SAMPLES);
	history_sample_at(h, HIST_SAMPLES - 1, &cpu, &mem);
	assert_int_equal(mem, (uint64_t)(HIST_SAMPLES + 5) << 20);
	assert_int_equal(cpu, 1000); /* a whole CPU */
	history_sample_at(h, 0, &cpu, &mem);
	assert_int_equal(mem, (uint64_t)6 << 20);
	free(h);
}

static void test_exits(void **state)
{
	struct history *h = NULL;

	(void)state;
	for (int i = 0; i < HIST_EXITS + 3; i++)
		history_exit(&h, (int64_t)(100 + i) * S, 1, i);
	assert_int_equal(h->nexits, HIST_EXITS);
	assert_int_equal(history_exit_at(h, 0)->code, 3);
	assert_int_equal(history_exit_at(h, 0)->wall_ms, 103000);
	assert_int_equal(history_exit_at(h, HIST_EXITS - 1)->code, HIST_EXITS + 2);
	history_exit(&h, 200 * S, 2, -9); /* killed by SIGKILL */
	assert_int_equal(history_exit_at(h, HIST_EXITS - 1)->code, -9);
	assert_int_equal(history_exit_at(h, HIST_EXITS - 1)->kind, 2);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_samples),
		cmocka_unit_test(test_exits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
