/*
 * The fixture the libtend tests share (included by test_lib_shm.c and
 * test_lib_counter.c): unique /dev/shm names, and the children of the
 * running test, tracked so that a failed assertion (which longjmps out of the
 * test) leaves none behind: kill_kids() as the teardown kills and reaps them
 * and unlinks the test's last name.  Define LIB_TEST_PREFIX ("shm", "ctr")
 * before including it.
 */
#ifndef TEND_LIB_FIXTURE_H
#define TEND_LIB_FIXTURE_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char shm_name[64];

static const char *unique_name(const char *tag)
{
	static int n;

	snprintf(shm_name, sizeof(shm_name), "/tend-test-%s-%s-%d-%d", LIB_TEST_PREFIX, tag, (int)getpid(), n++);
	return shm_name;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Children of the running test, so that a failed assertion (which
 * longjmps out of the test) does not leave them behind: the teardown kills
 * and reaps whatever is still here (and unlinks the test's last shm name).
 * A reaped child leaves the list. */
static pid_t kids[64];
static int nkids;

static pid_t fork_kid(void)
{
	pid_t pid = fork();

	if (pid > 0 && nkids < (int)(sizeof(kids) / sizeof(kids[0])))
		kids[nkids++] = pid;
	return pid;
}

static void forget_kid(pid_t pid)
{
	int i;

	for (i = 0; i < nkids; i++)
		if (kids[i] == pid) {
			kids[i] = kids[--nkids];
			return;
		}
}

static int kill_kids(void **state)
{
	(void)state;
	while (nkids > 0) {
		pid_t pid = kids[--nkids];

		if (pid > 0) { /* never kill(-1) or kill(0) */
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
	/* and the last name a failed test may have left in /dev/shm */
	if (shm_name[0])
		shm_unlink(shm_name);
	shm_name[0] = 0;
	return 0;
}

static int reap(pid_t pid, int ms)
{
	int64_t end = now_ms() + ms;
	int st;

	if (pid <= 0) /* never kill(-1) or kill(0) */
		return -1;
	while (now_ms() < end) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			forget_kid(pid);
			return st;
		}
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	forget_kid(pid);
	return -1;
}

/* The child's exit code, or -1 when it was killed or timed out. */
static int exit_code(pid_t pid, int ms)
{
	int st = reap(pid, ms);

	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void kill_and_reap(pid_t pid)
{
	int st;

	assert_true(pid > 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	forget_kid(pid);
	assert_true(WIFSIGNALED(st));
}

#endif
