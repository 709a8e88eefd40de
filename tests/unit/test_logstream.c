/*
 * Log streams (src/daemon/logstream.c) driven through a real loop and pipe:
 * prefixes, long lines, rotation, the tail ring, time rotation arithmetic.
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
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/log.h"
#include "daemon/logstream.h"
#include "daemon/loop.h"

static struct loop loop;
static char dir[64];

static int setup(void **state)
{
	sigset_t none;

	(void)state;
	sigemptyset(&none);
	assert_int_equal(loop_init(&loop, &none, NULL, NULL), 0);
	snprintf(dir, sizeof(dir), "/tmp/tend-unit-logs-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	loop_done(&loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void feed(struct logstream *s, const char *data, size_t n)
{
	assert_int_equal(write_all(logstream_child_fd(s), data, n), 0);
	for (int i = 0; i < 4; i++)
		loop_run_once(&loop, false);
}

static char *slurp(const char *path)
{
	char *data = NULL;

	assert_int_equal(read_file(path, 1 << 24, &data, NULL), 0);
	return data;
}

static void test_file_rotation_keeps_backups(void **state)
{
	char path[128], p1[140], p2[140], p3[140];
	struct logstream_cfg cfg = { .name = "x", .path = path, .maxbytes = 100, .backups = 2 };
	struct logstream *s;
	struct logstream_stats st;
	char *err = NULL, buf[100];

	(void)state;
	snprintf(path, sizeof(path), "%s/x.log", dir);
	snprintf(p1, sizeof(p1), "%s.1", path);
	snprintf(p2, sizeof(p2), "%s.2", path);
	snprintf(p3, sizeof(p3), "%s.3", path);
	s = logstream_new(&loop, &cfg, &err);
	assert_non_null(s);
	assert_null(err);
	for (int i = 0; i < 4; i++) {
		memset(buf, 'a' + i, sizeof(buf));
		feed(s, buf, sizeof(buf));
	}
	/* each 100 bytes fill the file: it rotates every time; .1 and .2 hold the last two */
	logstream_stats(s, &st);
	assert_int_equal(st.bytes, 400);
	assert_int_equal(st.dropped, 0);
	assert_true(st.rotations >= 3);
	{
		char *c1 = slurp(p1), *c2 = slurp(p2);

		assert_int_equal(strlen(c1), 100);
		assert_int_equal(strlen(c2), 100);
		assert_int_equal(c1[0], 'd');
		assert_int_equal(c2[0], 'c');
		free(c1);
		free(c2);
	}
	assert_int_not_equal(access(p3, F_OK), 0);
	logstream_free(s);
}

static void test_ring_tail_lines(void **state)
{
	struct logstream_cfg cfg = { .name = "r" };
	struct sbuf out = SBUF_INIT;
	struct logstream *s;
	char *err = NULL;
	int devnull, saved = dup(STDOUT_FILENO);

	(void)state;
	/* prefix mode writes to tend's stdout: send it to /dev/null for this test */
	devnull = open("/dev/null", O_WRONLY);
	dup2(devnull, STDOUT_FILENO);
	s = logstream_new(&loop, &cfg, &err);
	feed(s, "one\ntwo\nthree\nfour", 18);
	assert_int_equal(logstream_tail(s, 2, &out), 0);
	assert_string_equal(out.s, "three\nfour");
	sbuf_reset(&out);
	assert_int_equal(logstream_tail(s, 0, &out), 0);
	assert_string_equal(out.s, "one\ntwo\nthree\nfour");
	sbuf_done(&out);
	logstream_free(s);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(devnull);
}

static void test_prefix_and_long_lines(void **state)
{
	char path[128], *got, *want;
	struct logstream_cfg cfg = { .name = "p" };
	struct logstream *s;
	char *err = NULL, *big;
	int fd, saved = dup(STDOUT_FILENO);

	(void)state;
	snprintf(path, sizeof(path), "%s/stdout", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	dup2(fd, STDOUT_FILENO);
	s = logstream_new(&loop, &cfg, &err);
	big = xmalloc(LOG_LINE_MAX + 11);
	memset(big, 'z', LOG_LINE_MAX + 10);
	big[LOG_LINE_MAX + 10] = '\n';
	feed(s, "a\n\nb", 4);
	feed(s, big, LOG_LINE_MAX + 11);
	feed(s, "tail", 4);
	logstream_drain(s);
	logstream_free(s);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(fd);
	got = slurp(path);
	want = xasprintf("p | a\np | \np | b%.*s\np |+ zzzzzzzzzzz\np | tail\n", LOG_LINE_MAX - 1, big);
	assert_string_equal(got, want);
	free(got);
	free(want);
	free(big);
}

static void test_refused_destination(void **state)
{
	char path[128];
	struct logstream_cfg cfg = { .name = "s", .path = path };
	struct logstream_stats st;
	struct logstream *s;
	char *err = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/link.log", dir);
	assert_int_equal(symlink("/etc/hostname", path), 0);
	s = logstream_new(&loop, &cfg, &err);
	assert_non_null(s);
	assert_non_null(err);
	assert_non_null(strstr(err, "is a symlink (refused)"));
	free(err);
	feed(s, "lost\n", 5);
	logstream_stats(s, &st);
	assert_int_equal(st.dropped, 5);
	assert_non_null(st.error);
	logstream_free(s);
}

static void test_period_delay(void **state)
{
	struct tm tm = { .tm_year = 126, .tm_mon = 10, .tm_mday = 24, .tm_hour = 10, .tm_min = 59,
			 .tm_sec = 30, .tm_isdst = -1 };
	time_t t;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	t = mktime(&tm);
	assert_int_equal(log_period_delay_ns(LOG_ROTATE_HOURLY, t), 30 * NSEC_PER_SEC);
	assert_int_equal(log_period_delay_ns(LOG_ROTATE_DAILY, t), (13 * 3600 + 30) * NSEC_PER_SEC);
	tm.tm_hour = 23;
	tm.tm_min = 0;
	tm.tm_sec = 0;
	t = mktime(&tm);
	assert_int_equal(log_period_delay_ns(LOG_ROTATE_HOURLY, t), 3600 * NSEC_PER_SEC);
	assert_int_equal(log_period_delay_ns(LOG_ROTATE_DAILY, t), 3600 * NSEC_PER_SEC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_rotation_keeps_backups),
		cmocka_unit_test(test_ring_tail_lines),
		cmocka_unit_test(test_prefix_and_long_lines),
		cmocka_unit_test(test_refused_destination),
		cmocka_unit_test(test_period_delay),
	};

	log_open(NULL, false, LOG_CRIT);
	return cmocka_run_group_tests(tests, setup, teardown);
}
