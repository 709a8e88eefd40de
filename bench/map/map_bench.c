/*
 * map_bench: tend_map beside LMDB and memcached on the workload of issue 16,
 * one figure per call, printed as "NAME | METRIC | VALUE | DETAILS".
 *
 *   map_bench tend|lmdb|mc  get|mix|set  VALUE_BYTES NPROC [GET_PERCENT] [PIPE]
 *   map_bench tend lat VALUE_BYTES        p50/p99 of single gets, a writer running
 *   map_bench tend mem                    bytes per 64 B entry beyond key + value
 *   map_bench tend hot                    gets of one key (all in cache): the CPU floor
 *   map_bench floor                       dependent loads at random in 16 MiB and 256 KiB:
 *                                         what one cache miss costs here
 *
 * 100 000 keys of 16 bytes ("k%015u"), loaded before timing; reads and the
 * keys of writes are Zipf-distributed (s = 0.99) over them, from a table of
 * 2^20 draws per process made before timing.  NPROC processes (fork), pinned
 * to CPU i % ncpu, start together and run RUN_MS (env, default 600 ms); the
 * figure is the median of REPS (default 3) runs of the summed rate.
 * mix: GET_PERCENT gets, the rest sets.  lmdb: MDB_NOSYNC, one write
 * transaction per set, the read transaction reused (mdb_txn_reset/renew)
 * every LMDB_RENEW gets (env, default 1; 0: one snapshot for the whole run),
 * the database in /dev/shm.  mc: memcached's text protocol on the unix
 * socket $MC_SOCK, PIPE requests per write (1: unpipelined).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <lmdb.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tend/map.h"

#define NKEYS 100000u
#define KLEN 16
#define DRAWS (1u << 20)
#define MAXPROC 8

static unsigned vlen_g;
static int nproc_g, getpct_g = 100, pipe_g = 1;
static const char *what_g, *op_g;
static tend_map *map_g;
static MDB_env *env_g;
static MDB_dbi dbi_g;
static char lmdb_dir[128];

struct shared {
	_Atomic int ready, go, stop;
	_Atomic uint64_t ops[MAXPROC];
	_Atomic uint64_t cpu_ns[MAXPROC]; /* each worker's CPU time over the timed run */
	_Atomic uint64_t retries;
};

static void die(const char *what, int r)
{
	fprintf(stderr, "map_bench: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* This process's CPU time. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);

	return v && *v ? strtol(v, NULL, 10) : def;
}

static void pin(int i)
{
	cpu_set_t set;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	CPU_ZERO(&set);
	CPU_SET(i % (n > 0 ? n : 1), &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

static char *keytab; /* every key, made once: the loop only copies */

static void make_keys(void)
{
	char tmp[KLEN + 1];
	uint32_t i;

	keytab = malloc((size_t)NKEYS * KLEN);
	if (!keytab)
		die("malloc", ENOMEM);
	for (i = 0; i < NKEYS; i++) {
		snprintf(tmp, sizeof(tmp), "k%015u", i);
		memcpy(keytab + (size_t)i * KLEN, tmp, KLEN);
	}
}

static inline void key_of(char *k, uint32_t i)
{
	memcpy(k, keytab + (size_t)i * KLEN, KLEN);
}

/* Zipf(0.99) draws over NKEYS, by inverse CDF; the key ranks are scattered
 * over the key space so that hot keys do not share buckets by construction. */
static uint32_t *zipf_table(unsigned seed)
{
	double *cdf = malloc(NKEYS * sizeof(double)), sum = 0, acc = 0;
	uint32_t *t = malloc(DRAWS * sizeof(uint32_t)), i;

	if (!cdf || !t)
		die("malloc", ENOMEM);
	for (i = 0; i < NKEYS; i++)
		sum += 1.0 / pow(i + 1, 0.99);
	for (i = 0; i < NKEYS; i++) {
		acc += 1.0 / pow(i + 1, 0.99) / sum;
		cdf[i] = acc;
	}
	for (i = 0; i < DRAWS; i++) {
		double u = (double)rand_r(&seed) / RAND_MAX;
		uint32_t lo = 0, hi = NKEYS - 1;

		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;

			if (cdf[mid] >= u)
				hi = mid;
			else
				lo = mid + 1;
		}
		t[i] = (uint32_t)(((uint64_t)lo * 2654435761u) % NKEYS);
	}
	free(cdf);
	return t;
}

/* ---- memcached text protocol ---------------------------------------------- */

static int mc_connect(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	const char *path = getenv("MC_SOCK");
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || !path)
		die("socket/MC_SOCK", errno ? errno : EINVAL);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect memcached", errno);
	return fd;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			die("write", errno);
		p += w;
		n -= (size_t)w;
	}
}

