/*
 * supervisord's process control over XML-RPC: start and stop (one process,
 * a group, all; waiting for them to settle when asked), signals, and
 * sendProcessStdin / sendRemoteCommEvent.
 */
#include "daemon/rpc-internal.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "common/signames.h"
#include "common/util.h"
#include "daemon/cmd.h"

#define RPC_WAIT_NS (300 * NSEC_PER_SEC)

static bool bool_at(const struct xv *p, size_t i, bool dflt)
{
	return i < p->n ? p->item[i]->i != 0 : dflt;
}

static bool running_state(enum pstate s)
{
	return s == PS_RUNNING || s == PS_STARTING || s == PS_BACKOFF;
}

/* ---- start, stop ------------------------------------------------------------------- */

/* supervisord's fault for an outcome that is not a success */
static int outcome_fault(const struct rpc_wait *w, const struct cmd_outcome *o)
{
	if (o->result == CMD_NO_FILE)
		return RPC_NO_FILE;
	if (o->result == CMD_NOT_EXECUTABLE)
		return RPC_NOT_EXECUTABLE;
	if (o->ok)
		return 0;
	if (w->stopping)
		return RPC_FAILED;
	return o->spawn_error ? RPC_SPAWN_ERROR : RPC_ABNORMAL_TERMINATION;
}

/* The processes settled (or the wait timed out, or there was none): answer. */
static void settled(void *ctx, const struct cmd_outcome *v, size_t n)
{
	struct rq *rq = ctx;
	struct rpc_wait *w = rpc_wait_of(rq);
	struct xv *arr;

	w->op = NULL;
	if (w->single) {
		int code = outcome_fault(w, &v[0]);

		if (!code)
			return rpc_ret(rq, xv_bool(true));
		if (code == RPC_NO_FILE || code == RPC_NOT_EXECUTABLE)
			return rpc_fault(rq, code, "%s", v[0].in->cfg->command);
		return rpc_fault(rq, code, "%s", v[0].in->cfg->fullname);
	}
	arr = xv_array();
	for (size_t i = 0; i < n; i++) {
		int code = outcome_fault(w, &v[i]);
		bool pre = code == RPC_NO_FILE || code == RPC_NOT_EXECUTABLE;

		xv_push(arr, rpc_result(v[i].in, code ? code : RPC_SUCCESS, pre ? v[i].in->cfg->command : NULL));
	}
	rpc_ret(rq, arr);
}

/* Start (or stop) targets; wait for them when asked, then answer. */
static void start_stop(struct rq *rq, struct inst **v, size_t n, bool stop, bool wait, bool single)
{
	struct rpc_wait *w = rpc_wait_of(rq);

	w->single = single;
	w->stopping = stop;
	w->op = cmd_run(rpc_supervisor(rq), stop ? CMD_STOP : CMD_START, v, n, wait, RPC_WAIT_NS, settled, rq);
}

/* Keep the members that are running (or not); t is reused. */
static void filter(struct targets *t, bool running)
{
	size_t k = 0;

	for (size_t i = 0; i < t->n; i++)
		if (running_state(t->v[i]->state) == running)
			t->v[k++] = t->v[i];
	t->n = k;
}

static void group_op(struct rq *rq, const char *g, bool stop, bool wait)
{
	struct targets t = { 0 };

	cmd_group_members(rpc_supervisor(rq), g, &t);
	if (g && t.n == 0) {
		targets_done(&t);
		return rpc_fault(rq, RPC_BAD_NAME, "%s", g);
	}
	/* start what is not running, stop what is (supervisord's isNotRunning / isRunning) */
	filter(&t, stop);
	start_stop(rq, t.v, t.n, stop, wait, false);
	targets_done(&t);
}

/* startProcess / stopProcess: one process, or a whole group for "group:*" */
static void start_or_stop_one(struct rq *rq, const struct xv *p, bool stop)
{
	struct targets t = { 0 };
	struct inst *in;
	int r = rpc_lookup(rq, rpc_str_at(p, 0), &t, &in);

	if (r < 0)
		rpc_fault(rq, RPC_BAD_NAME, "%s", rpc_str_at(p, 0));
	else if (r == 1)
		group_op(rq, t.group, stop, bool_at(p, 1, true));
	else if (!stop && running_state(in->state))
		rpc_fault(rq, RPC_ALREADY_STARTED, "%s", in->cfg->fullname);
	else if (stop && !running_state(in->state))
		rpc_fault(rq, RPC_NOT_RUNNING, "%s", in->cfg->fullname);
	else
		start_stop(rq, &in, 1, stop, bool_at(p, 1, true), true);
	targets_done(&t);
}

void rpc_m_startProcess(struct rq *rq, const struct xv *p)
{
	start_or_stop_one(rq, p, false);
}

void rpc_m_startProcessGroup(struct rq *rq, const struct xv *p)
{
	group_op(rq, rpc_str_at(p, 0), false, bool_at(p, 1, true));
}

