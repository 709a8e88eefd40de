/*
 * LD_PRELOAD=count_waitid.so: each process writes how many waitid(P_ALL)
 * calls it has made to $COUNT_WAITID_DIR/<pid> (a whole number, rewritten
 * at each call; no descriptor kept open).  waitid(P_ALL) walks every child
 * of the caller: the tests count them to show tend walks once per exit.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int waitid(idtype_t type, id_t id, siginfo_t *info, int options)
{
	static int (*real)(idtype_t, id_t, siginfo_t *, int);
	static unsigned long n;
	const char *dir = getenv("COUNT_WAITID_DIR");

	if (!real)
		real = (int (*)(idtype_t, id_t, siginfo_t *, int))dlsym(RTLD_NEXT, "waitid");
	if (type == P_ALL && dir) {
		char path[4096], num[32];
		int fd, len;

		n++;
		snprintf(path, sizeof(path), "%s/%d", dir, (int)getpid());
		len = snprintf(num, sizeof(num), "%lu\n", n);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			if (write(fd, num, (size_t)len) < 0) {
				/* a count that cannot be written is missing: the test fails on it */
			}
			close(fd);
		}
	}
	return real(type, id, info, options);
}
