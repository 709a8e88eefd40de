/*
 * Moving to a new config while programs run: match the instances of the
 * new config with the running ones, keep the ones that run the same process,
 * retire the ones that go or change (they stop, then their successors
 * start), and drop the retired ones once they have stopped.
 */
#include "daemon/supervisor-internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/listener.h"
#include "daemon/log.h"
#include "daemon/maps.h"
#include "daemon/logstream.h"
#include "daemon/ready.h"

const char *plan_action_name(enum plan_action a)
{
	static const char *const names[PLAN_NACTIONS] = {
		[PLAN_ADD] = "added", [PLAN_CHANGE] = "changed", [PLAN_UPDATE] = "updated",
		[PLAN_REMOVE] = "removed", [PLAN_KEEP] = "unchanged",
	};

	return (unsigned)a < PLAN_NACTIONS ? names[a] : "?";
}

void reload_plan_done(struct reload_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].name);
		free(p->v[i].group);
		free(p->v[i].old_group);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

static void plan_add(struct reload_plan *p, enum plan_action a, const struct prog_config *pc,
		     const struct prog_config *old)
{
	struct plan_entry *e;

	p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	e = &p->v[p->n++];
	e->action = a;
	e->name = xstrdup(pc->fullname);
	e->group = xstrdup(pc->group);
	e->old_group = old ? xstrdup(old->group) : NULL;
	p->count[a]++;
}

static bool active(const struct inst *in)
{
	return !pstate_is_stopped(in->state) || in->pending_start;
}

