/*
 * The system scan (src/sys/procscan.c) in steps, as the daemon's /metrics
 * count runs it: a scan read a few entries at a time is complete and sorted
 * like proc_scan's, it sees a child forked before it began, and a scanner
 * given up halfway frees what it holds; and a process's stat line is read
 * field by field as sscanf reads it, a name with spaces and ')' included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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

/* A child named "a) (b c)" in its own process group: proc_read's fields
 * against what the child is and what sscanf reads of the same line. */
static void test_stat_fields(void **state)
{
	int ready[2];
	char c, path[64], buf[1024], *name_end;
	struct proc_info p;
	unsigned long flags;
	unsigned long long ut, st, start;
	long rss;
	int ppid, pgrp, sid, fd, r;
	ssize_t n;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_NAME, "a) (b c)");
		(void)!write(ready[1], "x", 1);
		pause();
		_exit(0);
	}
	n = read(ready[0], &c, 1) == 1 ? 0 : -1;
	r = proc_read(pid, &p);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (n == 0 && fd >= 0)
		n = read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	/* the child is gone before anything is asserted */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(ready[0]);
	close(ready[1]);
	assert_int_equal(r, 0);
	assert_true(n > 0);
	buf[n] = '\0';

	assert_int_equal(p.pid, pid);
	assert_string_equal(p.comm, "a) (b c)");
	assert_int_equal(p.ppid, getpid());
	assert_int_equal(p.pgrp, pid);
	assert_int_equal(p.sid, getsid(0));
	assert_false(p.kthread);
	name_end = strrchr(buf, ')');
	assert_int_equal(sscanf(name_end + 2, "%c %d %d %d %*d %*d %lu %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
					   "%*d %llu %*u %ld",
				&c, &ppid, &pgrp, &sid, &flags, &ut, &st, &start, &rss),
			 9);
	assert_int_equal(p.state, c);
	assert_int_equal(p.cpu_ticks, ut + st);
	assert_int_equal(p.start_ticks, start);
	assert_true(rss > 0);
	/* rss may move between the two reads by a page or two; the field is the one after vsize */
	assert_true(p.rss_bytes >= (uint64_t)(rss - 16) * (uint64_t)sysconf(_SC_PAGESIZE) &&
		    p.rss_bytes <= (uint64_t)(rss + 16) * (uint64_t)sysconf(_SC_PAGESIZE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steps_make_the_whole_table),
		cmocka_unit_test(test_given_up_halfway),
		cmocka_unit_test(test_stat_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
