/*
 * What a child's join of its cgroup costs: fork N children one after the
 * other; each writes "0" to every cgroup.procs given (in that order), timing
 * each write, and reports through a pipe.  Prints the mean per file.
 *
 *   cc -O2 -o /tmp/cg_attach bench/supervisor/cg_attach.c
 *   mkdir $MEM/t $UNI/t   # leaves below your own cgroups
 *   /tmp/cg_attach 300 $UNI/t/cgroup.procs $MEM/t/cgroup.procs
 *   rmdir $MEM/t $UNI/t
 *
 * (docs/decisions.md, "All programs up and all stopped".)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXF 4

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[1]) : 0, nf = argc - 2;
	double total[MAXF] = { 0 };

	if (n <= 0 || nf > MAXF) {
		fprintf(stderr, "usage: cg_attach N CGROUP_PROCS... (at most %d)\n", MAXF);
		return 2;
	}
	for (int i = 0; i < n; i++) {
		double r[MAXF] = { 0 };
		int p[2];
		pid_t c;

		if (pipe(p) < 0 || (c = fork()) < 0)
			return 1;
		if (c == 0) {
			for (int k = 0; k < nf; k++) {
				int fd = open(argv[k + 2], O_WRONLY);
				double a = now_us();

				if (fd < 0 || write(fd, "0", 1) != 1)
					_exit(1);
				r[k] = now_us() - a;
				close(fd);
			}
			_exit(write(p[1], r, sizeof(r)) == sizeof(r) ? 0 : 1);
		}
		if (read(p[0], r, sizeof(r)) != sizeof(r))
			return 1;
		waitpid(c, NULL, 0);
		close(p[0]);
		close(p[1]);
		for (int k = 0; k < nf; k++)
			total[k] += r[k];
		usleep(2000); /* about a spawn's distance in tend's start pass */
	}
	for (int k = 0; k < nf; k++)
		printf("%s: %.1f us per write (mean of %d)\n", argv[k + 2], total[k] / n, n);
	return 0;
}
