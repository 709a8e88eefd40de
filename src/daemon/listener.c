#include "daemon/listener.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "daemon/events.h"
#include "daemon/log.h"
#include "daemon/supervisor-internal.h"

/* ---- the buffer ---------------------------------------------------------------------- */

bool lbuf_add(struct lbuf *b, size_t size, struct event *e, uint64_t poolserial, bool front,
	      uint64_t *ret_dropped)
{
	bool dropped = false;

	if (b->n >= size && b->n > 0) {
		/* supervisord discards the oldest, also to make room for an event sent again */
		*ret_dropped = b->v[0].e->serial;
		event_unref(b->v[0].e);
		memmove(b->v, b->v + 1, (b->n - 1) * sizeof(*b->v));
		b->n--;
		dropped = true;
	}
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 16;
		b->v = xrealloc(b->v, b->cap * sizeof(*b->v));
	}
	if (front) {
		memmove(b->v + 1, b->v, b->n * sizeof(*b->v));
		b->v[0] = (struct lbuf_item){ event_ref(e), poolserial };
	} else {
		b->v[b->n] = (struct lbuf_item){ event_ref(e), poolserial };
	}
	b->n++;
	return dropped;
}

bool lbuf_take(struct lbuf *b, struct lbuf_item *ret)
{
	if (b->n == 0)
		return false;
	*ret = b->v[0];
	memmove(b->v, b->v + 1, (b->n - 1) * sizeof(*b->v));
	b->n--;
	return true;
}

void lbuf_done(struct lbuf *b)
{
	for (size_t i = 0; i < b->n; i++)
		event_unref(b->v[i].e);
	free(b->v);
	memset(b, 0, sizeof(*b));
}

/* ---- the protocol -------------------------------------------------------------------- */

#define READY_TOKEN "READY\n"
#define RESULT_TOKEN "RESULT "

void lproto_init(struct lproto *p)
{
	memset(p, 0, sizeof(*p));
	p->state = LS_ACKNOWLEDGED;
	p->resultlen = -1;
}

void lproto_done(struct lproto *p)
{
	sbuf_done(&p->buf);
	sbuf_done(&p->result);
}

void lproto_feed(struct lproto *p, const char *data, size_t len)
{
	if (p->state == LS_UNKNOWN)
		return; /* fatal until the listener restarts */
	sbuf_add(&p->buf, data, len);
}

static enum lproto_out bad(struct lproto *p, const char *why, const char *what, size_t n)
{
	snprintf(p->bad, sizeof(p->bad), "%s: '%.*s'", why, (int)MIN(n, (size_t)80), what);
	sbuf_reset(&p->buf);
	p->state = LS_UNKNOWN;
	p->resultlen = -1;
	return LP_BAD;
}

/* The length of "RESULT <len>": what Python's int() takes after the first 7 bytes; -1 if not one. */
static long result_len(const char *line, size_t n)
{
	const char *p = line + strlen(RESULT_TOKEN), *end = line + n;
	long v = 0;
	bool digits = false, neg = false;

	if (n < strlen(RESULT_TOKEN))
		return -1;
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (p < end && (*p == '+' || *p == '-'))
		neg = *p++ == '-';
	for (; p < end && isdigit((unsigned char)*p); p++) {
		if (v > 64L << 20) /* no event is that big */
			return -1;
		v = v * 10 + (*p - '0');
		digits = true;
	}
	while (p < end && isspace((unsigned char)*p))
		p++;
	return digits && p == end && !neg ? v : -1;
}

enum lproto_out lproto_step(struct lproto *p)
{
	switch (p->state) {
	case LS_UNKNOWN:
		sbuf_reset(&p->buf);
		return LP_NONE;
	case LS_ACKNOWLEDGED:
		if (p->buf.len < strlen(READY_TOKEN))
			return LP_NONE;
		if (memcmp(p->buf.s, READY_TOKEN, strlen(READY_TOKEN)) != 0)
			return bad(p, "not READY", p->buf.s, p->buf.len);
		sbuf_consume(&p->buf, strlen(READY_TOKEN));
		p->state = LS_READY;
		return LP_READY;
	case LS_READY:
		if (p->buf.len == 0)
			return LP_NONE;
		return bad(p, "output while waiting for an event", p->buf.s, p->buf.len);
	case LS_BUSY: {
		size_t take;

		if (p->resultlen < 0) {
			const char *nl = memchr(p->buf.s ? p->buf.s : "", '\n', p->buf.len);
			long v;

			if (!nl)
				return LP_NONE;
			v = result_len(p->buf.s, (size_t)(nl - p->buf.s));
			if (v < 0)
				return bad(p, "bad result line", p->buf.s, (size_t)(nl - p->buf.s));
			sbuf_consume(&p->buf, (size_t)(nl - p->buf.s) + 1);
			p->resultlen = v;
			sbuf_reset(&p->result);
		}
		take = MIN((size_t)p->resultlen - p->result.len, p->buf.len);
		sbuf_add(&p->result, p->buf.s ? p->buf.s : "", take);
		sbuf_consume(&p->buf, take);
		if (p->result.len < (size_t)p->resultlen)
			return LP_NONE;
		p->state = LS_ACKNOWLEDGED;
		p->resultlen = -1;
		return LP_RESULT;
	}
	}
	return LP_NONE;
}