/* Read until `want` occurrences of the terminator have arrived. */
static void read_replies(int fd, const char *term, int want, char *buf, size_t cap)
{
	size_t tl = strlen(term), have = 0;
	int seen = 0;

	while (seen < want) {
		ssize_t n = read(fd, buf + have, cap - have - 1);
		char *p;

		if (n <= 0)
			die("read", errno);
		have += (size_t)n;
		buf[have] = 0;
		seen = 0;
		for (p = buf; (p = memmem(p, have - (size_t)(p - buf), term, tl)) != NULL; p += tl)
			seen++;
		if (have > cap - 4096 && seen < want) {
			/* keep the tail: the count restarts on what is left */
			size_t keep = 64;

			memmove(buf, buf + have - keep, keep);
			want -= seen;
			have = keep;
		}
	}
}

/* ---- one worker ------------------------------------------------------------ */

static void worker(int id, struct shared *sh, uint32_t *keys)
{
	char k[KLEN], *val = malloc(vlen_g > 8 ? vlen_g : 8), *buf = malloc(vlen_g + 64);
	size_t cap = vlen_g + 64;
	uint64_t n = 0, i = 0, renew = (uint64_t)env_long("LMDB_RENEW", 1), cpu0;
	unsigned seed = (unsigned)id * 7919u + 1;
	MDB_txn *rtxn = NULL;
	char *mcbuf = NULL, *req = NULL;
	int mcfd = -1;

	if (!val || !buf)
		die("malloc", ENOMEM);
	memset(val, 'v', vlen_g);
	pin(id);
	if (!strcmp(what_g, "lmdb")) {
		/* an LMDB environment must not cross fork(): open it again */
		MDB_txn *t;
		int r;

		env_g = NULL;
		if ((r = mdb_env_create(&env_g)) || (r = mdb_env_set_mapsize(env_g, (size_t)1 << 30)) ||
		    (r = mdb_env_set_maxreaders(env_g, 64)) || (r = mdb_env_open(env_g, lmdb_dir, MDB_NOSYNC, 0600)))
			die("mdb_env_open (worker)", r);
		if ((r = mdb_txn_begin(env_g, NULL, MDB_RDONLY, &t)) || (r = mdb_dbi_open(t, NULL, 0, &dbi_g)))
			die("mdb_dbi_open (worker)", r);
		mdb_txn_abort(t);
		r = mdb_txn_begin(env_g, NULL, MDB_RDONLY, &rtxn);
		if (r)
			die("mdb_txn_begin", r);
	} else if (!strcmp(what_g, "mc")) {
		mcfd = mc_connect();
		mcbuf = malloc(1 << 22);
		req = malloc((size_t)pipe_g * (KLEN + 64 + vlen_g));
		if (!mcbuf || !req)
			die("malloc", ENOMEM);
	}
	/* warm up: touch every key once, so that the timed run measures
	 * steady state, not the page faults of a fresh mapping */
	for (i = 0; i < NKEYS && mcfd < 0; i++) {
		key_of(k, (uint32_t)i);
		if (rtxn) {
			MDB_val kv = { KLEN, k }, dv;

			(void)mdb_get(rtxn, dbi_g, &kv, &dv);
		} else {
			(void)tend_map_get(map_g, k, KLEN, buf, cap, NULL);
		}
	}
	i = 0;
	atomic_fetch_add(&sh->ready, 1);
	while (!atomic_load(&sh->go))
		;
	cpu0 = cpu_ns();
	while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
		int b;

		if (mcfd >= 0) {
			/* PIPE requests in one write, then their replies */
			size_t len = 0;
			int gets = 0, sets = 0;

			for (b = 0; b < pipe_g; b++) {
				uint32_t kk = keys[i++ & (DRAWS - 1)];
				bool is_get = getpct_g >= 100 || (int)(rand_r(&seed) % 100) < getpct_g;

				key_of(k, kk);
				if (is_get) {
					len += (size_t)sprintf(req + len, "get %.*s\r\n", KLEN, k);
					gets++;
				} else {
					len += (size_t)sprintf(req + len, "set %.*s 0 0 %u noreply\r\n", KLEN, k, vlen_g);
					memcpy(req + len, val, vlen_g);
					len += vlen_g;
					memcpy(req + len, "\r\n", 2);
					len += 2;
					sets++;
				}
			}
			write_all(mcfd, req, len);
			if (gets)
				read_replies(mcfd, "END\r\n", gets, mcbuf, 1 << 22);
			n += (uint64_t)(gets + sets);
			continue;
		}
		for (b = 0; b < 64; b++) {
			uint32_t kk = keys[i++ & (DRAWS - 1)];
			bool is_get = !strcmp(op_g, "set") ? false
				      : getpct_g >= 100 ? true
							: (int)(rand_r(&seed) % 100) < getpct_g;

			key_of(k, kk);
			if (rtxn) {
				MDB_val kv = { KLEN, k }, dv;
				int r;

				if (is_get) {
					if (renew && n % renew == 0) {
						mdb_txn_reset(rtxn);
						if ((r = mdb_txn_renew(rtxn)))
							die("mdb_txn_renew", r);
					}
					r = mdb_get(rtxn, dbi_g, &kv, &dv);
					if (r || dv.mv_size != vlen_g)
						die("mdb_get", r ? r : EIO);
					memcpy(buf, dv.mv_data, dv.mv_size);
				} else {
					MDB_txn *w;

					dv.mv_size = vlen_g;
					dv.mv_data = val;
					if ((r = mdb_txn_begin(env_g, NULL, 0, &w)) || (r = mdb_put(w, dbi_g, &kv, &dv, 0)) ||
					    (r = mdb_txn_commit(w)))
						die("lmdb set", r);
				}
			} else if (is_get) {
				int r = tend_map_get(map_g, k, KLEN, buf, cap, NULL);

				if (r != (int)vlen_g)
					die("tend_map_get", r < 0 ? r : EIO);
			} else {
				int r = tend_map_set(map_g, k, KLEN, val, vlen_g, 0, NULL);

				if (r)
					die("tend_map_set", r);
			}
			n++;
		}
	}
	atomic_store(&sh->cpu_ns[id], cpu_ns() - cpu0);
	atomic_store(&sh->ops[id], n);
	if (rtxn) {
		mdb_txn_abort(rtxn);
		mdb_env_close(env_g);
	}
	_exit(0);
}

