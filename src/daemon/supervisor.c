/*
 * The supervisor's table and the passes over it: which instance starts and
 * stops when, who waits for what, and the requests that move instances
 * (start, stop, restart, shutdown).  How a process is actually made and
 * signalled is the backend's (slot.c); exits come from reap.c.
 */
#include "daemon/supervisor-internal.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/events.h"
#include "daemon/listener.h"
#include "daemon/log.h"
#include "daemon/maps.h"
#include "daemon/logstream.h"
#include "daemon/ready.h"

/* Spawns per pass, so that starting 1000 programs never holds the loop for long. */
#define SPAWNS_PER_PASS 64

static void run_passes(struct loop *l, struct deferred *d);

void sv_kick(struct supervisor *s)
{
	loop_defer(&s->loop, &s->pass, run_passes);
}

struct supervisor *sv_of_loop(struct loop *l)
{
	return container_of(l, struct supervisor, loop);
}

/* ---- the agenda ------------------------------------------------------------------ */

void sv_agenda(struct slot *sl)
{
	struct supervisor *s = sl->sv;

	if (sl->on_agenda)
		return;
	if (s->nagenda == s->capagenda) {
		s->capagenda = s->capagenda ? s->capagenda * 2 : 64;
		s->agenda = xrealloc(s->agenda, s->capagenda * sizeof(*s->agenda));
	}
	s->agenda[s->nagenda++] = sl;
	sl->on_agenda = true;
}

static bool wants_pass(const struct slot *sl)
{
	return sl->in.pending_start || sl->in.pending_stop || sl->restart_requested || sl->retiring;
}

/* Drop what no longer needs the passes; say whether a stop or a burial is pending. */
static void agenda_trim(struct supervisor *s, bool *ret_stop, bool *ret_bury)
{
	size_t k = 0;

	*ret_stop = *ret_bury = false;
	for (size_t i = 0; i < s->nagenda; i++) {
		struct slot *sl = s->agenda[i];

		if (!wants_pass(sl)) {
			sl->on_agenda = false;
			continue;
		}
		*ret_stop |= sl->in.pending_stop;
		*ret_bury |= sl->retiring;
		s->agenda[k++] = sl;
	}
	s->nagenda = k;
}

static void agenda_drop(struct supervisor *s, struct slot *sl)
{
	for (size_t i = 0; sl->on_agenda && i < s->nagenda; i++) {
		if (s->agenda[i] == sl) {
			s->agenda[i] = s->agenda[--s->nagenda];
			sl->on_agenda = false;
		}
	}
}

/* ---- the instances' inst_ops: the backend's process, the loop's timers ------- */

static int sv_op_spawn(struct inst *in)
{
	struct slot *sl = slot_of(in);
	int r;

	/* a new process is not draining, whatever became of the last one's drain */
	slot_undrain(sl);
	r = sl->sv->backend->spawn(in);
	if (r == 0)
		sv_pid_put(sl);
	if (r == 0 && !in->exec_errno)
		slot_exec_ok_later(sl);
	return r;
}

static int sv_op_kill(struct inst *in, int sig, bool group)
{
	return sv_of(in)->backend->kill(in, sig, group);
}

static void on_inst_timer(struct loop *l, struct timer *t)
{
	struct inst *in = container_of(t, struct inst, timer);

	(void)l;
	inst_event(in, EV_TIMER, NULL);
}

static void sv_op_timer_start(struct inst *in, int64_t delay_ns)
{
	loop_timer_start(&sv_of(in)->loop, &in->timer, delay_ns, on_inst_timer);
}

static void sv_op_timer_stop(struct inst *in)
{
	loop_timer_stop(&sv_of(in)->loop, &in->timer);
}

void sv_notify_change(struct supervisor *s, const struct inst *in, enum pstate from)
{
	for (struct sv_observer *o = s->observers; o; o = o->next)
		if (o->changed)
			o->changed(o, in, from);
}

void sv_notify_output(struct supervisor *s, const struct inst *in, bool err, bool comm, const char *data,
		      size_t len)
{
	for (struct sv_observer *o = s->observers; o; o = o->next)
		if (o->output)
			o->output(o, in, err, comm, data, len);
}

