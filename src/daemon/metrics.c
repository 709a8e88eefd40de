/*
 * The public endpoints, for load balancers and Prometheus: /healthz,
 * /readyz[/NAME] and /metrics.  Public means no credentials, also over TCP,
 * so they answer status-level figures only: names, states and counts,
 * never log contents, commands or paths.
 */
#include "daemon/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "daemon/api-internal.h"
#include "daemon/cmd.h"
#include "daemon/maps.h"
#include "sys/procscan.h"

void r_healthz(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	(void)a;
	(void)req;
	(void)args;
	conn_reply(c, 200, "text/plain", "ok\n", 3);
}

/*
 * GET /readyz: 200 when every program has as many ready instances (RUNNING,
 * not draining) as its config has autostart instances (a pool:
 * numprocs_min); 503 while starting, failing, draining or shutting down.
 * During a rolling restart a replacement counts once ready and the old
 * instance stops counting when it drains, so the answer stays 200.
 * GET /readyz/NAME: 200 when at least one instance NAME names is ready: the
 * health check of a pool behind its shared socket (503 once all drain).
 */
void r_readyz(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	const char *name = args[0];
	struct sbuf b = SBUF_INIT;
	struct cmd_ready rd;

	(void)req;
	if (cmd_ready(api_supervisor(a), name, &rd) < 0) {
		conn_reply(c, 404, "text/plain", "no such program\n", 16);
		return;
	}
	if (rd.shutting_down)
		sbuf_adds(&b, "shutting down\n");
	for (size_t i = 0; i < rd.n; i++) {
		if (name)
			sbuf_printf(&b, "%s %s\n", rd.v[i].name, rd.v[i].state);
		else
			sbuf_printf(&b, "%s %zu of %zu ready\n", rd.v[i].name, rd.v[i].have, rd.v[i].need);
	}
	if (rd.ready)
		sbuf_adds(&b, "ready\n");
	conn_reply(c, rd.ready ? 200 : 503, "text/plain", b.s, b.len);
	sbuf_done(&b);
	cmd_ready_done(&rd);
}

/* A label value: backslash, double quote and newline escaped. */
static void label(struct sbuf *b, const char *s)
{
	sbuf_addc(b, '"');
	for (;;) {
		size_t n = strcspn(s, "\\\"\n"); /* runs without escapes, added whole */

		sbuf_add(b, s, n);
		s += n;
		if (!*s)
			break;
		sbuf_adds(b, *s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\");
		s++;
	}
	sbuf_addc(b, '"');
}

/*
 * Each instance's labels, escaped once per scrape (ten series use them):
 * "{name=...,program=...,group=..." (the caller closes the braces), the
 * i-th from s + off[i] to s + off[i + 1].
 */
struct labels {
	struct sbuf b;
	size_t *off;
};

static void labels_make(struct labels *l, const struct targets *t)
{
	l->b = (struct sbuf)SBUF_INIT;
	l->off = xcalloc(t->n + 1, sizeof(*l->off));
	for (size_t i = 0; i < t->n; i++) {
		const struct prog_config *pc = t->v[i]->cfg;

		sbuf_adds(&l->b, "{name=");
		label(&l->b, pc->fullname);
		sbuf_adds(&l->b, ",program=");
		label(&l->b, pc->program);
		sbuf_adds(&l->b, ",group=");
		label(&l->b, pc->group);
		l->off[i + 1] = l->b.len;
	}
}

static void labels_done(struct labels *l)
{
	sbuf_done(&l->b);
	free(l->off);
}

static void series(struct sbuf *b, const char *metric, const struct labels *l, size_t i)
{
	sbuf_adds(b, metric);
	sbuf_add(b, l->b.s + l->off[i], l->off[i + 1] - l->off[i]);
}

/* The tend_map_* series: one per map tend holds (maps=) */
static void maps_series(struct sbuf *b, struct supervisor *s)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{ "tend_map_items", "gauge", "Items stored in each shared map (maps=)." },
		{ "tend_map_bytes", "gauge", "Bytes of the keys and values stored in each shared map." },
		{ "tend_map_hits_total", "counter", "Gets that found their key." },
		{ "tend_map_misses_total", "counter", "Gets that did not find their key." },
		{ "tend_map_evictions_total", "counter", "Items evicted to make room." },
	};
	struct map_view *v;
	size_t n = maps_views_all(s, &v);

	for (size_t k = 0; n && k < ARRAY_SIZE(fam); k++) {
		sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fam[k].name, fam[k].help, fam[k].name, fam[k].type);
		for (size_t i = 0; i < n; i++) {
			const struct tend_map_stats *st = &v[i].st;
			const uint64_t val[] = { st->items, st->bytes, st->hits, st->misses, st->evictions };

			sbuf_printf(b, "%s{program=", fam[k].name);
			label(b, v[i].program);
			sbuf_adds(b, ",map=");
			label(b, v[i].name);
			sbuf_printf(b, "} %llu\n", (unsigned long long)val[k]);
		}
	}
	maps_views_free(v, n);
}

