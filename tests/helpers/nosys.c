/*
 * nosys NR[,NR...] CMD [ARG...]: run CMD with the given system calls
 * failing with ENOSYS (a seccomp filter), as on a kernel that lacks them.
 * Tests use it for tend's fallbacks (pidfd_send_signal = 424 on x86_64).
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define MAX_NR 16

int main(int argc, char **argv)
{
	struct sock_filter f[3 + 2 * MAX_NR];
	struct sock_fprog prog;
	unsigned n = 0, k = 0;
	long nr[MAX_NR];
	char *p, *end;

	if (argc < 3) {
		fprintf(stderr, "usage: nosys NR[,NR...] CMD [ARG...]\n");
		return 2;
	}
	for (p = argv[1]; *p && n < MAX_NR; p = *end ? end + 1 : end) {
		nr[n++] = strtol(p, &end, 10);
		if (end == p || (*end && *end != ',')) {
			fprintf(stderr, "nosys: bad syscall number list '%s'\n", argv[1]);
			return 2;
		}
	}
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (unsigned i = 0; i < n; i++) {
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr[i], 0, 1);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
	}
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog = (struct sock_fprog){ .len = (unsigned short)k, .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		perror("nosys: seccomp");
		return 1;
	}
	execvp(argv[2], argv + 2);
	fprintf(stderr, "nosys: %s: %s\n", argv[2], strerror(errno));
	return 127;
}