void sv_notify_group(struct supervisor *s, const char *group, bool added)
{
	for (struct sv_observer *o = s->observers; o; o = o->next)
		if (o->group)
			o->group(o, group, added);
}

void sv_notify_daemon(struct supervisor *s, bool stopping)
{
	for (struct sv_observer *o = s->observers; o; o = o->next)
		if (o->daemon)
			o->daemon(o, stopping);
}

void sv_remote_event(struct supervisor *s, const char *type, const char *data, size_t len)
{
	for (struct sv_observer *o = s->observers; o; o = o->next)
		if (o->remote)
			o->remote(o, type, data, len);
}

static void sv_op_changed(struct inst *in, enum pstate from)
{
	struct supervisor *s = sv_of(in);

	if (sv_visible(in))
		sv_notify_change(s, in, from);
	slot_lifetime_update(slot_of(in));
	sv_kick(s);
}

static const struct inst_ops sv_inst_ops = {
	.spawn = sv_op_spawn,
	.kill = sv_op_kill,
	.timer_start = sv_op_timer_start,
	.timer_stop = sv_op_timer_stop,
	.changed = sv_op_changed,
	.now = mono_ns,
};

/* ---- passes -------------------------------------------------------------- */

static bool deps_running(const struct slot *s)
{
	for (size_t i = 0; i < s->ndeps; i++)
		if (s->deps[i]->state != PS_RUNNING)
			return false;
	return true;
}

static int cmp_start_pos(const void *a, const void *b)
{
	const struct slot *x = *(struct slot *const *)a, *y = *(struct slot *const *)b;

	return x->start_pos < y->start_pos ? -1 : x->start_pos > y->start_pos;
}

/*
 * Start what is pending, in start order.  The candidates are the agenda's
 * (sorted by their place in by_start), or, when most of the table is on it
 * (autostart of everything), by_start itself.
 */
/*
 * priority_waits: the lowest priority among the instances that are starting
 * (STARTING) or about to (a start pending that nothing else holds back);
 * higher priorities wait until that batch is RUNNING or has failed (BACKOFF,
 * FATAL), so the wait is bounded by its startsecs.  A walk of the whole
 * table: only with priority_waits.
 */
static int start_gate(const struct supervisor *s)
{
	int gate = INT_MAX;

	for (size_t i = 0; i < s->ninst; i++) {
		const struct inst *in = s->insts[i];
		const struct slot *sl = slot_of(in);

		if (sl->retiring || in->cfg->priority >= gate)
			continue;
		if (in->state == PS_STARTING ||
		    (in->pending_start && pstate_is_stopped(in->state) && deps_running(sl) && !sl->predecessor))
			gate = in->cfg->priority;
	}
	return gate;
}

static void start_pass(struct supervisor *s)
{
	struct slot **v;
	size_t n = 0;
	int spawned = 0, gate;

	if (s->shutting_down || s->nagenda == 0)
		return;
	v = xcalloc(s->nagenda + 1, sizeof(*v));
	if (s->nagenda > s->ninst / 8) {
		for (size_t i = 0; i < s->ninst; i++)
			if (slot_of(s->by_start[i])->on_agenda)
				v[n++] = slot_of(s->by_start[i]);
	} else {
		memcpy(v, s->agenda, s->nagenda * sizeof(*v));
		n = s->nagenda;
		qsort(v, n, sizeof(*v), cmp_start_pos);
	}
	gate = s->cfg->priority_waits ? start_gate(s) : INT_MAX;
	for (size_t i = 0; i < n; i++) {
		struct inst *in = &v[i]->in;

		if (!in->pending_start || !pstate_is_stopped(in->state))
			continue;
		if (!deps_running(v[i]) || v[i]->predecessor)
			continue;
		if (in->cfg->priority > gate)
			continue; /* priority_waits: a lower priority batch is not RUNNING yet */
		if (spawned == SPAWNS_PER_PASS) {
			sv_kick(s);
			break;
		}
		inst_event(in, EV_START, NULL);
		spawned++;
	}
	free(v);
}