/*
 * System-wide zombies and orphans: a scan of every process in /proc, the
 * costliest part of a scrape on a host with thousands of processes (190 ms
 * for 10,000 on a small VM).  The first scrape scans before it answers;
 * after that a scrape that finds the counts SYSTEM_COUNT_MAX_AGE_NS old
 * answers them as they are and starts a scan in the background, in slices
 * of SYSTEM_SCAN_SLICE entries at least SYSTEM_SCAN_TICK_NS apart (a gauge a
 * few seconds old alerts as well; no scrape waits for it, and nothing runs
 * when nobody scrapes).
 */
#define SYSTEM_COUNT_MAX_AGE_NS (5 * NSEC_PER_SEC)
#define SYSTEM_SCAN_SLICE 100
#define SYSTEM_SCAN_TICK_NS (20 * NSEC_PER_MSEC)

static void count_table(struct api *a, const struct proc_table *t)
{
	a->sys_count_ns = mono_ns();
	a->sys_zombies = a->sys_orphans = 0;
	for (size_t i = 0; i < t->n; i++) {
		a->sys_zombies += t->v[i].state == 'Z';
		a->sys_orphans += proc_is_orphan(t, &t->v[i]);
	}
}

static void on_system_scan(struct loop *l, struct timer *t)
{
	struct api *a = container_of(t, struct api, sys_timer);
	int r = proc_scan_step(&a->sys_scan, SYSTEM_SCAN_SLICE);

	if (r == 0) {
		loop_timer_start(l, t, SYSTEM_SCAN_TICK_NS, on_system_scan);
		return;
	}
	if (r > 0)
		count_table(a, &a->sys_scan.t);
	proc_scanner_done(&a->sys_scan);
}

static void system_counts(struct api *a, struct loop *l)
{
	struct proc_table t;

	if (timer_armed(&a->sys_timer))
		return; /* a scan is under way */
	if (!a->sys_count_ns) {
		if (proc_scan(&t) == 0)
			count_table(a, &t);
		proc_table_done(&t);
		return;
	}
	if (mono_ns() - a->sys_count_ns < SYSTEM_COUNT_MAX_AGE_NS || proc_scan_begin(&a->sys_scan) < 0)
		return;
	a->sys_loop = l;
	loop_timer_start(l, &a->sys_timer, 0, on_system_scan);
}

void metrics_done(struct api *a)
{
	if (timer_armed(&a->sys_timer))
		loop_timer_stop(a->sys_loop, &a->sys_timer);
	proc_scanner_done(&a->sys_scan);
}

