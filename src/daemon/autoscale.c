/*
 * Pools sized on CPU load (numprocs_min/numprocs_max): a tick reads each
 * pool's CPU time, scale.c decides from plain numbers, and sv_scale()
 * applies the decision.  sv_scale() is also `tend scale`.
 */
#include "daemon/supervisor-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"
#include "daemon/scale.h"

/* an autoscaled program */
struct pool_stat {
	struct pool_stat *next;
	char *program;
	int64_t last_tick;   /* when the CPU was last read */
	uint64_t last_cpu;   /* the pool's CPU time then (us) */
	bool have_cpu;
	int64_t last_change;
};

static struct pool_stat *pool_stat_of(struct supervisor *s, const char *program)
{
	struct pool_stat *p;

	for (p = s->pools; p; p = p->next)
		if (strcmp(p->program, program) == 0)
			return p;
	p = xcalloc(1, sizeof(*p));
	p->program = xstrdup(program);
	p->last_change = mono_ns();
	p->next = s->pools;
	s->pools = p;
	return p;
}

void autoscale_done(struct supervisor *s)
{
	loop_timer_stop(&s->loop, &s->scale_timer);
	while (s->pools) {
		struct pool_stat *p = s->pools;

		s->pools = p->next;
		free(p->program);
		free(p);
	}
}

/* counted as part of the pool's size: running, starting, or about to start */
static bool pool_active(const struct inst *in)
{
	return !in->pending_stop && (!pstate_is_stopped(in->state) || in->pending_start);
}

static void notify_scaled(struct supervisor *s, const char *program, int from, int to, const char *reason)
{
	for (struct sv_observer *o = s->observers; o; o = o->next)
		if (o->scaled)
			o->scaled(o, program, from, to, reason);
}

int sv_scale(struct supervisor *s, const char *program, int n, const char *reason)
{
	struct inst **v = xcalloc(s->ninst + 1, sizeof(*v));
	size_t nv = 0;
	int active = 0, lo = 0, hi;

	for (size_t i = 0; i < s->ninst; i++) {
		struct inst *in = s->insts[i];

		if (sv_visible(in) && strcmp(in->cfg->program, program) == 0) {
			v[nv++] = in;
			active += pool_active(in);
		}
	}
	if (nv == 0) {
		free(v);
		return -ENOENT;
	}
	hi = (int)nv;
	if (v[0]->cfg->pool_max) {
		lo = v[0]->cfg->pool_min;
		hi = MIN(hi, v[0]->cfg->pool_max);
	}
	if (n < lo || n > hi) {
		free(v);
		return -ERANGE;
	}
	if (n != active) {
		log_info("scale: %s %d -> %d (%s)", program, active, n, reason);
		notify_scaled(s, program, active, n, reason);
		pool_stat_of(s, program)->last_change = mono_ns();
	}
	/* instances are in process_num order: grow from the bottom, shrink from the top */
	for (size_t i = 0, k = (size_t)active; i < nv && (int)k < n; i++) {
		if (!pool_active(v[i])) {
			sv_start(s, v[i]);
			k++;
		}
	}
	for (size_t i = nv, k = (size_t)active; i-- > 0 && (int)k > n;) {
		if (pool_active(v[i])) {
			sv_stop(s, v[i]);
			k--;
		}
	}
	free(v);
	return active;
}

static void scale_pool(struct supervisor *s, const struct prog_config *pc, int64_t now)
{
	struct pool_stat *ps = pool_stat_of(s, pc->program);
	uint64_t cpu = 0;
	int active = 0, running = 0;
	struct scale_input in;
	char reason[160];
	double pct = 0;
	int want;

	if (ps->have_cpu && now - ps->last_tick < pc->scale_interval_ns - NSEC_PER_SEC / 100)
		return;
	for (size_t i = 0; i < s->ninst; i++) {
		struct inst *x = s->insts[i];
		struct sv_usage u;

		if (strcmp(x->cfg->program, pc->program) != 0)
			continue;
		sv_usage(x, 0, &u); /* fresh: the load since the last tick */
		cpu += u.cpu_usec;
		if (sv_visible(x)) {
			active += pool_active(x);
			running += x->state == PS_RUNNING;
		}
	}
	if (ps->have_cpu && (cpu < ps->last_cpu || s->rollouts)) {
		/* a counter that went back (an instance gone with its usage) says
		 * nothing about the load, and a rolling restart's replacement is not
		 * one more instance: read again next time */
		ps->last_cpu = cpu;
		ps->last_tick = now;
		return;
	}
	if (ps->have_cpu && now > ps->last_tick)
		pct = (double)(cpu - ps->last_cpu) / 1e6 / ((double)(now - ps->last_tick) / 1e9) /
		      MAX(running, 1) * 100;
	in = (struct scale_input){ .min = pc->pool_min, .max = pc->pool_max, .current = active,
				   .cpu_percent = pct, .target = pc->scale_target,
				   .since_change_ns = now - ps->last_change, .cooldown_ns = pc->scale_cooldown_ns };
	if (!ps->have_cpu) /* the first reading has nothing to compare with */
		in.since_change_ns = 0, in.cooldown_ns = 1;
	ps->have_cpu = true;
	ps->last_cpu = cpu;
	ps->last_tick = now;
	want = scale_decide(&in, reason, sizeof(reason));
	if (want != active)
		sv_scale(s, pc->program, want, reason);
}

static void on_scale_tick(struct loop *l, struct timer *t)
{
	struct supervisor *s = container_of(t, struct supervisor, scale_timer);
	int64_t now = mono_ns();

	(void)l;
	if (s->shutting_down)
		return;
	for (size_t i = 0; i < s->cfg->nprocs; i++) {
		const struct prog_config *pc = s->cfg->procs[i];

		if (pc->pool_max && (i == 0 || strcmp(s->cfg->procs[i - 1]->program, pc->program) != 0))
			scale_pool(s, pc, now);
	}
	autoscale_arm(s);
}

void autoscale_arm(struct supervisor *s)
{
	int64_t every = 0;

	for (size_t i = 0; i < s->cfg->nprocs; i++)
		if (s->cfg->procs[i]->pool_max && (!every || s->cfg->procs[i]->scale_interval_ns < every))
			every = s->cfg->procs[i]->scale_interval_ns;
	if (!every)
		loop_timer_stop(&s->loop, &s->scale_timer);
	else if (!timer_armed(&s->scale_timer))
		loop_timer_start(&s->loop, &s->scale_timer, every, on_scale_tick);
}