static void issue_stop(struct inst *in)
{
	struct slot *sl = slot_of(in);

	if (in->cfg->drain_ns > 0 && in->state == PS_RUNNING && !sl->drained) {
		/* drain first: /readyz says 503 for it, the load balancer moves away, then the signal */
		slot_drain(sl);
		return;
	}
	slot_undrain(sl);
	in->pending_stop = false;
	inst_event(in, EV_STOP, NULL);
	if (sl->restart_requested) {
		sl->restart_requested = false;
		in->pending_start = true;
		sv_agenda(sl);
	}
}

static bool dependents_hold(const struct slot *sl)
{
	for (size_t i = 0; i < sl->nrdeps; i++) {
		const struct inst *d = sl->rdeps[i];

		if (d->state == PS_STOPPING || (d->pending_stop && !pstate_is_stopped(d->state)))
			return true;
	}
	return false;
}

static void stop_pass(struct supervisor *s)
{
	size_t i = 0;

	while (i < s->ninst) {
		int prio = slot_of(s->by_stop[i])->stop_prio;
		bool busy = false;
		size_t j;

		for (j = i; j < s->ninst && slot_of(s->by_stop[j])->stop_prio == prio; j++) {
			struct inst *in = s->by_stop[j];

			if (in->state == PS_STOPPING)
				busy = true;
			if (!in->pending_stop)
				continue;
			if (pstate_is_stopped(in->state) || in->state == PS_STOPPING) {
				in->pending_stop = false;
				continue;
			}
			if (dependents_hold(slot_of(in)))
				continue;
			issue_stop(in);
			if (in->state == PS_STOPPING || in->draining)
				busy = true;
		}
		/* a batch finishes before the next (lower priority) one starts */
		if (busy)
			return;
		i = j;
	}
}

/* fire_waiter: unlink the waiter *PW, answer it and free it */
static void fire_waiter(struct supervisor *s, struct waiter **pw)
{
	struct waiter *w = *pw;

	*pw = w->next;
	loop_timer_stop(&s->loop, &w->timeout);
	w->cb(w, w->ctx);
	free(w->targets);
	free(w);
}

static void check_waiters(struct supervisor *s)
{
	struct waiter **pw = &s->waiters;

	while (*pw) {
		struct waiter *w = *pw;
		bool settled = true;

		for (size_t i = 0; i < w->ntargets && settled; i++)
			settled = sv_settled(w->targets[i], w->kind);
		if (!settled && !s->shutting_down) {
			pw = &w->next;
			continue;
		}
		fire_waiter(s, pw);
	}
}

static bool all_stopped(const struct supervisor *s)
{
	for (size_t i = 0; i < s->ninst; i++)
		if (!pstate_is_stopped(s->insts[i]->state))
			return false;
	return true;
}

static void run_passes(struct loop *l, struct deferred *d)
{
	struct supervisor *s = sv_of_loop(l);
	bool stop, bury;

	(void)d;
	agenda_trim(s, &stop, &bury);
	/* with no stop pending the stop pass would do nothing; with nothing
	 * retiring, there is nothing to bury: neither walks the table then */
	if (stop)
		stop_pass(s);
	if (bury)
		sv_bury_retired(s);
	start_pass(s);
	check_waiters(s);
	if (s->shutting_down && all_stopped(s))
		sv_finish_shutdown(s);
}

/* ---- the table ----------------------------------------------------------- */

bool sv_settled(const struct inst *in, enum wait_kind kind)
{
	if (kind == WAIT_STOP)
		return pstate_is_stopped(in->state) && !in->pending_start && !in->pending_stop;
	if (in->pending_stop || slot_of(in)->restart_requested)
		return false;
	switch (in->state) {
	case PS_RUNNING:
	case PS_BACKOFF:
	case PS_FATAL:
		return true;
	case PS_STOPPED:
	case PS_EXITED:
		return !in->pending_start;
	default:
		return false;
	}
}

