/*
 * tproc: one small program the end-to-end tests run under tend.
 *
 *   tproc stamp FILE [CODE [SECONDS]]  append "<realtime-ns> <pid>" to FILE, sleep, exit CODE
 *   tproc ignore-term [FILE]           ignore SIGTERM (write "ready" to FILE), sleep forever
 *   tproc tree N FILE                  fork N children that sleep; write their pids to FILE
 *   tproc escape FILE                  double-fork a grandchild into its own session; write its pid
 *   tproc inspect FILE                 write SigIgn/SigBlk/SigCgt, open fds, pgid==pid, sid==pid
 *   tproc env FILE                     write the environment, one variable per line
 *   tproc spew                         print a numbered line every 10 ms
 *   tproc sleep                        sleep forever
 *   tproc memhog MB [FILE [MAX]]       grow by MB megabytes every 20 ms, touching every page
 *                                      (up to MAX megabytes, then idle)
 *   tproc forkbomb FILE                fork children that sleep, as fast as it can, forever
 *   tproc burn                         spin on the CPU
 *   tproc zombie FILE                  make a child that exits and is never waited for
 *   tproc orphan FILE                  lead a new session, fork a child (which writes its
 *                                      pid to FILE and sleeps), exit: the child is orphaned
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void sleep_forever(void)
{
	for (;;)
		pause();
}

static void append(const char *file, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append(const char *file, const char *fmt, ...)
{
	FILE *f = fopen(file, "a");
	va_list ap;

	if (!f) {
		perror(file);
		exit(111);
	}
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

static int cmd_stamp(int argc, char **argv)
{
	struct timespec ts;
	double secs = argc > 4 ? atof(argv[4]) : 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	append(argv[2], "%lld %lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec,
	       (long long)getpid());
	if (secs > 0) {
		struct timespec d = { (time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9) };

		nanosleep(&d, NULL);
	}
	return argc > 3 ? atoi(argv[3]) : 0;
}

static int cmd_tree(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 2;

	for (int i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0)
			sleep_forever();
		if (argc > 3)
			append(argv[3], "%lld\n", (long long)pid);
	}
	sleep_forever();
	return 0;
}

static int cmd_escape(char **argv)
{
	pid_t pid = fork();

	if (pid == 0) {
		setsid();
		if (fork() == 0) {
			append(argv[2], "%lld\n", (long long)getpid());
			sleep_forever();
		}
		_exit(0);
	}
	/* reap the middle process: the grandchild is now an orphan of its own */
	waitpid(pid, NULL, 0);
	sleep_forever();
	return 0;
}

static int cmd_inspect(char **argv)
{
	char out[4096], line[256];
	size_t n = 0;
	FILE *f, *st = fopen("/proc/self/status", "r");
	DIR *d;
	struct dirent *de;

	if (!st)
		return 111;
	while (fgets(line, sizeof(line), st))
		if (strncmp(line, "SigIgn:", 7) == 0 || strncmp(line, "SigBlk:", 7) == 0 ||
		    strncmp(line, "SigCgt:", 7) == 0)
			n += (size_t)snprintf(out + n, sizeof(out) - n, "%s", line);
	fclose(st);
	n += (size_t)snprintf(out + n, sizeof(out) - n, "pgid_is_pid: %d\nsid_is_pid: %d\nfds:",
			      getpgrp() == getpid(), getsid(0) == getpid());
	/* list the fds before opening the output file, which would be one of them */
	d = opendir("/proc/self/fd");
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.' && atoi(de->d_name) != dirfd(d))
			n += (size_t)snprintf(out + n, sizeof(out) - n, " %s", de->d_name);
	if (d)
		closedir(d);
	f = fopen(argv[2], "w");
	if (!f)
		return 111;
	fprintf(f, "%s\n", out);
	fclose(f);
	sleep_forever();
	return 0;
}

static int cmd_env(char **argv)
{
	FILE *f = fopen(argv[2], "w");

	if (!f)
		return 111;
	for (char **e = environ; *e; e++)
		fprintf(f, "%s\n", *e);
	fclose(f);
	sleep_forever();
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (strcmp(cmd, "stamp") == 0 && argc > 2)
		return cmd_stamp(argc, argv);
	if (strcmp(cmd, "ignore-term") == 0) {
		signal(SIGTERM, SIG_IGN);
		if (argc > 2)
			append(argv[2], "ready %lld\n", (long long)getpid());
		sleep_forever();
	}
	if (strcmp(cmd, "tree") == 0)
		return cmd_tree(argc, argv);
	if (strcmp(cmd, "escape") == 0 && argc > 2)
		return cmd_escape(argv);
	if (strcmp(cmd, "inspect") == 0 && argc > 2)
		return cmd_inspect(argv);
	if (strcmp(cmd, "env") == 0 && argc > 2)
		return cmd_env(argv);
	if (strcmp(cmd, "spew") == 0) {
		for (long i = 0;; i++) {
			struct timespec d = { 0, 10 * 1000 * 1000 };

			printf("line %ld\n", i);
			fflush(stdout);
			nanosleep(&d, NULL);
		}
	}
	if (strcmp(cmd, "sleep") == 0)
		sleep_forever();
	if (strcmp(cmd, "memhog") == 0 && argc > 2) {
		size_t step = (size_t)atol(argv[2]) << 20, total = 0;

		size_t max = argc > 4 ? (size_t)atol(argv[4]) << 20 : SIZE_MAX;

		if (argc > 3)
			append(argv[3], "%lld\n", (long long)getpid());
		for (;;) {
			char *p;

			if (total >= max)
				sleep_forever();
			p = malloc(step);
			struct timespec d = { 0, 20 * 1000 * 1000 };

			if (!p)
				return 1;
			for (size_t i = 0; i < step; i += 4096)
				p[i] = (char)i;
			total += step;
			nanosleep(&d, NULL);
		}
	}
	if (strcmp(cmd, "forkbomb") == 0 && argc > 2) {
		long made = 0, failed = 0;

		for (;;) {
			pid_t pid = fork();

			if (pid == 0)
				sleep_forever();
			if (pid < 0)
				failed++;
			else
				made++;
			if ((made + failed) % 1000 == 0) {
				/* replaced whole (a reader never sees it empty) */
				char tmp[4096];
				FILE *f;

				snprintf(tmp, sizeof(tmp), "%s.tmp", argv[2]);
				f = fopen(tmp, "w");
				if (f) {
					fprintf(f, "%ld %ld\n", made, failed);
					if (fclose(f) == 0)
						rename(tmp, argv[2]);
				}
			}
		}
	}
	if (strcmp(cmd, "zombie") == 0 && argc > 2) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		append(argv[2], "%lld %lld\n", (long long)pid, (long long)getpid());
		sleep_forever();
	}
	if (strcmp(cmd, "orphan") == 0 && argc > 2) {
		setsid();
		if (fork() == 0) {
			struct timespec d = { 0, 100 * 1000 * 1000 };

			nanosleep(&d, NULL); /* until the parent is gone */
			append(argv[2], "%lld\n", (long long)getpid());
			sleep_forever();
		}
		return 0;
	}
	if (strcmp(cmd, "burn") == 0) {
		volatile unsigned long x = 0;

		for (;;)
			x++;
	}
	fprintf(stderr, "usage: tproc stamp|ignore-term|tree|escape|inspect|env|spew|sleep ...\n");
	return 2;
}