bool lresult_handle(int handler, const char *result, size_t len, struct sbuf *out)
{
	const char *nl, *end = result + len, *proc, *chan, *p;
	size_t plen = 0, clen = 0;

	if (handler == RESULT_HANDLER_DEFAULT)
		return len == 2 && memcmp(result, "OK", 2) == 0;
	/* supervisor_stdout:event_handler: "header line\ndata", the event's own payload */
	nl = memchr(result, '\n', len);
	if (!nl)
		return true;
	proc = memmem(result, (size_t)(nl - result), "processname:", 12);
	chan = memmem(result, (size_t)(nl - result), "channel:", 8);
	if (proc) {
		proc += 12;
		plen = strcspn(proc, " \n");
	}
	if (chan) {
		chan += 8;
		clen = strcspn(chan, " \n");
	}
	/* print '\n'.join([prefix + l for l in data.split('\n')]) */
	for (p = nl + 1;;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		sbuf_printf(out, "%.*s %.*s | ", (int)plen, proc ? proc : "", (int)clen, chan ? chan : "");
		sbuf_add(out, p, (size_t)((eol ? eol : end) - p));
		sbuf_addc(out, '\n');
		if (!eol)
			break;
		p = eol + 1;
	}
	return true;
}

/* ---- pools and their listeners --------------------------------------------------------- */

struct lpool;

/* One listener process's side: its stdout pipe and where it is in the protocol. */
struct lproc {
	struct slot *sl;
	struct lproc *next;       /* in its pool, in the order they registered */
	struct lpool *pool;       /* NULL once the pool is gone (a reload removed it) */
	int out_fd;               /* read end of the current process's stdout; -1: none */
	struct io_watch w;
	struct lproto proto;
	struct lbuf_item cur;     /* the event it is processing (e NULL: none) */
};

struct lpool {
	struct lpool *next;
	struct listeners *ls;
	char *name;               /* the [eventlistener:NAME], its group */
	struct event_sub sub;
	size_t buffer_size;
	struct lbuf buf;
	uint64_t serial;          /* the next pool serial */
	struct lproc *procs;
	struct deferred later;    /* dispatch in the deferred phase */
};

struct listeners {
	struct supervisor *sv;
	struct lpool *pools;
	struct sv_observer obs;   /* a listener becoming RUNNING may take events */
};