static int cmp_start(const void *a, const void *b)
{
	const struct inst *x = *(struct inst *const *)a, *y = *(struct inst *const *)b;

	if (x->cfg->priority != y->cfg->priority)
		return x->cfg->priority < y->cfg->priority ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static int cmp_stop(const void *a, const void *b)
{
	const struct inst *x = *(struct inst *const *)a, *y = *(struct inst *const *)b;
	int px = slot_of(x)->stop_prio, py = slot_of(y)->stop_prio;

	if (px != py)
		return px > py ? -1 : 1;
	return x->index > y->index ? -1 : x->index < y->index;
}

struct inst **insts_copy(struct inst *const *v, size_t n)
{
	struct inst **c = xcalloc(n + 1, sizeof(*c));

	memcpy(c, v, n * sizeof(*c));
	return c;
}

static void add_ref(struct inst ***v, uint32_t *n, struct inst *in)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = in;
}

struct config *config_ref(struct config *c)
{
	c->refs++;
	return c;
}

void config_unref(struct config *c)
{
	if (c && --c->refs == 0)
		config_free(c);
}

struct slot *slot_new(struct supervisor *s, struct config *owner, struct prog_config *pc)
{
	struct slot *sl = xcalloc(1, sizeof(*sl));

	sl->sv = s;
	sl->stdin_fd = -1;
	inst_init(&sl->in, pc, &sv_inst_ops);
	sl->in.owner = s;
	cg_leaf_init(&sl->cg);
	sl->oomw = (struct io_watch)IO_WATCH_INIT;
	sl->life = (struct timer)TIMER_INIT;
	sl->drain = (struct timer)TIMER_INIT;
	sl->owner = config_ref(owner);
	return sl;
}

void slot_free(struct supervisor *s, struct slot *sl)
{
	struct waiter **pw = &s->waiters;

	while (*pw) {
		struct waiter *w = *pw;
		bool names = false;

		for (size_t i = 0; i < w->ntargets; i++)
			names |= w->targets[i] == &sl->in;
		if (!names) {
			pw = &w->next;
			continue;
		}
		fire_waiter(s, pw);
	}
	agenda_drop(s, sl);
	sv_pid_forget(sl);
	loop_undefer(&s->loop, &sl->in.exec_ok_later);
	loop_timer_stop(&s->loop, &sl->in.timer);
	loop_timer_stop(&s->loop, &sl->life);
	probe_free(sl->probe);
	sl->probe = NULL;
	loop_timer_stop(&s->loop, &sl->drain);
	slot_drop_leaf(sl);
	tap_free(sl);
	lproc_free(sl);
	free(sl->hist);
	slot_logs_free(sl);
	if (sl->successor)
		sl->successor->predecessor = NULL;
	inst_done(&sl->in);
	slot_env_reset(sl);
	free(sl->deps);
	free(sl->rdeps);
	config_unref(sl->owner);
	free(sl);
}

void slot_retire(struct slot *sl)
{
	sl->retiring = true;
	sl->in.pending_start = false;
	sl->restart_requested = false;
	sl->in.pending_stop = !pstate_is_stopped(sl->in.state);
	sv_agenda(sl);
}

void sv_relink(struct supervisor *s)
{
	const struct config *cfg = s->cfg;

	for (size_t i = 0; i < s->ninst; i++) {
		struct slot *sl = slot_of(s->insts[i]);
		const struct group_config *g = sl->retiring ? NULL : config_group(cfg, sl->in.cfg->group);

		sl->in.index = i;
		sl->ndeps = sl->nrdeps = 0;
		sl->on_agenda = false; /* the agenda is made again below */
		sl->stop_prio = g ? g->priority : sl->in.cfg->priority;
	}
	for (size_t i = 0; i < s->ninst; i++) {
		struct slot *sl = slot_of(s->insts[i]);

		if (sl->retiring)
			continue;
		for (char **d = sl->in.cfg->depends_on; *d; d++) {
			for (size_t j = 0; j < s->ninst; j++) {
				struct slot *dep = slot_of(s->insts[j]);

				if (dep->retiring || strcmp(dep->in.cfg->program, *d) != 0)
					continue;
				add_ref(&sl->deps, &sl->ndeps, &dep->in);
				add_ref(&dep->rdeps, &dep->nrdeps, &sl->in);
			}
		}
	}
	s->by_start = xrealloc(s->by_start, (s->ninst + 1) * sizeof(*s->by_start));
	s->by_stop = xrealloc(s->by_stop, (s->ninst + 1) * sizeof(*s->by_stop));
	memcpy(s->by_start, s->insts, s->ninst * sizeof(*s->insts));
	memcpy(s->by_stop, s->insts, s->ninst * sizeof(*s->insts));
	qsort(s->by_start, s->ninst, sizeof(*s->by_start), cmp_start);
	qsort(s->by_stop, s->ninst, sizeof(*s->by_stop), cmp_stop);
	s->nagenda = 0;
	for (size_t i = 0; i < s->ninst; i++) {
		struct slot *sl = slot_of(s->by_start[i]);

		sl->start_pos = i;
		if (wants_pass(sl))
			sv_agenda(sl);
	}
}

