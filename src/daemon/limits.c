/*
 * Limits and usage: an instance's cgroup leaf (made at its first start with
 * memory_limit, cpu_quota and tasks_max), the OOM events of that leaf, the
 * RSS polling that enforces memory_limit where no memory cgroup can, and the
 * memory and CPU figures status and metrics show.
 */
#include "daemon/supervisor-internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "sys/procscan.h"

/* Without a memory cgroup, memory_limit is checked by polling RSS, only while it matters. */
#define RSS_POLL_NS (1 * NSEC_PER_SEC)

/*
 * The leaf's OOM count went up: the kernel killed something over the limit.
 * Whatever it left of the program goes too (memory.oom.group does this on
 * v2 already); the exit then reads "memory-limit".
 */
static void on_oom(struct loop *l, struct io_watch *w, uint32_t revents)
{
	struct slot *sl = container_of(w, struct slot, oomw);
	uint64_t n;

	(void)l;
	(void)revents;
	cg_root_oom_ack(&sl->sv->cg, &sl->cg);
	n = cg_leaf_oom_kills(&sl->cg);
	if (n <= sl->cg.oom_kills)
		return;
	log_warn("%s: over its memory limit (%llu OOM kill%s): killing it", sl->in.cfg->fullname,
		 (unsigned long long)(n - sl->cg.oom_kills), n - sl->cg.oom_kills == 1 ? "" : "s");
	sl->cg.oom_kills = n;
	sl->mem_killed = true;
	if (sl->in.pid)
		cg_leaf_kill(&sl->cg, 0);
}

int slot_ensure_leaf(struct slot *sl)
{
	struct supervisor *s = sl->sv;
	const struct prog_config *pc = sl->in.cfg;
	struct cg_limits lim = {
		.memory = pc->memory_limit,
		.cpu_percent = pc->cpu_quota,
		.tasks = pc->tasks_max,
	};
	int r;

	if (sl->cg_made || s->cg.kind == CG_OFF)
		return 0;
	if (sl->gen) {
		/* a rolling replacement runs beside its predecessor: a leaf of its own */
		char name[300];

		snprintf(name, sizeof(name), "%s~%u", pc->fullname, sl->gen);
		r = cg_leaf_create(&s->cg, &sl->cg, name, &lim);
	} else {
		r = cg_leaf_create(&s->cg, &sl->cg, pc->fullname, &lim);
	}
	if (r < 0)
		log_warn("%s: cgroup limits not applied: %s", pc->fullname, strerror(-r));
	sl->cg_made = true;
	if (sl->cg.oom_fd >= 0)
		loop_io_add(&s->loop, &sl->oomw, sl->cg.oom_fd, cg_root_oom_events(&s->cg), on_oom);
	return r;
}

void slot_drop_leaf(struct slot *sl)
{
	if (!sl->cg_made)
		return;
	loop_io_del(&sl->sv->loop, &sl->oomw);
	cg_leaf_remove(&sl->cg, 500);
	sl->cg_made = false;
}

static bool rss_poll_needed(const struct supervisor *s)
{
	if (cg_root_has_memory(&s->cg))
		return false;
	for (size_t i = 0; i < s->ninst; i++)
		if (s->insts[i]->cfg->memory_limit && s->insts[i]->pid)
			return true;
	return false;
}

/*
 * Sum the resident memory of every process in each limited instance's session
 * (a program starts its own; what stays in it is its tree) and kill the
 * instances over their limit, as the seeds' supervisor did.
 */
static void on_rss_poll(struct loop *l, struct timer *t)
{
	struct supervisor *s = sv_of_loop(l);
	uint64_t *sum = xcalloc(s->ninst + 1, sizeof(*sum));
	struct proc_table tab;

	if (proc_scan(&tab) == 0) {
		for (size_t k = 0; k < tab.n; k++)
			for (size_t i = 0; i < s->ninst; i++)
				if (s->insts[i]->pid == tab.v[k].sid && s->insts[i]->cfg->memory_limit)
					sum[i] += tab.v[k].rss_bytes;
		proc_table_done(&tab);
	}
	for (size_t i = 0; i < s->ninst; i++) {
		struct inst *in = s->insts[i];

		if (!in->pid || !in->cfg->memory_limit || sum[i] <= in->cfg->memory_limit || slot_of(in)->mem_killed)
			continue;
		log_warn("%s: %llu bytes resident, over its memory_limit of %llu: killing it", in->cfg->fullname,
			 (unsigned long long)sum[i], (unsigned long long)in->cfg->memory_limit);
		slot_of(in)->mem_killed = true;
		in->ops->kill(in, SIGKILL, true);
	}
	free(sum);
	if (rss_poll_needed(s))
		loop_timer_start(l, t, RSS_POLL_NS, on_rss_poll);
}