/* ---- setup ------------------------------------------------------------------ */

static void load(void)
{
	char k[KLEN], *val = malloc(vlen_g);
	uint32_t i;
	int r;

	if (!val)
		die("malloc", ENOMEM);
	memset(val, 'v', vlen_g);
	if (!strcmp(what_g, "tend")) {
		/* room for the keys at 3/4 of the index, values in their class */
		r = tend_map_create(&map_g, NULL, NKEYS, vlen_g, (size_t)NKEYS * (vlen_g + 96) * 5 / 4, 0, 0);
		if (r)
			die("tend_map_create", r);
		for (i = 0; i < NKEYS; i++) {
			key_of(k, i);
			if ((r = tend_map_set(map_g, k, KLEN, val, vlen_g, 0, NULL)))
				die("load", r);
		}
	} else if (!strcmp(what_g, "lmdb")) {
		MDB_txn *t;
		MDB_val kv, dv;

		snprintf(lmdb_dir, sizeof(lmdb_dir), "/dev/shm/tend-bench-lmdb-%d", (int)getpid());
		if (mkdir(lmdb_dir, 0700) < 0)
			die("mkdir", errno);
		if ((r = mdb_env_create(&env_g)) || (r = mdb_env_set_mapsize(env_g, (size_t)1 << 30)) ||
		    (r = mdb_env_set_maxreaders(env_g, 64)) || (r = mdb_env_open(env_g, lmdb_dir, MDB_NOSYNC, 0600)))
			die("mdb_env_open", r);
		if ((r = mdb_txn_begin(env_g, NULL, 0, &t)) || (r = mdb_dbi_open(t, NULL, 0, &dbi_g)))
			die("mdb_dbi_open", r);
		for (i = 0; i < NKEYS; i++) {
			key_of(k, i);
			kv.mv_size = KLEN;
			kv.mv_data = k;
			dv.mv_size = vlen_g;
			dv.mv_data = val;
			if ((r = mdb_put(t, dbi_g, &kv, &dv, 0)))
				die("mdb_put", r);
		}
		if ((r = mdb_txn_commit(t)))
			die("mdb_txn_commit", r);
		/* workers open their own environment; this one only cleans up */
	} else {
		int fd = mc_connect();
		char *buf = malloc(1 << 20), *req = malloc((KLEN + 64 + vlen_g) * 1000);
		size_t len;

		for (i = 0; i < NKEYS; i += 1000) {
			uint32_t j;

			len = 0;
			for (j = i; j < i + 1000 && j < NKEYS; j++) {
				key_of(k, j);
				len += (size_t)sprintf(req + len, "set %.*s 0 0 %u\r\n", KLEN, k, vlen_g);
				memcpy(req + len, val, vlen_g);
				len += vlen_g;
				memcpy(req + len, "\r\n", 2);
				len += 2;
			}
			write_all(fd, req, len);
			read_replies(fd, "STORED\r\n", (int)(j - i), buf, 1 << 20);
		}
		close(fd);
		free(buf);
		free(req);
	}
	free(val);
}

