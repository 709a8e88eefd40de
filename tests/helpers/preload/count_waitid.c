/*
 * LD_PRELOAD=count_waitid.so: each process writes how many waitid(P_ALL)
 * calls it has made to $COUNT_WAITID_DIR/<pid> (a whole number, rewritten
 * at each call; no descriptor kept open), and how many children it had at
 * the last one to $COUNT_WAITID_DIR/<pid>.kids.  waitid(P_ALL) walks every
 * child of the caller: the tests count them to show tend walks once per
 * exit, and that a restart's new process is there before the walk.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Write text to dir/name, replacing it. */
static void put(const char *dir, const char *name, const char *text)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, text, strlen(text)) < 0) {
		/* a count that cannot be written is missing: the test fails on it */
	}
	close(fd);
}

/* The caller's children (live or not yet reaped), from /proc. */
static int children(void)
{
	char path[64], buf[65536];
	int fd, n = 0, in = 0;
	ssize_t len;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = read(fd, buf, sizeof(buf));
	close(fd);
	for (ssize_t i = 0; i < len; i++) {
		if (buf[i] != ' ' && !in)
			n++;
		in = buf[i] != ' ';
	}
	return n;
}

int waitid(idtype_t type, id_t id, siginfo_t *info, int options)
{
	static int (*real)(idtype_t, id_t, siginfo_t *, int);
	static unsigned long n;
	const char *dir = getenv("COUNT_WAITID_DIR");

	if (!real)
		real = (int (*)(idtype_t, id_t, siginfo_t *, int))dlsym(RTLD_NEXT, "waitid");
	if (type == P_ALL && dir) {
		char name[64], num[32];

		n++;
		snprintf(name, sizeof(name), "%d.kids", (int)getpid());
		snprintf(num, sizeof(num), "%d\n", children());
		put(dir, name, num);
		snprintf(name, sizeof(name), "%d", (int)getpid());
		snprintf(num, sizeof(num), "%lu\n", n);
		put(dir, name, num);
	}
	return real(type, id, info, options);
}