void sv_init(struct supervisor *s, struct config *cfg, const struct sv_backend *backend)
{
	memset(s, 0, sizeof(*s));
	s->backend = backend ? backend : &slot_backend;
	s->cfg = config_ref(cfg);
	s->pass = (struct deferred)DEFERRED_INIT;
	s->rss_timer = (struct timer)TIMER_INIT;
	s->usage_timer = (struct timer)TIMER_INIT;
	s->scale_timer = (struct timer)TIMER_INIT;
	s->orphan_timer = (struct timer)TIMER_INIT;
	s->start_ns = mono_ns();
	s->ninst = cfg->nprocs;
	s->insts = xcalloc(s->ninst + 1, sizeof(*s->insts));
	for (size_t i = 0; i < s->ninst; i++)
		s->insts[i] = &slot_new(s, cfg, cfg->procs[i])->in;
	sv_relink(s);
	s->bus = event_bus_new(s);
	s->listeners = listeners_new(s);
}

void sv_done(struct supervisor *s)
{
	struct config *cfg = s->cfg;

	/* the last instance may hold the last reference: keep the config till the end */
	config_ref(cfg);
	while (s->waiters) {
		struct waiter *w = s->waiters;

		s->waiters = w->next;
		loop_timer_stop(&s->loop, &w->timeout);
		free(w->targets);
		free(w);
	}
	for (size_t i = 0; i < s->ninst; i++)
		slot_free(s, slot_of(s->insts[i]));
	free(s->insts);
	free(s->by_start);
	free(s->by_stop);
	free(s->agenda);
	free(s->pids);
	s->insts = s->by_start = s->by_stop = NULL;
	s->agenda = NULL;
	s->pids = NULL;
	s->nagenda = s->capagenda = s->npids = s->cappids = 0;
	s->ninst = 0;
	for (size_t i = 0; i < ARRAY_SIZE(s->env_common); i++) {
		free(s->env_common[i]);
		s->env_common[i] = NULL;
	}
	loop_timer_stop(&s->loop, &s->rss_timer);
	loop_timer_stop(&s->loop, &s->usage_timer);
	loop_timer_stop(&s->loop, &s->orphan_timer);
	loop_undefer(&s->loop, &s->pass);
	s->cfg = NULL;
	listener_sweep(NULL);
	autoscale_done(s);
	listeners_free(s->listeners);
	s->listeners = NULL;
	event_bus_free(s->bus);
	s->bus = NULL;
	maps_done(s);
	config_unref(cfg);
	config_unref(cfg);
}

bool sv_visible(const struct inst *in)
{
	return !slot_of(in)->retiring;
}

/* ---- requests ------------------------------------------------------------ */

static int cmp_group_prio(const void *a, const void *b)
{
	const struct group_config *x = *(struct group_config *const *)a, *y = *(struct group_config *const *)b;

	return (x->priority > y->priority) - (x->priority < y->priority);
}

