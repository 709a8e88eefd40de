/*
 * The system scan (src/sys/procscan.c) in steps, as the daemon's /metrics
 * count runs it: a scan read a few entries at a time is complete and sorted
 * like proc_scan's, it sees a child forked before it began, and a scanner
 * given up halfway frees what it holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys/procscan.h"

static void test_steps_make_the_whole_table(void **state)
{
	struct proc_scanner sc;
	const struct proc_info *me, *kid;
	int r, steps = 0;
	pid_t child = fork();

	(void)state;
	assert_true(child >= 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
	assert_int_equal(proc_scan_begin(&sc), 0);
	while ((r = proc_scan_step(&sc, 3)) == 0)
		steps++;
	assert_int_equal(r, 1);
	assert_true(steps > 0);
	assert_null(sc.d);
	assert_true(sc.t.n >= 2);
	for (size_t i = 1; i < sc.t.n; i++)
		assert_true(sc.t.v[i - 1].pid < sc.t.v[i].pid);
	me = proc_find(&sc.t, getpid());
	kid = proc_find(&sc.t, child);
	assert_non_null(me);
	assert_non_null(kid);
	assert_int_equal(kid->ppid, getpid());
	proc_scanner_done(&sc);
	assert_null(sc.t.v);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

static void test_given_up_halfway(void **state)
{
	struct proc_scanner sc;

	(void)state;
	assert_int_equal(proc_scan_begin(&sc), 0);
	assert_int_equal(proc_scan_step(&sc, 1), 0);
	proc_scanner_done(&sc); /* closes /proc, frees the table: ASan/valgrind see no leak */
	assert_null(sc.d);
	assert_int_equal(sc.t.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steps_make_the_whole_table),
		cmocka_unit_test(test_given_up_halfway),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