void r_metrics(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	static const enum exit_kind kinds[] = { EXIT_CODE, EXIT_SIGNAL, EXIT_EXEC, EXIT_STOPPED,
						EXIT_MEMORY, EXIT_RECYCLED };
	struct supervisor *s = api_supervisor(a);
	struct sbuf b = SBUF_INIT, mem = SBUF_INIT;
	struct targets all = { 0 };
	struct cmd_info info;
	struct labels lb;

	(void)req;
	(void)args;
	cmd_info(s, &info);
	(void)cmd_resolve(s, "all", NAMES_TEND, &all);
	labels_make(&lb, &all);
	/* about 850 bytes per instance: grown once, not copied at each doubling (8 MB at 10,000) */
	conn_body_begin(&b, all.n * 900 + 4096);
	sbuf_grow(&mem, all.n * 100 + 256);
	sbuf_adds(&b, "# HELP tend_up 1 while tend supervises.\n# TYPE tend_up gauge\n");
	sbuf_printf(&b, "tend_up %d\n", info.shutting_down ? 0 : 1);
	sbuf_adds(&b, "# HELP tend_program_state State of each instance, as supervisord's code "
		      "(0 STOPPED, 10 STARTING, 20 RUNNING, 30 BACKOFF, 40 STOPPING, 100 EXITED, 200 FATAL).\n"
		      "# TYPE tend_program_state gauge\n");
	for (size_t i = 0; i < all.n; i++) {
		series(&b, "tend_program_state", &lb, i);
		sbuf_adds(&b, ",state=\"");
		sbuf_adds(&b, pstate_name(all.v[i]->state));
		sbuf_adds(&b, "\"} ");
		sbuf_add_i64(&b, all.v[i]->state);
		sbuf_addc(&b, '\n');
	}
	sbuf_adds(&b, "# HELP tend_program_restarts_total Automatic restarts of each instance.\n"
		      "# TYPE tend_program_restarts_total counter\n");
	for (size_t i = 0; i < all.n; i++) {
		series(&b, "tend_program_restarts_total", &lb, i);
		sbuf_adds(&b, "} ");
		sbuf_add_u64(&b, all.v[i]->restarts);
		sbuf_addc(&b, '\n');
	}
	sbuf_adds(&b, "# HELP tend_program_cpu_seconds_total CPU time used (the cgroup's, else the main "
		      "process's).\n# TYPE tend_program_cpu_seconds_total counter\n");
	sbuf_adds(&mem, "# HELP tend_program_memory_bytes Memory in use (the cgroup's, else the main "
			"process's resident set).\n# TYPE tend_program_memory_bytes gauge\n");
	for (size_t i = 0; i < all.n; i++) {
		struct sv_usage u;

		sv_usage(all.v[i], SV_USAGE_LISTED, &u);
		series(&b, "tend_program_cpu_seconds_total", &lb, i);
		sbuf_adds(&b, "} ");
		sbuf_add_fixed(&b, (int64_t)((u.cpu_usec + 500) / 1000), 3);
		sbuf_addc(&b, '\n');
		series(&mem, "tend_program_memory_bytes", &lb, i);
		sbuf_adds(&mem, "} ");
		sbuf_add_u64(&mem, u.mem_current);
		sbuf_addc(&mem, '\n');
	}
	sbuf_add(&b, mem.s ? mem.s : "", mem.len);
	sbuf_done(&mem);
	sbuf_adds(&b, "# HELP tend_program_exits_total Exits of each instance by reason.\n"
		      "# TYPE tend_program_exits_total counter\n");
	for (size_t i = 0; i < all.n; i++) {
		for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
			series(&b, "tend_program_exits_total", &lb, i);
			sbuf_adds(&b, ",reason=\"");
			sbuf_adds(&b, exit_kind_name(kinds[k]));
			sbuf_adds(&b, "\"} ");
			sbuf_add_u64(&b, all.v[i]->exits[kinds[k]]);
			sbuf_addc(&b, '\n');
		}
	}
	maps_series(&b, s);
	system_counts(a, conn_loop(c));
	sbuf_printf(&b, "# HELP tend_system_zombies Zombie processes on the system (counted in the background, "
			"at most every %d s).\n"
			"# TYPE tend_system_zombies gauge\ntend_system_zombies %zu\n"
			"# HELP tend_system_orphans Orphaned processes on the system (see tend ps --orphans).\n"
			"# TYPE tend_system_orphans gauge\ntend_system_orphans %zu\n",
		    (int)(SYSTEM_COUNT_MAX_AGE_NS / NSEC_PER_SEC), a->sys_zombies, a->sys_orphans);
	conn_reply_take(c, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
	labels_done(&lb);
	targets_done(&all);
}