void sv_rss_watch(struct supervisor *s)
{
	if (!timer_armed(&s->rss_timer) && rss_poll_needed(s))
		loop_timer_start(&s->loop, &s->rss_timer, RSS_POLL_NS, on_rss_poll);
}

static void read_usage(struct slot *sl, struct sv_usage *u)
{
	struct inst *in = &sl->in;
	struct proc_info p;
	struct cg_stats st;

	memset(u, 0, sizeof(*u));
	u->source = "proc";
	if (sl->cg_made) {
		cg_leaf_stats(&sl->cg, &st);
		if (st.have_mem) {
			u->mem_current = st.mem_current;
			u->mem_peak = st.mem_peak;
			u->source = st.mem_rss ? "proc" : "cgroup";
		}
		if (st.have_cpu)
			u->cpu_usec = st.cpu_usec;
		if (st.have_mem && st.have_cpu)
			return;
	}
	if (in->pid && proc_read(in->pid, &p) == 0) {
		if (!u->mem_current)
			u->mem_current = p.rss_bytes;
		if (!u->cpu_usec)
			u->cpu_usec = p.cpu_ticks * 1000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK);
	}
}

/* The refresh of listed figures: at most this much reading per tick, ticks at least this far apart. */
#define USAGE_SLICE_NS (2 * NSEC_PER_MSEC)
#define USAGE_TICK_NS (50 * NSEC_PER_MSEC)
/* and only while a list was asked for within the last minute: no wake-ups when nobody looks */
#define USAGE_WATCH_NS (60 * NSEC_PER_SEC)

/* How long a flush of the tree's CPU figures serves the leaves read after it. */
#define USAGE_FLUSH_NS (100 * NSEC_PER_MSEC)

static void refresh_usage(struct slot *sl, int64_t now)
{
	struct supervisor *s = sl->sv;

	if (sl->cg_made && now - s->usage_flush_ns > USAGE_FLUSH_NS) {
		cg_root_flush_stats(&s->cg);
		s->usage_flush_ns = now;
	}
	sl->usage_ns = now;
	sl->usage_pid = sl->in.pid;
	read_usage(sl, &sl->usage);
}

/*
 * Read again the figures of running instances that are SV_USAGE_MAX_AGE_NS
 * old, going round the table from where the last tick stopped, for at most
 * USAGE_SLICE_NS; then sleep until the oldest is due.  Reading costs three
 * cgroup files per instance (about 40 us on this VM), so 10,000 programs
 * take 20 s of ticks to go round, at most 4% of a CPU.
 */
static void on_usage_tick(struct loop *l, struct timer *t)
{
	struct supervisor *s = sv_of_loop(l);
	int64_t start = mono_ns(), now = start, due = SV_USAGE_MAX_AGE_NS;

	if (now - s->usage_listed_ns > USAGE_WATCH_NS)
		return;
	for (size_t k = 0; k < s->ninst; k++) {
		size_t i = (s->usage_next + k) % s->ninst;
		struct slot *sl = slot_of(s->insts[i]);
		int64_t left;

		if (!sl->in.pid)
			continue;
		left = sl->usage_ns + SV_USAGE_MAX_AGE_NS - now;
		if (sl->usage_ns && sl->usage_pid == sl->in.pid && left > 0) {
			due = MIN(due, left);
			continue;
		}
		if (now - start >= USAGE_SLICE_NS) {
			s->usage_next = i;
			due = 0;
			break;
		}
		refresh_usage(sl, now);
		now = mono_ns();
	}
	loop_timer_start(l, t, MAX(due, USAGE_TICK_NS), on_usage_tick);
}

void sv_usage(struct inst *in, int64_t max_age_ns, struct sv_usage *u)
{
	struct slot *sl = slot_of(in);
	struct supervisor *s = sl->sv;
	int64_t now = mono_ns();
	bool known = sl->usage_ns && sl->usage_pid == in->pid;

	if (max_age_ns == SV_USAGE_LISTED) {
		s->usage_listed_ns = now;
		if (!timer_armed(&s->usage_timer))
			loop_timer_start(&s->loop, &s->usage_timer, SV_USAGE_MAX_AGE_NS, on_usage_tick);
		max_age_ns = INT64_MAX;
	}
	if (!known || now - sl->usage_ns >= max_age_ns)
		refresh_usage(sl, now);
	*u = sl->usage;
}