void sv_autostart(struct supervisor *s)
{
	if (!s->announced) {
		/* supervisord's start: each group added (by priority), then RUNNING */
		struct group_config **g = xcalloc(s->cfg->ngroups + 1, sizeof(*g));

		memcpy(g, s->cfg->groups, s->cfg->ngroups * sizeof(*g));
		qsort(g, s->cfg->ngroups, sizeof(*g), cmp_group_prio);
		for (size_t i = 0; i < s->cfg->ngroups; i++)
			sv_notify_group(s, g[i]->name, true);
		free(g);
		s->announced = true;
	}
	event_bus_start(s->bus);
	sv_notify_daemon(s, false);
	for (size_t i = 0; i < s->ninst; i++) {
		if (s->insts[i]->cfg->autostart) {
			s->insts[i]->pending_start = true;
			sv_agenda(slot_of(s->insts[i]));
		}
	}
	autoscale_arm(s);
	sv_kick(s);
}

static void want_start(struct inst *in)
{
	struct slot *sl = slot_of(in);

	if (in->pending_start)
		return;
	in->pending_start = true;
	sv_agenda(sl);
	/* a program's dependencies are started with it */
	for (size_t i = 0; i < sl->ndeps; i++) {
		struct inst *d = sl->deps[i];

		if (d->state != PS_RUNNING && d->state != PS_STARTING)
			want_start(d);
	}
}

void sv_start(struct supervisor *s, struct inst *in)
{
	in->pending_stop = false;
	if (slot_undrain(slot_of(in))) /* a start cancels a drain in progress: ready again */
		sv_notify_change(s, in, in->state);
	if (in->state == PS_BACKOFF)
		inst_event(in, EV_START, NULL); /* no need to wait out the backoff */
	else if (in->state == PS_STOPPING)
		inst_event(in, EV_START, NULL); /* starts again once stopped */
	else if (pstate_is_stopped(in->state))
		want_start(in);
	sv_kick(s);
}

void sv_stop(struct supervisor *s, struct inst *in)
{
	in->pending_start = false;
	slot_of(in)->restart_requested = false;
	if (!pstate_is_stopped(in->state) && in->state != PS_STOPPING) {
		in->pending_stop = true;
		sv_agenda(slot_of(in));
	} else if (in->state == PS_STOPPING) {
		inst_event(in, EV_STOP, NULL); /* cancels a queued restart */
	}
	sv_kick(s);
}

void sv_restart(struct supervisor *s, struct inst *in)
{
	if (pstate_is_stopped(in->state)) {
		sv_start(s, in);
		return;
	}
	if (in->state == PS_STOPPING) {
		inst_event(in, EV_START, NULL);
	} else {
		in->pending_stop = true;
		slot_of(in)->restart_requested = true;
		sv_agenda(slot_of(in));
	}
	sv_kick(s);
}

void sv_shutdown(struct supervisor *s, const char *why)
{
	s->shutdown_requests++;
	if (s->shutting_down) {
		if (s->shutdown_requests >= 2) {
			log_warn("second shutdown request: killing every program now");
			for (size_t i = 0; i < s->ninst; i++) {
				struct inst *in = s->insts[i];

				in->pending_stop = false;
				if (in->pid)
					in->ops->kill(in, SIGKILL, in->cfg->killasgroup);
				else if (in->state == PS_BACKOFF)
					inst_event(in, EV_STOP, NULL);
			}
		}
		sv_kick(s);
		return;
	}
	log_info("shutting down (%s)", why);
	s->shutting_down = true;
	sv_notify_daemon(s, true);
	for (size_t i = 0; i < s->ninst; i++) {
		struct inst *in = s->insts[i];

		in->hold = true;
		in->pending_start = false;
		slot_of(in)->restart_requested = false;
		if (!pstate_is_stopped(in->state)) {
			in->pending_stop = true;
			sv_agenda(slot_of(in));
		}
	}
	sv_kick(s);
}