/* FNV-1a of an instance's (program, process_num): match_instances' key. */
static size_t instance_hash(const char *program, int num)
{
	uint64_t h = 1469598103934665603ULL;

	for (const unsigned char *p = (const unsigned char *)program; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return (size_t)((h ^ (uint32_t)num) * 1099511628211ULL);
}

/*
 * Pair each instance of nc with the running one it continues: the same
 * program name and process_num.  match[i] is the slot for nc->procs[i] (or
 * NULL: new); used[j] tells whether s->insts[j] was taken.  The running
 * ones are looked up in a hash table of their keys (open addressing,
 * s->insts indexes + 1; equal keys probe in table order, so the first
 * unused one wins, as a scan would find it): a reload of 10,000 programs
 * scanned the table for each of them, 300 M instructions of its 1.15 G.
 */
static void match_instances(struct supervisor *s, const struct config *nc, struct slot **match, bool *used)
{
	size_t cap = 16, mask, *tab;

	while (cap < 2 * s->ninst)
		cap *= 2;
	mask = cap - 1;
	tab = xcalloc(cap, sizeof(*tab));
	for (size_t j = 0; j < s->ninst; j++) {
		const struct inst *in = s->insts[j];
		size_t h = instance_hash(in->cfg->program, in->cfg->num) & mask;

		if (slot_of(in)->retiring)
			continue;
		while (tab[h])
			h = (h + 1) & mask;
		tab[h] = j + 1;
	}
	for (size_t i = 0; i < nc->nprocs; i++) {
		const struct prog_config *pc = nc->procs[i];

		for (size_t h = instance_hash(pc->program, pc->num) & mask; tab[h]; h = (h + 1) & mask) {
			size_t j = tab[h] - 1;
			const struct prog_config *old = s->insts[j]->cfg;

			if (used[j] || old->num != pc->num || strcmp(old->program, pc->program) != 0)
				continue;
			used[j] = true;
			match[i] = slot_of(s->insts[j]);
			break;
		}
	}
	free(tab);
}

static void make_plan(struct supervisor *s, const struct config *nc, struct slot **match, const bool *used,
		      struct reload_plan *p)
{
	for (size_t i = 0; i < nc->nprocs; i++) {
		const struct prog_config *pc = nc->procs[i], *old = match[i] ? match[i]->in.cfg : NULL;

		if (!old)
			plan_add(p, PLAN_ADD, pc, NULL);
		else if (!prog_config_same_process(old, pc))
			plan_add(p, PLAN_CHANGE, pc, old);
		else if (!prog_config_equal(old, pc))
			plan_add(p, PLAN_UPDATE, pc, old);
		else
			plan_add(p, PLAN_KEEP, pc, old);
	}
	for (size_t j = 0; j < s->ninst; j++)
		if (!used[j] && !slot_of(s->insts[j])->retiring)
			plan_add(p, PLAN_REMOVE, s->insts[j]->cfg, s->insts[j]->cfg);
}

/* Put the plan in force: the new table, the retired instances at its end. */
static void apply(struct supervisor *s, struct config *nc, struct slot **match, const bool *used)
{
	size_t nold = s->ninst, n = 0, kept = 0, kept_stopped = 0, added = 0, changed = 0, removed = 0;
	struct inst **insts = xcalloc(nc->nprocs + nold + 1, sizeof(*insts));

	for (size_t i = 0; i < nc->nprocs; i++) {
		struct prog_config *pc = nc->procs[i];
		struct slot *old = match[i], *sl;

		if (old && prog_config_same_process(old->in.cfg, pc)) {
			/* the same process: keep it running, take the new settings */
			if (strcmp(old->in.cfg->fullname, pc->fullname) != 0) {
				if (old->out)
					logstream_set_name(old->out, pc->fullname);
				if (old->err)
					logstream_set_name(old->err, pc->fullname);
			}
			config_unref(old->owner);
			old->owner = config_ref(nc);
			old->in.cfg = pc;
			slot_env_reset(old); /* environment= may be among the new settings */
			insts[n++] = &old->in;
			kept++;
			continue;
		}
		sl = slot_new(s, nc, pc);
		insts[n++] = &sl->in;
		if (!old) {
			sl->in.pending_start = pc->autostart;
			added++;
			continue; /* sv_relink below puts it on the agenda */
		}
		/* changed: the old one stops first, then the new one starts */
		sl->in.pending_start = pc->autostart || active(&old->in);
		old->retiring = true;
		old->successor = sl;
		sl->predecessor = old;
		changed++;
	}
	for (size_t j = 0; j < nold; j++) {
		struct slot *sl = slot_of(s->insts[j]);

		if (!used[j] || sl->successor) {
			removed += !used[j] && !sl->retiring;
			slot_retire(sl);
			if (sl->in.state == PS_STOPPING)
				inst_event(&sl->in, EV_STOP, NULL); /* cancels a queued restart */
			insts[n++] = &sl->in;
		}
	}
	free(s->insts);
	s->insts = insts;
	s->ninst = n;
	/* PROCESS_GROUP_REMOVED / _ADDED, as supervisorctl's update makes them */
	for (size_t i = 0; i < s->cfg->ngroups; i++)
		if (!config_group(nc, s->cfg->groups[i]->name))
			sv_notify_group(s, s->cfg->groups[i]->name, false);
	for (size_t i = 0; i < nc->ngroups; i++)
		if (!config_group(s->cfg, nc->groups[i]->name))
			sv_notify_group(s, nc->groups[i]->name, true);
	config_unref(s->cfg);
	s->cfg = config_ref(nc);
	listener_sweep(nc); /* a program gone, or its address changed: its socket closes */
	listeners_sync(s->listeners);
	maps_sweep(s, nc);  /* a program gone, or a map gone from its maps=: the map goes */
	sv_relink(s);
	autoscale_arm(s);
	sv_kick(s);
	/* a kept instance that is not running (supervisorctl reload stopped them all) is not "kept running" */
	log_info("reloaded %s: %zu added, %zu changed, %zu removed, %zu kept running", nc->path, added, changed,
		 removed, kept - kept_stopped);
	if (kept_stopped)
		log_info("reloaded %s: %zu kept, not running (they start as their autostart says)", nc->path,
			 kept_stopped);
}

int sv_reload(struct supervisor *s, struct config *nc, bool do_apply, struct reload_plan *ret_plan)
{
	struct slot **match;
	bool *used;

	if (ret_plan)
		memset(ret_plan, 0, sizeof(*ret_plan));
	if (s->shutting_down)
		return -ESHUTDOWN;
	match = xcalloc(nc->nprocs + 1, sizeof(*match));
	used = xcalloc(s->ninst + 1, sizeof(*used));
	match_instances(s, nc, match, used);
	if (ret_plan)
		make_plan(s, nc, match, used, ret_plan);
	if (do_apply)
		apply(s, nc, match, used);
	free(match);
	free(used);
	return 0;
}

void sv_bury_retired(struct supervisor *s)
{
	size_t n = 0;
	bool changed = false;

	for (size_t i = 0; i < s->ninst; i++) {
		struct slot *sl = slot_of(s->insts[i]);

		if (sl->retiring && pstate_is_stopped(sl->in.state) && !sl->in.pending_stop) {
			log_info("removed: %s", sl->in.cfg->fullname);
			slot_free(s, sl);
			changed = true;
			continue;
		}
		s->insts[n++] = s->insts[i];
	}
	s->ninst = n;
	if (changed)
		sv_relink(s);
}
