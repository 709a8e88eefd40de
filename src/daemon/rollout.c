/*
 * Rolling restarts: one instance at a time, a replacement starts beside the
 * old one (its own cgroup leaf, the same shared socket), and only once it is
 * RUNNING (ready, with ready=) does the old one drain and stop.  Serving
 * capacity never drops below what it was.
 */
#include "daemon/supervisor-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/log.h"

#define OLD_STOP_TIMEOUT_NS (300 * NSEC_PER_SEC)

struct rolling {
	struct supervisor *sv;
	struct inst **targets;   /* the instances to replace, in order */
	size_t n, next;
	struct slot *old, *nw;   /* the pair in flight */
	pid_t old_pid, new_pid;  /* nw may be gone (a reload) by the time old has stopped */
	char *new_name;
	struct waiter *w;
	rolling_cb *cb;
	void *ctx;
	struct rollout_step *steps;
	size_t nsteps;
};

static void rolling_step(struct rolling *r);

static void add_step(struct rolling *r, const char *name, bool ok, char *message)
{
	struct rollout_step *st;

	r->steps = xrealloc(r->steps, (r->nsteps + 1) * sizeof(*r->steps));
	st = &r->steps[r->nsteps++];
	st->name = xstrdup(name);
	st->ok = ok;
	st->old_pid = ok ? r->old_pid : 0;
	st->pid = ok ? r->new_pid : 0;
	st->message = message;
}

static void rolling_finish(struct rolling *r, bool ok)
{
	if (r->cb)
		r->cb(r->ctx, ok, r->steps, r->nsteps);
	for (size_t i = 0; i < r->nsteps; i++) {
		free(r->steps[i].name);
		free(r->steps[i].message);
	}
	free(r->steps);
	r->sv->rollouts--;
	free(r->targets);
	free(r->new_name);
	free(r);
}

/* Is t still one of ours (not removed by a reload meanwhile)? */
static bool alive_inst(const struct supervisor *s, const struct inst *t)
{
	for (size_t i = 0; i < s->ninst; i++)
		if (s->insts[i] == t)
			return true;
	return false;
}

static void rolling_old_stopped(struct waiter *w, void *ctx)
{
	struct rolling *r = ctx;

	(void)w;
	r->w = NULL;
	add_step(r, r->new_name, true, xasprintf("replaced pid %d by %d", (int)r->old_pid, (int)r->new_pid));
	rolling_step(r);
}

static void rolling_new_settled(struct waiter *w, void *ctx)
{
	struct rolling *r = ctx;
	struct supervisor *s = r->sv;
	struct slot *old = r->old, *nw = r->nw;
	struct inst *t = &old->in;

	(void)w;
	r->w = NULL;
	if (nw->in.state != PS_RUNNING || s->shutting_down) {
		/* the replacement did not come up: it goes, the old one keeps serving */
		log_warn("rolling restart: %s: the replacement did not become ready (%s); stopping",
			 nw->in.cfg->fullname, pstate_name(nw->in.state));
		add_step(r, nw->in.cfg->fullname, false,
			 xstrdup(nw->in.last_reason ? nw->in.last_reason : pstate_name(nw->in.state)));
		slot_retire(nw);
		sv_kick(s);
		rolling_finish(r, false);
		return;
	}
	/* ready: now the old one drains and stops, and then goes */
	log_info("rolling restart: %s pid %d is ready; retiring pid %d", nw->in.cfg->fullname, (int)nw->in.pid,
		 (int)old->in.pid);
	r->old_pid = old->in.pid;
	r->new_pid = nw->in.pid;
	free(r->new_name);
	r->new_name = xstrdup(nw->in.cfg->fullname);
	slot_retire(old);
	r->w = sv_wait(s, WAIT_STOP, &t, 1, OLD_STOP_TIMEOUT_NS, rolling_old_stopped, r);
	sv_relink(s);
	sv_kick(s);
}

static void rolling_step(struct rolling *r)
{
	struct supervisor *s = r->sv;

	while (r->next < r->n) {
		struct inst *t = r->targets[r->next++], *ni, **insts;
		struct slot *old, *nw;
		size_t k = 0;

		if (!alive_inst(s, t) || !sv_visible(t) || t->state != PS_RUNNING)
			continue; /* gone meanwhile, or not running: nothing to keep serving */
		old = slot_of(t);
		nw = slot_new(s, old->owner, old->in.cfg);
		nw->gen = old->gen + 1;
		nw->in.pending_start = true; /* sv_relink below puts it on the agenda */
		/* the replacement takes the old one's place in the table */
		insts = xcalloc(s->ninst + 2, sizeof(*insts));
		for (size_t i = 0; i < s->ninst; i++) {
			insts[k++] = s->insts[i];
			if (s->insts[i] == t)
				insts[k++] = &nw->in;
		}
		free(s->insts);
		s->insts = insts;
		s->ninst = k;
		sv_relink(s);
		r->old = old;
		r->nw = nw;
		log_info("rolling restart: starting a replacement for %s (pid %d)", t->cfg->fullname, (int)t->pid);
		ni = &nw->in;
		r->w = sv_wait(s, WAIT_START, &ni, 1,
			       t->cfg->ready_timeout_ns + t->cfg->startsecs_ns + 10 * NSEC_PER_SEC,
			       rolling_new_settled, r);
		sv_kick(s);
		return;
	}
	rolling_finish(r, true);
}

void sv_rolling_restart(struct supervisor *s, struct inst **targets, size_t n, rolling_cb *cb, void *ctx,
			struct rolling **ret)
{
	struct rolling *r = xcalloc(1, sizeof(*r));

	r->sv = s;
	r->targets = insts_copy(targets, n);
	r->n = n;
	r->cb = cb;
	r->ctx = ctx;
	s->rollouts++;
	*ret = r;
	rolling_step(r); /* last: it may finish and free r */
}

void sv_rolling_cancel(struct rolling *r)
{
	/* the restart goes on (a half-done one is worse); only its answer is dropped */
	r->cb = NULL;
}