static void cleanup(void)
{
	if (env_g) {
		char path[200];

		mdb_env_close(env_g);
		snprintf(path, sizeof(path), "%s/data.mdb", lmdb_dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/lock.mdb", lmdb_dir);
		unlink(path);
		rmdir(lmdb_dir);
	}
	tend_map_free(map_g);
}

/* One timed run: the summed rate, and the CPU its workers got. */
struct run {
	double rate, share;
};

static int cmp_run(const void *a, const void *b)
{
	double x = ((const struct run *)a)->rate, y = ((const struct run *)b)->rate;

	return x < y ? -1 : x > y;
}

/* One timed run: the summed rate, and in *ret_share the CPU the workers got
 * as a share of NPROC CPUs over it (below 1: something else ran on them). */
static double one_run(struct shared *sh, uint32_t **keys, long run_ms, double *ret_share)
{
	pid_t pids[MAXPROC];
	uint64_t t0, t1, total = 0, cpu = 0;
	int i;

	memset(sh, 0, sizeof(*sh));
	for (i = 0; i < nproc_g; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork", errno);
		if (pids[i] == 0)
			worker(i, sh, keys[i]);
	}
	while (atomic_load(&sh->ready) < nproc_g) {
		int st;

		for (i = 0; i < nproc_g; i++)
			if (waitpid(pids[i], &st, WNOHANG) == pids[i]) {
				atomic_store(&sh->go, 1);
				atomic_store(&sh->stop, 1);
				die("a worker died before it started", EIO);
			}
		usleep(100);
	}
	t0 = now_ns();
	atomic_store(&sh->go, 1);
	usleep((useconds_t)run_ms * 1000);
	atomic_store(&sh->stop, 1);
	t1 = now_ns();
	for (i = 0; i < nproc_g; i++) {
		int st;

		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			die("worker failed", EIO);
		total += atomic_load(&sh->ops[i]);
		cpu += atomic_load(&sh->cpu_ns[i]);
	}
	*ret_share = (double)cpu / ((double)(t1 - t0) * nproc_g);
	return (double)total * 1e9 / (double)(t1 - t0);
}

/* ---- tend-only figures --------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One reader times each get (clock_gettime around it) while one writer
 * sets Zipf keys as fast as it can on the other CPU. */
static void latency(uint32_t **keys)
{
	enum { N = 1000000 };
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t *lat = malloc(N * sizeof(uint64_t)), floor_ns, t0, sets;
	char k[KLEN], *buf = malloc(vlen_g + 64), *val = malloc(vlen_g);
	struct tend_map_stats st0, st1;
	pid_t w;
	int i;

	if (sh == MAP_FAILED || !lat || !buf || !val)
		die("alloc", ENOMEM);
	memset(sh, 0, sizeof(*sh));
	memset(val, 'w', vlen_g);
	w = fork();
	if (w == 0) {
		uint64_t n = 0, j = 0;

		pin(1);
		while (!atomic_load(&sh->stop)) {
			key_of(k, keys[1][j++ & (DRAWS - 1)]);
			if (tend_map_set(map_g, k, KLEN, val, vlen_g, 0, NULL))
				_exit(1);
			n++;
		}
		atomic_store(&sh->ops[1], n);
		_exit(0);
	}
	pin(0);
	/* the timer's own cost */
	t0 = now_ns();
	for (i = 0; i < 1000; i++)
		(void)now_ns();
	floor_ns = (now_ns() - t0) / 1000;
	usleep(20000);
	tend_map_stats(map_g, &st0);
	t0 = now_ns();
	for (i = 0; i < N; i++) {
		uint64_t a, b;

		key_of(k, keys[0][(uint32_t)i & (DRAWS - 1)]);
		a = now_ns();
		if (tend_map_get(map_g, k, KLEN, buf, vlen_g + 64, NULL) != (int)vlen_g)
			die("get", EIO);
		b = now_ns();
		lat[i] = b - a;
	}
	t0 = now_ns() - t0;
	atomic_store(&sh->stop, 1);
	waitpid(w, NULL, 0);
	tend_map_stats(map_g, &st1);
	sets = atomic_load(&sh->ops[1]);
	qsort(lat, N, sizeof(uint64_t), cmp_u64);
	printf("tend_map get, 1 writer running   | get latency %uB   | p50 %.3f us, p99 %.3f us | %d timed gets (Zipf), "
	       "p99.9 %.3f us, max %.1f us; clock_gettime pair %lu ns included; writer: %.2f M sets/s; "
	       "seqlock retries %lu\n",
	       vlen_g, lat[N / 2] / 1e3, lat[N / 100 * 99] / 1e3, N, lat[N / 1000 * 999] / 1e3, lat[N - 1] / 1e3,
	       (unsigned long)floor_ns, (double)sets * 1e3 / (double)t0,
	       (unsigned long)(st1.read_retries - st0.read_retries));
}

static void memory(void)
{
	struct tend_map_stats st;
	double per;

	tend_map_stats(map_g, &st);
	per = (double)(st.index_bytes + st.mem_used) / (double)st.items - (KLEN + vlen_g);
	printf("tend_map memory                  | overhead per %uB entry | %.1f B           | %lu items: index %lu B + "
	       "chunks %lu B (32 B item header, size-class rounding) over key+value %u B; arena %lu B\n",
	       vlen_g, per, (unsigned long)st.items, (unsigned long)st.index_bytes, (unsigned long)st.mem_used,
	       KLEN + vlen_g, (unsigned long)st.mem_total);
}

/* A random cyclic pointer chase through `bytes` of memory, one pointer per
 * 64-byte line: the latency of one dependent load that misses (16 MiB: the
 * map's working set, beyond the caches of this VM's share) or hits L2. */
static void chase(size_t bytes, bool huge)
{
	size_t n = bytes / 64, i, steps = 4000000;
	uint64_t *a = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
		 *perm = malloc(n * sizeof(uint64_t)), t0, t1, p = 0;
	unsigned seed = 42;

	if (a == MAP_FAILED || !perm)
		die("mmap", ENOMEM);
	(void)madvise(a, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	for (i = 0; i < n; i++)
		perm[i] = i;
	for (i = n - 1; i > 0; i--) {
		size_t j = (size_t)rand_r(&seed) % (i + 1);
		uint64_t x = perm[i];

		perm[i] = perm[j];
		perm[j] = x;
	}
	for (i = 0; i < n; i++)
		a[perm[i] * 8] = perm[(i + 1) % n] * 8;
	for (i = 0; i < n; i++) /* warm */
		p = a[p];
	t0 = now_ns();
	for (i = 0; i < steps; i++) {
		p = a[p];
		__asm__ __volatile__("" : "+r"(p)); /* each load waits for the last */
	}
	t1 = now_ns();
	printf("memory floor%s | dependent load, %zu KiB | %.1f ns | random pointer chase, one per 64 B line, "
	       "%zu loads (%s)%s\n",
	       huge ? " (huge pages)      " : "                   ", bytes >> 10, (double)(t1 - t0) / (double)steps, steps,
	       huge ? "anonymous memory with MADV_HUGEPAGE: no TLB misses; shm gets this only where shmem THP is on"
		    : "4 KiB pages like the map's shm here: TLB misses included",
	       p == 1 ? " " : "");
	munmap(a, bytes);
	free(perm);
}

int main(int argc, char **argv)
{
	struct shared *sh;
	uint32_t *keys[MAXPROC];
	struct run runs[16];
	double med, share_med;
	long reps = env_long("REPS", 3), run_ms = env_long("RUN_MS", 600);
	struct tend_map_stats st0, st1;
	int i;

	if (argc == 2 && !strcmp(argv[1], "floor"))
		argv[2] = "-", argc = 3;
	if (argc < 3) {
		fprintf(stderr, "usage: %s tend|lmdb|mc get|mix|set|lat|mem|hot [VALUE NPROC [GETPCT [PIPE]]]\n", argv[0]);
		return 2;
	}
	what_g = argv[1];
	op_g = argv[2];
	if (!strcmp(what_g, "floor")) {
		chase((size_t)16 << 20, false);
		chase((size_t)16 << 20, true);
		chase((size_t)256 << 10, false);
		return 0;
	}
	vlen_g = argc > 3 ? (unsigned)atoi(argv[3]) : 64;
	nproc_g = argc > 4 ? atoi(argv[4]) : 2;
	getpct_g = !strcmp(op_g, "mix") && argc > 5 ? atoi(argv[5]) : !strcmp(op_g, "set") ? 0 : 100;
	pipe_g = argc > 6 ? atoi(argv[6]) : 1;
	if (nproc_g < 1 || nproc_g > MAXPROC || reps < 1 || reps > 16 || vlen_g < 8)
		die("arguments", EINVAL);
	make_keys();
	for (i = 0; i < MAXPROC; i++)
		keys[i] = zipf_table(1234u + (unsigned)i);
	load();
	if (!strcmp(op_g, "mem")) {
		memory();
		cleanup();
		return 0;
	}
	if (!strcmp(op_g, "lat")) {
		latency(keys);
		cleanup();
		return 0;
	}
	if (!strcmp(op_g, "hot")) {
		/* every draw the same key: everything in L1, the CPU cost */
		for (i = 0; i < (int)DRAWS; i++)
			keys[0][i] = keys[1][i] = 12345;
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap", errno);
	if (map_g)
		tend_map_stats(map_g, &st0);
	for (i = 0; i < reps; i++)
		runs[i].rate = one_run(sh, keys, run_ms, &runs[i].share);
	qsort(runs, (size_t)reps, sizeof(*runs), cmp_run);
	med = runs[reps / 2].rate;
	share_med = runs[reps / 2].share;
	{
		char name[96], metric[64], det[256];
		const char *who = !strcmp(what_g, "tend") ? "tend_map"
				  : !strcmp(what_g, "lmdb") ? "LMDB"
							    : "memcached unix";

		snprintf(name, sizeof(name), "%s%s%s", who,
			 !strcmp(what_g, "lmdb") && env_long("LMDB_RENEW", 1) == 0 ? " (one read txn)" : "",
			 !strcmp(what_g, "mc") && pipe_g > 1 ? " pipelined" : "");
		if (!strcmp(op_g, "mix"))
			snprintf(metric, sizeof(metric), "%d/%d get/set %uB %dP", getpct_g, 100 - getpct_g, vlen_g, nproc_g);
		else
			snprintf(metric, sizeof(metric), "%s %uB %dP", !strcmp(op_g, "hot") ? "get 1 hot key" : op_g, vlen_g,
				 nproc_g);
		snprintf(det, sizeof(det), "median of %ld runs of %ld ms, range %.2fM-%.2fM; 100k keys of 16 B, Zipf 0.99%s",
			 reps, run_ms, runs[0].rate / 1e6, runs[reps - 1].rate / 1e6,
			 !strcmp(what_g, "mc") ? (pipe_g > 1 ? "; 64 requests per write" : "; one request per write")
			 : !strcmp(what_g, "lmdb") ? "; MDB_NOSYNC, a write txn per set, read txn reset/renewed"
						   : "");
		printf("%-32s | %-22s | %.0f ops/s | %s", name, metric, med, det);
		/* workers that wait on a socket use little CPU by design: only
		 * the in-process stores say what CPU they were given */
		if (strcmp(what_g, "mc") != 0)
			printf("; workers on a CPU %.0f%% of that run", share_med * 100);
		if (map_g) {
			tend_map_stats(map_g, &st1);
			printf("; seqlock retries per get %.5f",
			       (double)(st1.read_retries - st0.read_retries) /
				       (double)(st1.hits - st0.hits + st1.misses - st0.misses + 1));
		}
		printf("\n");
	}
	cleanup();
	return 0;
}