int sv_resolve(struct supervisor *s, const char *spec, struct inst ***list, size_t *n)
{
	size_t before = *n;
	const char *colon = strchr(spec, ':');

	for (size_t i = 0; i < s->ninst; i++) {
		const struct prog_config *pc = s->insts[i]->cfg;
		bool match;

		if (!sv_visible(s->insts[i]))
			continue;
		if (strcmp(spec, "all") == 0)
			match = true;
		else if (colon && strcmp(colon + 1, "*") == 0)
			match = strncmp(spec, pc->group, (size_t)(colon - spec)) == 0 &&
				pc->group[colon - spec] == '\0';
		else if (colon)
			match = strcmp(spec, pc->fullname) == 0 ||
				(strncmp(spec, pc->group, (size_t)(colon - spec)) == 0 &&
				 pc->group[colon - spec] == '\0' && strcmp(colon + 1, pc->name) == 0);
		else
			match = strcmp(spec, pc->fullname) == 0 || strcmp(spec, pc->name) == 0 ||
				strcmp(spec, pc->program) == 0 || strcmp(spec, pc->group) == 0;
		if (!match)
			continue;
		/* the same instance named twice is listed once */
		for (size_t j = 0; j < *n && match; j++)
			match = (*list)[j] != s->insts[i];
		if (match) {
			*list = xrealloc(*list, (*n + 1) * sizeof(**list));
			(*list)[(*n)++] = s->insts[i];
		}
	}
	if (*n == before) {
		bool dup = false;

		/* a name that only matched instances already listed is not unknown */
		for (size_t i = 0; i < s->ninst && !dup; i++)
			dup = strcmp(spec, s->insts[i]->cfg->fullname) == 0 ||
			      strcmp(spec, s->insts[i]->cfg->program) == 0;
		return dup ? 0 : -ENOENT;
	}
	return (int)(*n - before);
}

/* ---- waiters and observers ------------------------------------------------- */

static void on_wait_timeout(struct loop *l, struct timer *t)
{
	struct waiter *w = container_of(t, struct waiter, timeout);
	struct supervisor *s = sv_of_loop(l);

	for (struct waiter **pw = &s->waiters; *pw; pw = &(*pw)->next) {
		if (*pw == w) {
			fire_waiter(s, pw);
			return;
		}
	}
}

struct waiter *sv_wait(struct supervisor *s, enum wait_kind kind, struct inst **targets,
		       size_t n, int64_t timeout_ns, waiter_cb *cb, void *ctx)
{
	struct waiter *w = xcalloc(1, sizeof(*w));

	w->sv = s;
	w->kind = kind;
	w->targets = insts_copy(targets, n);
	w->ntargets = n;
	w->cb = cb;
	w->ctx = ctx;
	w->timeout = (struct timer)TIMER_INIT;
	w->next = s->waiters;
	s->waiters = w;
	loop_timer_start(&s->loop, &w->timeout, timeout_ns, on_wait_timeout);
	sv_kick(s);
	return w;
}

void sv_wait_cancel(struct supervisor *s, struct waiter *w)
{
	for (struct waiter **pw = &s->waiters; *pw; pw = &(*pw)->next) {
		if (*pw == w) {
			*pw = w->next;
			loop_timer_stop(&s->loop, &w->timeout);
			free(w->targets);
			free(w);
			return;
		}
	}
}

void sv_observe(struct supervisor *s, struct sv_observer *o)
{
	o->next = s->observers;
	s->observers = o;
}

void sv_unobserve(struct supervisor *s, struct sv_observer *o)
{
	for (struct sv_observer **p = &s->observers; *p; p = &(*p)->next) {
		if (*p == o) {
			*p = o->next;
			return;
		}
	}
}

/* ---- the loop ------------------------------------------------------------ */

int sv_loop_init(struct supervisor *s, signal_cb *on_signal)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGQUIT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	/* a parent that ignored one of these (nohup) must not hide it from the
	 * signalfd; blocked first, so the default action never runs */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&mask, sig) == 1)
			signal(sig, SIG_DFL);
	return loop_init(&s->loop, &mask, on_signal, sv_reap);
}

int sv_run(struct supervisor *s)
{
	int r;

	/* reap whatever exited before the loop started */
	sv_reap(&s->loop, NULL, 0);
	r = loop_run(&s->loop);
	if (r < 0) {
		log_crit("event loop failed: %s", strerror(-r));
		return 1;
	}
	return s->exit_status;
}
