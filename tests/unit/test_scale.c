/*
 * The autoscaler's decision (src/daemon/scale.c) with made-up CPU figures:
 * up above the target, down below half of it, within the bounds, not during
 * the cooldown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "common/util.h"
#include "daemon/scale.h"

static struct scale_input pool(int current, double cpu)
{
	return (struct scale_input){ .min = 2, .max = 5, .current = current, .cpu_percent = cpu, .target = 70,
				     .since_change_ns = 60 * NSEC_PER_SEC, .cooldown_ns = 15 * NSEC_PER_SEC };
}

static void test_up_down_steady(void **state)
{
	char why[128];
	struct scale_input in;

	(void)state;
	in = pool(3, 90);
	assert_int_equal(scale_decide(&in, why, sizeof(why)), 4);
	assert_string_equal(why, "cpu 90% per instance > target 70%");
	in = pool(3, 20);
	assert_int_equal(scale_decide(&in, why, sizeof(why)), 2);
	assert_non_null(strstr(why, "< half the target 70%"));
	/* between half the target and the target: stay */
	for (double cpu = 35; cpu <= 70; cpu += 5) {
		in = pool(3, cpu);
		assert_int_equal(scale_decide(&in, why, sizeof(why)), 3);
		assert_string_equal(why, "");
	}
}

static void test_bounds(void **state)
{
	char why[128];
	struct scale_input in;

	(void)state;
	in = pool(5, 400); /* saturated at the maximum: stay */
	assert_int_equal(scale_decide(&in, why, sizeof(why)), 5);
	in = pool(2, 0); /* idle at the minimum: stay */
	assert_int_equal(scale_decide(&in, why, sizeof(why)), 2);
	in = pool(1, 0); /* below the minimum (a reload raised it): up at once, cooldown or not */
	in.since_change_ns = 0;
	assert_int_equal(scale_decide(&in, why, sizeof(why)), 2);
	assert_non_null(strstr(why, "below numprocs_min"));
	in = pool(7, 100);
	in.since_change_ns = 0;
	assert_int_equal(scale_decide(&in, why, sizeof(why)), 5);
}

static void test_cooldown(void **state)
{
	char why[128];
	struct scale_input in = pool(3, 99);

	(void)state;
	in.since_change_ns = 14 * NSEC_PER_SEC;
	assert_int_equal(scale_decide(&in, why, sizeof(why)), 3);
	in.since_change_ns = 15 * NSEC_PER_SEC;
	assert_int_equal(scale_decide(&in, why, sizeof(why)), 4);
}

/* A simulated pool under a load of L CPUs: it settles where each instance is within bounds. */
static void test_converges(void **state)
{
	(void)state;
	for (double load = 0.5; load <= 6; load += 0.5) {
		int n = 2;

		for (int step = 0; step < 20; step++) {
			struct scale_input in = pool(n, load * 100 / n);
			char why[128];

			n = scale_decide(&in, why, sizeof(why));
			assert_true(n >= 2 && n <= 5);
		}
		/* settled: at the max, or at most the target per instance; at the min, or above half */
		assert_true(n == 5 || load * 100 / n <= 70);
		assert_true(n == 2 || load * 100 / n >= 35);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_up_down_steady),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_cooldown),
		cmocka_unit_test(test_converges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