void rpc_m_startAllProcesses(struct rq *rq, const struct xv *p)
{
	group_op(rq, NULL, false, bool_at(p, 0, true));
}

void rpc_m_stopProcess(struct rq *rq, const struct xv *p)
{
	start_or_stop_one(rq, p, true);
}

void rpc_m_stopProcessGroup(struct rq *rq, const struct xv *p)
{
	group_op(rq, rpc_str_at(p, 0), true, bool_at(p, 1, true));
}

void rpc_m_stopAllProcesses(struct rq *rq, const struct xv *p)
{
	group_op(rq, NULL, true, bool_at(p, 0, true));
}

/* ---- signals ------------------------------------------------------------------------ */

static int signal_param(const struct xv *v)
{
	if (v->type == XV_INT)
		return v->i >= 1 && v->i < NSIG ? (int)v->i : -EINVAL;
	return sig_from_name(v->s);
}

static void signal_many(struct rq *rq, const char *g, const struct xv *sigv)
{
	int sig = signal_param(sigv);
	struct targets t = { 0 };
	struct xv *arr;

	cmd_group_members(rpc_supervisor(rq), g, &t);
	if (g && t.n == 0) {
		targets_done(&t);
		return rpc_fault(rq, RPC_BAD_NAME, "%s", g);
	}
	if (sig < 0) {
		targets_done(&t);
		return rpc_fault(rq, RPC_BAD_SIGNAL, "%s", sigv->type == XV_STRING ? sigv->s : "");
	}
	filter(&t, true);
	arr = xv_array();
	for (size_t i = 0; i < t.n; i++)
		xv_push(arr, rpc_result(t.v[i], inst_signal(t.v[i], sig) == 0 ? RPC_SUCCESS : RPC_FAILED, NULL));
	targets_done(&t);
	rpc_ret(rq, arr);
}

static void signal_one(struct rq *rq, const struct xv *p, struct targets *t)
{
	struct inst *in;
	int sig = signal_param(p->item[1]), r;

	r = rpc_lookup(rq, rpc_str_at(p, 0), t, &in);
	if (r < 0)
		return rpc_fault(rq, RPC_BAD_NAME, "%s", rpc_str_at(p, 0));
	if (sig < 0)
		return rpc_fault(rq, RPC_BAD_SIGNAL, "%s", p->item[1]->type == XV_STRING ? p->item[1]->s : "");
	if (r == 1)
		return signal_many(rq, t->group, p->item[1]);
	if (!running_state(in->state))
		return rpc_fault(rq, RPC_NOT_RUNNING, "%s", in->cfg->fullname);
	if ((r = inst_signal(in, sig)) < 0)
		return rpc_fault(rq, RPC_FAILED, "%s: %s", in->cfg->fullname, strerror(-r));
	rpc_ret(rq, xv_bool(true));
}

void rpc_m_signalProcess(struct rq *rq, const struct xv *p)
{
	struct targets t = { 0 };

	signal_one(rq, p, &t);
	targets_done(&t);
}

void rpc_m_signalProcessGroup(struct rq *rq, const struct xv *p)
{
	signal_many(rq, rpc_str_at(p, 0), p->item[1]);
}

void rpc_m_signalAllProcesses(struct rq *rq, const struct xv *p)
{
	signal_many(rq, NULL, p->item[0]);
}

void rpc_m_sendProcessStdin(struct rq *rq, const struct xv *p)
{
	struct inst *in = rpc_process(rq, rpc_str_at(p, 0));
	const struct xv *chars = p->item[1];
	int r;

	if (!in)
		return;
	if (chars->type != XV_STRING && chars->type != XV_BASE64)
		return rpc_fault(rq, RPC_INCORRECT_PARAMETERS, NULL);
	r = cmd_send_stdin(rpc_supervisor(rq), in, chars->s ? chars->s : "", chars->len);
	if (r == -ESRCH)
		return rpc_fault(rq, RPC_NOT_RUNNING, "%s", in->cfg->fullname);
	if (r == -ENOBUFS)
		return rpc_fault(rq, RPC_FAILED, "%s: more than 1 MiB of its stdin is still unread", in->cfg->fullname);
	if (r < 0)
		return rpc_fault(rq, RPC_NO_FILE, "%s", in->cfg->fullname);
	rpc_ret(rq, xv_bool(true));
}

/* supervisord hands this to its event listeners: REMOTE_COMMUNICATION */
void rpc_m_sendRemoteCommEvent(struct rq *rq, const struct xv *p)
{
	const char *type = rpc_str_at(p, 0);
	const struct xv *data = p->item[1];

	if (!type || (data->type != XV_STRING && data->type != XV_BASE64))
		return rpc_fault(rq, RPC_INCORRECT_PARAMETERS, NULL);
	cmd_remote_event(rpc_supervisor(rq), type, data->s ? data->s : "", data->len);
	rpc_ret(rq, xv_bool(true));
}