static struct lpool *pool_find(struct listeners *ls, const char *name)
{
	for (struct lpool *p = ls ? ls->pools : NULL; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

static void dispatch(struct loop *l, struct deferred *d);

static void dispatch_later(struct lpool *p)
{
	loop_defer(&p->ls->sv->loop, &p->later, dispatch);
}

static void pool_accept(struct lpool *p, struct event *e, uint64_t poolserial, bool front)
{
	uint64_t dropped;

	if (lbuf_add(&p->buf, p->buffer_size, e, poolserial, front, &dropped))
		log_error("pool %s event buffer overflowed, discarding event %llu", p->name,
			  (unsigned long long)dropped);
	dispatch_later(p);
}

static void deliver(struct event_sub *sub, struct event *e)
{
	struct lpool *p = container_of(sub, struct lpool, sub);

	/* a drain beginning or ending is tend's own news: supervisord has no such event */
	if (e->type <= EVT_PROCESS_STATE_UNKNOWN && e->from_state == e->to_state)
		return;
	pool_accept(p, e, p->serial++, false);
}

/* Send e to lp.  0, or -EPIPE when its stdin is gone. */
static int send_event(struct lproc *lp, const struct lbuf_item *it)
{
	struct supervisor *s = lp->sl->sv;
	struct sbuf env = SBUF_INIT;
	int r;

	event_envelope(it->e, s->cfg->identifier ? s->cfg->identifier : "tend", lp->pool->name, it->poolserial, &env);
	r = tap_write_stdin(lp->sl, env.s, env.len);
	sbuf_done(&env);
	if (r < 0) {
		log_debug("%s: cannot send event %llu: %s; listener state unchanged", lp->sl->in.cfg->fullname,
			  (unsigned long long)it->e->serial, strerror(-r));
		return r;
	}
	lp->cur = *it;
	lp->proto.state = LS_BUSY;
	log_debug("event %llu sent to listener %s", (unsigned long long)it->e->serial, lp->sl->in.cfg->fullname);
	return 0;
}

static void dispatch(struct loop *l, struct deferred *d)
{
	struct lpool *p = container_of(d, struct lpool, later);

	(void)l;
	while (p->buf.n > 0) {
		struct lbuf_item it;
		bool sent = false;

		lbuf_take(&p->buf, &it);
		for (struct lproc *lp = p->procs; lp && !sent; lp = lp->next)
			if (lp->sl->in.state == PS_RUNNING && lp->proto.state == LS_READY && !lp->cur.e)
				sent = send_event(lp, &it) == 0;
		if (!sent) {
			/* nobody ready: back to the front, in its place */
			uint64_t dropped;

			lbuf_add(&p->buf, p->buffer_size + 1, it.e, it.poolserial, true, &dropped);
			event_unref(it.e);
			break;
		}
	}
}

/* The event lp was processing comes back to its pool (rejected, or lp is gone). */
static void give_back(struct lproc *lp)
{
	struct lbuf_item it = lp->cur;

	lp->cur.e = NULL;
	if (!it.e)
		return;
	if (lp->pool)
		pool_accept(lp->pool, it.e, it.poolserial, true);
	event_unref(it.e);
}

static void done_with(struct lproc *lp)
{
	event_unref(lp->cur.e);
	lp->cur.e = NULL;
}

/* Act on what the listener wrote. */
static void parse(struct lproc *lp)
{
	const char *name = lp->sl->in.cfg->fullname;
	enum lproto_out o;

	while ((o = lproto_step(&lp->proto)) != LP_NONE) {
		switch (o) {
		case LP_READY:
			log_debug("%s: ACKNOWLEDGED -> READY", name);
			if (lp->pool)
				dispatch_later(lp->pool);
			break;
		case LP_RESULT: {
			struct sbuf out = SBUF_INIT;

			if (lresult_handle(lp->sl->in.cfg->result_handler, lp->proto.result.s ? lp->proto.result.s : "",
					   lp->proto.result.len, &out)) {
				log_debug("%s: event was processed", name);
				done_with(lp);
			} else {
				log_warn("%s: event was rejected", name);
				give_back(lp);
			}
			if (out.len && write_all(STDOUT_FILENO, out.s, out.len) < 0)
				log_debug("%s: cannot write the result to stdout", name);
			sbuf_done(&out);
			break;
		}
		case LP_BAD:
			log_warn("%s: %s; it gets no more events until it restarts (UNKNOWN state)", name,
				 lp->proto.bad);
			give_back(lp);
			break;
		default:
			break;
		}
	}
}

static void read_out(struct lproc *lp, size_t budget)
{
	char buf[16384];

	while (budget > 0 && lp->out_fd >= 0) {
		ssize_t n = read(lp->out_fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			/* the listener closed its stdout */
			loop_io_del(&lp->sl->sv->loop, &lp->w);
			close(lp->out_fd);
			lp->out_fd = -1;
			break;
		}
		if (n < 0)
			break;
		lproto_feed(&lp->proto, buf, (size_t)n);
		budget -= MIN(budget, (size_t)n);
	}
	parse(lp);
}

static void on_readable(struct loop *l, struct io_watch *w, uint32_t revents)
{
	struct lproc *lp = container_of(w, struct lproc, w);

	(void)l;
	(void)revents;
	read_out(lp, 1 << 20);
}

static void lproc_close(struct lproc *lp)
{
	if (lp->out_fd >= 0) {
		loop_io_del(&lp->sl->sv->loop, &lp->w);
		close(lp->out_fd);
	}
	lp->out_fd = -1;
}

static void lproc_detach(struct lproc *lp)
{
	if (!lp->pool)
		return;
	for (struct lproc **pp = &lp->pool->procs; *pp; pp = &(*pp)->next) {
		if (*pp == lp) {
			*pp = lp->next;
			break;
		}
	}
	lp->pool = NULL;
	lp->next = NULL;
}

int lproc_stdout_pipe(struct slot *sl, int *ret_child_fd)
{
	struct lproc *lp = sl->lp;
	int p[2];

	if (!lp) {
		lp = xcalloc(1, sizeof(*lp));
		lp->sl = sl;
		lp->out_fd = -1;
		lp->w = (struct io_watch)IO_WATCH_INIT;
		lproto_init(&lp->proto);
		sl->lp = lp;
	}
	if (!lp->pool) {
		lp->pool = pool_find(sl->sv->listeners, sl->in.cfg->program);
		if (lp->pool) {
			struct lproc **pp = &lp->pool->procs;

			while (*pp)
				pp = &(*pp)->next;
			*pp = lp;
		}
	}
	lproc_close(lp);
	/* a new process starts in ACKNOWLEDGED: it must say READY first */
	lproto_done(&lp->proto);
	lproto_init(&lp->proto);
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	fcntl(p[1], F_SETFL, 0); /* the child writes blocking */
	if (loop_io_add(&sl->sv->loop, &lp->w, p[0], EPOLLIN, on_readable) < 0) {
		int e = errno;

		close(p[0]);
		close(p[1]);
		return -e;
	}
	lp->out_fd = p[0];
	*ret_child_fd = p[1];
	return 0;
}

void lproc_exited(struct slot *sl)
{
	struct lproc *lp = sl->lp;

	if (!lp)
		return;
	/* what it wrote before it died still counts (an OK just before exiting) */
	read_out(lp, 1 << 20);
	lproc_close(lp);
	give_back(lp);
}

void lproc_free(struct slot *sl)
{
	struct lproc *lp = sl->lp;

	if (!lp)
		return;
	lproc_close(lp);
	give_back(lp);
	lproc_detach(lp);
	lproto_done(&lp->proto);
	free(lp);
	sl->lp = NULL;
}

/* ---- the pools follow the config ------------------------------------------------------- */

static void pool_free(struct lpool *p)
{
	event_unsubscribe(p->ls->sv->bus, &p->sub);
	loop_undefer(&p->ls->sv->loop, &p->later);
	while (p->procs)
		lproc_detach(p->procs);
	lbuf_done(&p->buf);
	free(p->name);
	free(p);
}

void listeners_sync(struct listeners *ls)
{
	const struct config *cfg = ls->sv->cfg;

	/* pools whose program is gone */
	for (struct lpool **pp = &ls->pools; *pp;) {
		struct lpool *p = *pp;
		bool used = false;

		for (size_t i = 0; i < cfg->nprocs && !used; i++)
			used = cfg->procs[i]->kind == PROC_LISTENER && strcmp(cfg->procs[i]->program, p->name) == 0;
		if (used) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		pool_free(p);
	}
	for (size_t i = 0; i < cfg->nprocs; i++) {
		const struct prog_config *pc = cfg->procs[i];
		struct lpool *p;

		if (pc->kind != PROC_LISTENER)
			continue;
		p = pool_find(ls, pc->program);
		if (!p) {
			p = xcalloc(1, sizeof(*p));
			p->ls = ls;
			p->name = xstrdup(pc->program);
			p->sub.deliver = deliver;
			p->later = (struct deferred)DEFERRED_INIT;
			p->next = ls->pools;
			ls->pools = p;
			p->sub.mask = pc->events;
			event_subscribe(ls->sv->bus, &p->sub);
		} else if (p->sub.mask != pc->events) {
			p->sub.mask = pc->events;
			event_resubscribe(ls->sv->bus);
		}
		p->buffer_size = (size_t)MAX(pc->buffer_size, 1);
	}
	/* instances of a listener program that came back register again when they start */
}

static void on_changed(struct sv_observer *o, const struct inst *in, enum pstate from)
{
	struct listeners *ls = container_of(o, struct listeners, obs);
	struct lpool *p;

	(void)from;
	if (in->cfg->kind != PROC_LISTENER || in->state != PS_RUNNING)
		return;
	p = pool_find(ls, in->cfg->program);
	if (p)
		dispatch_later(p);
}

struct listeners *listeners_new(struct supervisor *s)
{
	struct listeners *ls = xcalloc(1, sizeof(*ls));

	ls->sv = s;
	ls->obs.changed = on_changed;
	sv_observe(s, &ls->obs);
	listeners_sync(ls);
	return ls;
}

void listeners_free(struct listeners *ls)
{
	if (!ls)
		return;
	sv_unobserve(ls->sv, &ls->obs);
	while (ls->pools) {
		struct lpool *p = ls->pools;

		ls->pools = p->next;
		pool_free(p);
	}
	free(ls);
}
