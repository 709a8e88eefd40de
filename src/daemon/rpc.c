#include "daemon/rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "common/version.h"
#include "daemon/api.h"
#include "daemon/cmd.h"
#include "daemon/rpc-internal.h"
#include "daemon/xmlrpc.h"

#define RPC_API_VERSION "3.0"
/* calls in one system.multicall; its answer is bounded by conn_reply_room() too */
#define RPC_MAX_MULTICALL 1000
/* a multicall runs in slices this long, so other clients (/healthz) are served between them */
#define RPC_SLICE_NS (2 * NSEC_PER_MSEC)

static const char *fault_name(int code)
{
	switch (code) {
	case RPC_UNKNOWN_METHOD: return "UNKNOWN_METHOD";
	case RPC_INCORRECT_PARAMETERS: return "INCORRECT_PARAMETERS";
	case RPC_BAD_ARGUMENTS: return "BAD_ARGUMENTS";
	case RPC_SIGNATURE_UNSUPPORTED: return "SIGNATURE_UNSUPPORTED";
	case RPC_SHUTDOWN_STATE: return "SHUTDOWN_STATE";
	case RPC_BAD_NAME: return "BAD_NAME";
	case RPC_BAD_SIGNAL: return "BAD_SIGNAL";
	case RPC_NO_FILE: return "NO_FILE";
	case RPC_NOT_EXECUTABLE: return "NOT_EXECUTABLE";
	case RPC_FAILED: return "FAILED";
	case RPC_ABNORMAL_TERMINATION: return "ABNORMAL_TERMINATION";
	case RPC_SPAWN_ERROR: return "SPAWN_ERROR";
	case RPC_ALREADY_STARTED: return "ALREADY_STARTED";
	case RPC_NOT_RUNNING: return "NOT_RUNNING";
	case RPC_SUCCESS: return "SUCCESS";
	case RPC_ALREADY_ADDED: return "ALREADY_ADDED";
	case RPC_STILL_RUNNING: return "STILL_RUNNING";
	case RPC_CANT_REREAD: return "CANT_REREAD";
	default: return "FAILED";
	}
}

/* ---- a request: one call, or a system.multicall made one call at a time ---- */

struct rpc {
	struct supervisor *sv;
	struct rpc_staged staged; /* reloadConfig's reread (rpc-config.c) */
};

struct rq {
	struct rpc *rpc;
	struct supervisor *sv;
	struct conn *conn;
	bool may_write;
	bool may_read;           /* logs, paths, the config; else status only */
	struct xml_call call;
	const struct xv *calls;  /* system.multicall: its array */
	size_t next;             /* next call of calls */
	struct sbuf results;     /* system.multicall: the answers so far, as XML (bounded as they come) */
	bool multi;
	bool busy;               /* a call is in flight */
	bool in_step;            /* step() is on the stack */
	bool done;
	struct xv *value;        /* the last call's answer... */
	int fault;               /* ...or its fault (0: none) */
	char *fault_msg;
	struct rpc_wait wait;    /* the call waiting for its processes to settle */
	struct deferred more;    /* system.multicall: the next slice of calls */
};

static void step(struct rq *rq);

static void complete(struct rq *rq, struct xv *v, int code, char *msg)
{
	rq->value = v;
	rq->fault = code;
	rq->fault_msg = msg;
	rq->busy = false;
	if (!rq->in_step)
		step(rq);
}

void rpc_ret(struct rq *rq, struct xv *v)
{
	complete(rq, v, 0, NULL);
}

/* supervisord's fault text: "NAME: detail", or "NAME" alone */
void rpc_fault(struct rq *rq, int code, const char *fmt, ...)
{
	struct sbuf b = SBUF_INIT;
	va_list ap;

	sbuf_adds(&b, fault_name(code));
	if (fmt && *fmt) {
		sbuf_adds(&b, ": ");
		va_start(ap, fmt);
		sbuf_vprintf(&b, fmt, ap);
		va_end(ap);
	}
	complete(rq, NULL, code, sbuf_take(&b));
}

static void rq_free(struct rq *rq)
{
	loop_undefer(conn_loop(rq->conn), &rq->more);
	if (rq->wait.op)
		cmd_cancel(rq->wait.op);
	xml_call_done(&rq->call);
	sbuf_done(&rq->results);
	xv_free(rq->value);
	free(rq->fault_msg);
	free(rq);
}

struct supervisor *rpc_supervisor(const struct rq *rq)
{
	return rq->sv;
}

struct rpc_staged *rpc_staged_of(struct rq *rq)
{
	return &rq->rpc->staged;
}

struct rpc_wait *rpc_wait_of(struct rq *rq)
{
	return &rq->wait;
}

const struct config *rpc_running_config(struct rq *rq)
{
	struct cmd_info info;

	cmd_info(rq->sv, &info);
	return info.cfg;
}

static void rq_cancel(void *ctx)
{
	rq_free(ctx);
}

static void finish(struct rq *rq)
{
	struct sbuf b = SBUF_INIT;

	if (rq->fault) {
		xml_fault(&b, rq->fault, rq->fault_msg);
	} else if (rq->multi) {
		/* xml_response() of an array, around the answers written as they came */
		sbuf_grow(&b, rq->results.len + 128);
		sbuf_adds(&b, "<?xml version=\"1.0\"?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n");
		sbuf_add(&b, rq->results.s ? rq->results.s : "", rq->results.len);
		sbuf_adds(&b, "</data></array></value>\n</param>\n</params>\n</methodResponse>\n");
		sbuf_done(&rq->results);
	} else {
		xml_response(&b, rq->value);
	}
	if (b.len > conn_reply_room(rq->conn)) {
		/* a fault the client understands, rather than the HTTP 503 conn_reply would give */
		size_t len = b.len;

		sbuf_done(&b);
		xml_fault(&b, RPC_FAILED, len > CONTROL_MAX_RESPONSE
					  ? "FAILED: the answer would exceed the most tend sends at once; ask for less"
					  : "FAILED: too many answers wait to be read; retry later");
	}
	rq->done = true;
	conn_reply(rq->conn, 200, "text/xml", b.s, b.len);
	sbuf_done(&b);
	rq_free(rq);
}

/* ---- the method table --------------------------------------------------------- */

struct method {
	const char *name;
	rpc_fn *fn;
	enum access level; /* ACCESS_STATUS, ACCESS_READ (logs, paths, config), ACCESS_WRITE (changes) */
	int nreq;        /* required parameters */
	const char *sig; /* "rtype ptype ptype...", for methodSignature and checking */
	const char *help;
};

static const struct method *find_method(const char *name);
static void invoke(struct rq *rq, const char *name, const struct xv *params);

/* Check params against sig's parameter types; a signal may be a string or an int. */
static bool params_ok(const struct method *m, const struct xv *p, char *why, size_t n)
{
	char types[128], *save = NULL, *t;
	const char *ptype[8];
	size_t ntypes = 0;

	snprintf(types, sizeof(types), "%s", m->sig);
	strtok_r(types, " ", &save); /* the return type */
	while ((t = strtok_r(NULL, " ", &save)) && ntypes < ARRAY_SIZE(ptype))
		ptype[ntypes++] = t;
	if (p->n < (size_t)m->nreq || p->n > ntypes) {
		snprintf(why, n, "%s takes %d to %zu parameters, not %zu", m->name, m->nreq, ntypes, p->n);
		return false;
	}
	for (size_t i = 0; i < p->n; i++) {
		const struct xv *v = p->item[i];
		bool sigparam = strstr(m->name, ".signal") && i == ntypes - 1;
		bool ok;

		if (strcmp(ptype[i], "string") == 0)
			ok = v->type == XV_STRING || (sigparam && v->type == XV_INT);
		else if (strcmp(ptype[i], "int") == 0)
			ok = v->type == XV_INT;
		else if (strcmp(ptype[i], "boolean") == 0)
			ok = v->type == XV_BOOL || (v->type == XV_INT && (v->i == 0 || v->i == 1));
		else if (strcmp(ptype[i], "array") == 0)
			ok = v->type == XV_ARRAY;
		else
			ok = v->type == XV_STRUCT;
		if (!ok) {
			snprintf(why, n, "parameter %zu of %s must be %s", i + 1, m->name, ptype[i]);
			return false;
		}
	}
	return true;
}

const char *rpc_str_at(const struct xv *p, size_t i)
{
	return i < p->n && p->item[i]->type == XV_STRING ? p->item[i]->s : NULL;
}

/* An int parameter, limited to +-2^60 so that offset arithmetic never overflows. */
long long rpc_int_at(const struct xv *p, size_t i, long long dflt)
{
	long long v = i < p->n ? p->item[i]->i : dflt;

	return v > (1LL << 60) ? (1LL << 60) : v < -(1LL << 60) ? -(1LL << 60) : v;
}

/* ---- names: supervisord's namespecs ---------------------------------------------- */

/*
 * "group:name", "group:*" / "group:" (the group), or "name" (= "name:name").
 * Returns 0 with *ret_in for a process, 1 with the group's members in t for
 * a group, -ENOENT when nothing has that name.
 */
int rpc_lookup(struct rq *rq, const char *spec, struct targets *t, struct inst **ret_in)
{
	int r = cmd_resolve(rq->sv, spec, NAMES_SUPERVISORD, t);

	*ret_in = r > 0 ? t->v[0] : NULL;
	return r < 0 ? r : t->group ? 1 : 0;
}

/* A process by name, or NULL with fault BAD_NAME given. */
struct inst *rpc_process(struct rq *rq, const char *spec)
{
	struct targets t = { 0 };
	struct inst *in;

	if (rpc_lookup(rq, spec, &t, &in) != 0) {
		in = NULL;
		rpc_fault(rq, RPC_BAD_NAME, "%s", spec);
	}
	targets_done(&t);
	return in;
}

/* ---- process info ------------------------------------------------------------------- */

/* paths: the log files' (status-only callers get "") */
static struct xv *process_info(const struct inst *in, bool paths)
{
	struct xv *v = xv_struct();
	char desc[256];
	const char *spawnerr = "";

	if (in->state == PS_BACKOFF || in->state == PS_FATAL)
		spawnerr = in->last_kind == EXIT_EXEC ? inst_reason(in)
						     : "Exited too quickly (process log may have details)";
	inst_describe(in, desc, sizeof(desc));
	xv_set(v, "name", xv_str(in->cfg->name));
	xv_set(v, "group", xv_str(in->cfg->group));
	xv_set(v, "start", xv_int(in->start_wall / NSEC_PER_SEC));
	xv_set(v, "stop", xv_int(in->last_kind == EXIT_NONE ? 0 : in->last_wall / NSEC_PER_SEC));
	xv_set(v, "now", xv_int((long long)time(NULL)));
	xv_set(v, "state", xv_int(in->state));
	xv_set(v, "statename", xv_str(pstate_name(in->state)));
	xv_set(v, "spawnerr", xv_str(spawnerr));
	xv_set(v, "exitstatus", xv_int(in->last_kind == EXIT_CODE ? in->last_code
				       : in->last_kind == EXIT_NONE ? 0 : in->last_sig ? -1 : in->last_code));
	xv_set(v, "logfile", xv_str(paths ? inst_log_path(in, false) : ""));
	xv_set(v, "stdout_logfile", xv_str(paths ? inst_log_path(in, false) : ""));
	xv_set(v, "stderr_logfile", xv_str(paths ? inst_log_path(in, true) : ""));
	xv_set(v, "pid", xv_int(in->pid));
	xv_set(v, "description", xv_str(desc));
	return v;
}

static int cmp_lexical(const void *a, const void *b)
{
	const struct inst *x = *(struct inst *const *)a, *y = *(struct inst *const *)b;
	int r = strcmp(x->cfg->group, y->cfg->group);

	return r ? r : strcmp(x->cfg->name, y->cfg->name);
}

static void m_getProcessInfo(struct rq *rq, const struct xv *p)
{
	struct inst *in = rpc_process(rq, rpc_str_at(p, 0));

	if (in)
		rpc_ret(rq, process_info(in, rq->may_read));
}

static void m_getAllProcessInfo(struct rq *rq, const struct xv *p)
{
	struct targets t = { 0 };
	struct xv *arr = xv_array();

	(void)p;
	cmd_group_members(rq->sv, NULL, &t);
	qsort(t.v, t.n, sizeof(*t.v), cmp_lexical);
	for (size_t i = 0; i < t.n; i++)
		xv_push(arr, process_info(t.v[i], rq->may_read));
	targets_done(&t);
	rpc_ret(rq, arr);
}

/* ---- daemon ------------------------------------------------------------------------ */

static void m_getAPIVersion(struct rq *rq, const struct xv *p)
{
	(void)p;
	rpc_ret(rq, xv_str(RPC_API_VERSION));
}

static void m_getSupervisorVersion(struct rq *rq, const struct xv *p)
{
	(void)p;
	rpc_ret(rq, xv_str(TEND_VERSION));
}

static void m_getIdentification(struct rq *rq, const struct xv *p)
{
	(void)p;
	const struct config *cfg = rpc_running_config(rq);

	rpc_ret(rq, xv_str(cfg->identifier ? cfg->identifier : "supervisor"));
}

static void m_getState(struct rq *rq, const struct xv *p)
{
	struct xv *v = xv_struct();
	struct cmd_info info;

	(void)p;
	cmd_info(rq->sv, &info);
	xv_set(v, "statecode", xv_int(info.shutting_down ? -1 : 1));
	xv_set(v, "statename", xv_str(info.shutting_down ? "SHUTDOWN" : "RUNNING"));
	rpc_ret(rq, v);
}

static void m_getPID(struct rq *rq, const struct xv *p)
{
	(void)p;
	rpc_ret(rq, xv_int(getpid()));
}

static void m_shutdown(struct rq *rq, const struct xv *p)
{
	(void)p;
	rpc_ret(rq, xv_bool(true));
	sv_shutdown(rq->sv, "shutdown requested (XML-RPC)");
}

/* supervisor.restart: stop everything, re-read the config, start again */
static void m_restart(struct rq *rq, const struct xv *p)
{
	char *err = NULL;

	(void)p;
	if (cmd_restart_all(rq->sv, &err) < 0) {
		rpc_fault(rq, RPC_CANT_REREAD, "%s", err);
		free(err);
		return;
	}
	rpc_ret(rq, xv_bool(true));
}

struct xv *rpc_result(const struct inst *in, int code, const char *desc)
{
	struct xv *v = xv_struct();

	xv_set(v, "name", xv_str(in->cfg->name));
	xv_set(v, "group", xv_str(in->cfg->group));
	xv_set(v, "status", xv_int(code));
	if (code == RPC_SUCCESS) {
		xv_set(v, "description", xv_str(desc ? desc : "OK"));
	} else {
		char *text = xasprintf("%s: %s", fault_name(code), desc ? desc : in->cfg->fullname);

		xv_set(v, "description", xv_str(text));
		free(text);
	}
	return v;
}

/* ---- system.* ------------------------------------------------------------------------ */

static void m_listMethods(struct rq *rq, const struct xv *p);

static void m_methodHelp(struct rq *rq, const struct xv *p)
{
	const struct method *m = find_method(rpc_str_at(p, 0));

	if (!m)
		return rpc_fault(rq, RPC_SIGNATURE_UNSUPPORTED, NULL);
	rpc_ret(rq, xv_str(m->help));
}

static void m_methodSignature(struct rq *rq, const struct xv *p)
{
	const struct method *m = find_method(rpc_str_at(p, 0));
	char types[128], *save = NULL;
	struct xv *v;

	if (!m)
		return rpc_fault(rq, RPC_SIGNATURE_UNSUPPORTED, NULL);
	snprintf(types, sizeof(types), "%s", m->sig);
	v = xv_array();
	for (char *t = strtok_r(types, " ", &save); t; t = strtok_r(NULL, " ", &save))
		xv_push(v, xv_str(t));
	rpc_ret(rq, v);
}

/* system.multicall: the calls run one after the other (step() makes them) */
static void m_multicall(struct rq *rq, const struct xv *p)
{
	if (rq->multi)
		return rpc_fault(rq, RPC_INCORRECT_PARAMETERS, "Recursive system.multicall forbidden");
	if (p->item[0]->n > RPC_MAX_MULTICALL)
		return rpc_fault(rq, RPC_INCORRECT_PARAMETERS, "system.multicall of %zu calls: at most %d",
				 p->item[0]->n, RPC_MAX_MULTICALL);
	rq->multi = true;
	rq->calls = p->item[0];
	rq->next = 0;
	/* the results are written by step(); this call itself answers nothing */
	rq->busy = false;
}

#define W ACCESS_WRITE
#define R ACCESS_STATUS
#define L ACCESS_READ
static const struct method methods[] = {
	{ "supervisor.addProcessGroup", rpc_m_addProcessGroup, W, 1, "boolean string",
	  "Update the config for a running process from config file.\n\n@param string name name of process group to add\n@return boolean result true if successful" },
	{ "supervisor.clearAllProcessLogs", rpc_m_clearAllProcessLogs, W, 0, "array",
	  "Clear all process log files\n\n@return array result An array of process status info structs" },
	{ "supervisor.clearLog", rpc_m_clearLog, W, 0, "boolean",
	  "Clear the main log.\n\n@return boolean result always returns True unless error" },
	{ "supervisor.clearProcessLog", rpc_m_clearProcessLogs, W, 1, "boolean string",
	  "Clear the stdout and stderr logs for the named process and reopen them.\n\n@param string name The name of the process (or 'group:name')\n@return boolean result Always True unless error" },
	{ "supervisor.clearProcessLogs", rpc_m_clearProcessLogs, W, 1, "boolean string",
	  "Clear the stdout and stderr logs for the named process and reopen them.\n\n@param string name The name of the process (or 'group:name')\n@return boolean result Always True unless error" },
	{ "supervisor.getAPIVersion", m_getAPIVersion, R, 0, "string",
	  "Return the version of the RPC API used by supervisord\n\n@return string version version id" },
	{ "supervisor.getAllConfigInfo", rpc_m_getAllConfigInfo, L, 0, "array",
	  "Get info about all available process configurations. Each struct\nrepresents a single process (i.e. groups get flattened).\n\n@return array result An array of process config info structs" },
	{ "supervisor.getAllProcessInfo", m_getAllProcessInfo, R, 0, "array",
	  "Get info about all processes\n\n@return array result An array of process status results" },
	{ "supervisor.getIdentification", m_getIdentification, R, 0, "string",
	  "Return identifying string of supervisord\n\n@return string identifier identifying string" },
	{ "supervisor.getPID", m_getPID, R, 0, "int",
	  "Return the PID of supervisord\n\n@return int PID" },
	{ "supervisor.getProcessInfo", m_getProcessInfo, R, 1, "struct string",
	  "Get info about a process named name\n\n@param string name The name of the process (or 'group:name')\n@return struct result A structure containing data about the process" },
	{ "supervisor.getState", m_getState, R, 0, "struct",
	  "Return current state of supervisord as a struct\n\n@return struct A struct with keys int statecode, string statename" },
	{ "supervisor.getSupervisorVersion", m_getSupervisorVersion, R, 0, "string",
	  "Return the version of the supervisor package in use by supervisord\n\n@return string version version id" },
	{ "supervisor.getVersion", m_getAPIVersion, R, 0, "string",
	  "Return the version of the RPC API used by supervisord\n\n@return string version version id" },
	{ "supervisor.readLog", rpc_m_readLog, L, 2, "string int int",
	  "Read length bytes from the main log starting at offset\n\n@param int offset offset to start reading from.\n@param int length number of bytes to read from the log.\n@return string result Bytes of log" },
	{ "supervisor.readMainLog", rpc_m_readLog, L, 2, "string int int",
	  "Read length bytes from the main log starting at offset\n\n@param int offset offset to start reading from.\n@param int length number of bytes to read from the log.\n@return string result Bytes of log" },
	{ "supervisor.readProcessLog", rpc_m_readProcessStdoutLog, L, 3, "string string int int",
	  "Read length bytes from name's stdout log starting at offset\n\n@param string name the name of the process (or 'group:name')\n@param int offset offset to start reading from.\n@param int length number of bytes to read from the log.\n@return string result Bytes of log" },
	{ "supervisor.readProcessStderrLog", rpc_m_readProcessStderrLog, L, 3, "string string int int",
	  "Read length bytes from name's stderr log starting at offset\n\n@param string name the name of the process (or 'group:name')\n@param int offset offset to start reading from.\n@param int length number of bytes to read from the log.\n@return string result Bytes of log" },
	{ "supervisor.readProcessStdoutLog", rpc_m_readProcessStdoutLog, L, 3, "string string int int",
	  "Read length bytes from name's stdout log starting at offset\n\n@param string name the name of the process (or 'group:name')\n@param int offset offset to start reading from.\n@param int length number of bytes to read from the log.\n@return string result Bytes of log" },
	{ "supervisor.reloadConfig", rpc_m_reloadConfig, W, 0, "array",
	  "Reload the configuration.\n\nThe result contains three arrays containing names of process\ngroups:\n\n* `added` gives the process groups that have been added\n* `changed` gives the process groups whose contents have\n  changed\n* `removed` gives the process groups that are no longer\n  in the configuration\n\n@return array result  [[added, changed, removed]]" },
	{ "supervisor.removeProcessGroup", rpc_m_removeProcessGroup, W, 1, "boolean string",
	  "Remove a stopped process from the active configuration.\n\n@param string name name of process group to remove\n@return boolean result Indicates whether the removal was successful" },
	{ "supervisor.restart", m_restart, W, 0, "boolean",
	  "Restart the supervisor process\n\n@return boolean result always return True unless error" },
	{ "supervisor.sendProcessStdin", rpc_m_sendProcessStdin, W, 2, "boolean string string",
	  "Send a string of chars to the stdin of the process name.\n\n@param string name The process name to send to (or 'group:name')\n@param string chars The character data to send to the process\n@return boolean result Always return True unless error" },
	{ "supervisor.sendRemoteCommEvent", rpc_m_sendRemoteCommEvent, W, 2, "boolean string string",
	  "Send an event that will be received by event listener\nsubprocesses subscribing to the RemoteCommunicationEvent.\n\n@param  string  type  String for the \"type\" key in the event header\n@param  string  data  Data for the event body\n@return boolean       Always return True unless error" },
	{ "supervisor.shutdown", m_shutdown, W, 0, "boolean",
	  "Shut down the supervisor process\n\n@return boolean result always returns True unless error" },
	{ "supervisor.signalAllProcesses", rpc_m_signalAllProcesses, W, 1, "array string",
	  "Send a signal to all processes in the process list\n\n@param string signal Signal to send, as name ('HUP') or number ('1')\n@return array An array of process status info structs" },
	{ "supervisor.signalProcess", rpc_m_signalProcess, W, 2, "boolean string string",
	  "Send an arbitrary UNIX signal to the process named by name\n\n@param string name Name of the process to signal (or 'group:name')\n@param string signal Signal to send, as name ('HUP') or number ('1')\n@return boolean" },
	{ "supervisor.signalProcessGroup", rpc_m_signalProcessGroup, W, 2, "array string string",
	  "Send a signal to all processes in the group named 'name'\n\n@param string name The group name\n@param string signal Signal to send, as name ('HUP') or number ('1')\n@return array" },
	{ "supervisor.startAllProcesses", rpc_m_startAllProcesses, W, 0, "array boolean",
	  "Start all processes listed in the configuration file\n\n@param boolean wait Wait for each process to be fully started\n@return array result An array of process status info structs" },
	{ "supervisor.startProcess", rpc_m_startProcess, W, 1, "boolean string boolean",
	  "Start a process\n\n@param string name Process name (or ``group:name``, or ``group:*``)\n@param boolean wait Wait for process to be fully started\n@return boolean result Always true unless error" },
	{ "supervisor.startProcessGroup", rpc_m_startProcessGroup, W, 1, "array string boolean",
	  "Start all processes in the group named 'name'\n\n@param string name The group name\n@param boolean wait Wait for each process to be fully started\n@return array result An array of process status info structs" },
	{ "supervisor.stopAllProcesses", rpc_m_stopAllProcesses, W, 0, "array boolean",
	  "Stop all processes in the process list\n\n@param  boolean wait  Wait for each process to be fully stopped\n@return array result  An array of process status info structs" },
	{ "supervisor.stopProcess", rpc_m_stopProcess, W, 1, "boolean string boolean",
	  "Stop a process named by name\n\n@param string name  The name of the process to stop (or 'group:name')\n@param boolean wait        Wait for the process to be fully stopped\n@return boolean result     Always return True unless error" },
	{ "supervisor.stopProcessGroup", rpc_m_stopProcessGroup, W, 1, "array string boolean",
	  "Stop all processes in the process group named 'name'\n\n@param string name  The group name\n@param boolean wait    Wait for each process to be fully stopped\n@return array result   An array of process status info structs" },
	{ "supervisor.tailProcessLog", rpc_m_tailProcessStdoutLog, L, 3, "array string int int",
	  "Provides a more efficient way to tail the (stdout) log than\nreadProcessStdoutLog().\n\n@param string name the name of the process (or 'group:name')\n@param int offset offset to start reading from\n@param int length maximum number of bytes to return\n@return array result [string bytes, int offset, bool overflow]" },
	{ "supervisor.tailProcessStderrLog", rpc_m_tailProcessStderrLog, L, 3, "array string int int",
	  "Provides a more efficient way to tail the (stderr) log than\nreadProcessStderrLog().\n\n@param string name the name of the process (or 'group:name')\n@param int offset offset to start reading from\n@param int length maximum number of bytes to return\n@return array result [string bytes, int offset, bool overflow]" },
	{ "supervisor.tailProcessStdoutLog", rpc_m_tailProcessStdoutLog, L, 3, "array string int int",
	  "Provides a more efficient way to tail the (stdout) log than\nreadProcessStdoutLog().\n\n@param string name the name of the process (or 'group:name')\n@param int offset offset to start reading from\n@param int length maximum number of bytes to return\n@return array result [string bytes, int offset, bool overflow]" },
	{ "system.listMethods", m_listMethods, R, 0, "array",
	  "Return an array listing the available method names\n\n@return array result An array of method names available (strings)." },
	{ "system.methodHelp", m_methodHelp, R, 1, "string string",
	  "Return a string showing the method's documentation\n\n@param string name The name of the method.\n@return string result The documentation for the method name." },
	{ "system.methodSignature", m_methodSignature, R, 1, "array string",
	  "Return an array describing the method signature in the\nform [rtype, ptype, ptype...] where rtype is the return data type\nof the method, and ptypes are the parameter data types that the\nmethod accepts in method argument order.\n\n@param string name The name of the method.\n@return array result The result." },
	{ "system.multicall", m_multicall, R, 1, "array array",
	  "Process an array of calls, and return an array of\nresults. Calls should be structs of the form {'methodName':\nstring, 'params': array}. Each result will either be a\nsingle-item array containing the result value, or a struct of\nthe form {'faultCode': int, 'faultString': string}.\n\n@param array calls An array of call requests\n@return array result An array of results" },
};
#undef W
#undef R
#undef L

static void m_listMethods(struct rq *rq, const struct xv *p)
{
	struct xv *v = xv_array();

	(void)p;
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
		xv_push(v, xv_str(methods[i].name));
	rpc_ret(rq, v);
}

static const struct method *find_method(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(methods); i++)
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	return NULL;
}

/* Make one call; it answers through ret()/fault(), now or later. */
static void invoke(struct rq *rq, const char *name, const struct xv *params)
{
	const struct method *m = find_method(name);
	struct cmd_info info;
	char why[160];

	rq->busy = true;
	if (!m)
		return rpc_fault(rq, RPC_UNKNOWN_METHOD, "%.200s", name ? name : "");
	if (!params_ok(m, params, why, sizeof(why)))
		return rpc_fault(rq, RPC_INCORRECT_PARAMETERS, "%s", why);
	if (m->level == ACCESS_WRITE && !rq->may_write)
		return rpc_fault(rq, RPC_FAILED, "%s: not allowed (read-only connection)", name);
	if (m->level == ACCESS_READ && !rq->may_read)
		return rpc_fault(rq, RPC_FAILED,
				 "%s: not allowed (status only: over TCP without credentials logs and the config need "
				 "[inet_http_server] username and password, or anonymous_read = true)",
				 name);
	cmd_info(rq->sv, &info);
	if (info.shutting_down && strcmp(name, "supervisor.getState") != 0 && strncmp(name, "system.", 7) != 0)
		return rpc_fault(rq, RPC_SHUTDOWN_STATE, NULL);
	m->fn(rq, params);
}

static void step_later(struct loop *l, struct deferred *d)
{
	(void)l;
	step(container_of(d, struct rq, more));
}

/* Make calls until one has to wait, or all are done (a multicall: or its slice is over). */
static void step(struct rq *rq)
{
	int64_t slice_end = mono_ns() + RPC_SLICE_NS;

	rq->in_step = true;
	while (!rq->busy && !rq->done) {
		const struct xv *c, *name, *params;
		struct xv *empty = NULL;

		if (!rq->multi) { /* the one call answered */
			finish(rq);
			return;
		}
		/* system.multicall: write the last answer out, make the next call */
		if (rq->value || rq->fault) {
			if (rq->fault) {
				struct xv *f = xv_struct();

				xv_set(f, "faultCode", xv_int(rq->fault));
				xv_set(f, "faultString", xv_str(rq->fault_msg));
				xv_write(&rq->results, f);
				xv_free(f);
			} else {
				sbuf_adds(&rq->results, "<value><array><data>\n");
				xv_write(&rq->results, rq->value);
				sbuf_adds(&rq->results, "</data></array></value>\n");
				xv_free(rq->value);
			}
			rq->value = NULL;
			rq->fault = 0;
			free(rq->fault_msg);
			rq->fault_msg = NULL;
			conn_preparing(rq->conn, rq->results.len);
			if (rq->results.len + 256 > conn_reply_room(rq->conn)) {
				/* stop before the answer outgrows what tend may buffer for this client */
				sbuf_done(&rq->results);
				rq->multi = false;
				rq->fault = RPC_FAILED;
				rq->fault_msg = xasprintf("FAILED: the answer to this system.multicall would exceed "
							  "%zu bytes after %zu of %zu calls; make fewer calls at a time",
							  conn_reply_room(rq->conn), rq->next, rq->calls->n);
				finish(rq);
				return;
			}
		}
		if (rq->next >= rq->calls->n) {
			finish(rq); /* the multicall itself: its answers */
			return;
		}
		if (mono_ns() > slice_end) {
			/* the rest in a later loop iteration: other connections go first */
			rq->in_step = false;
			loop_defer(conn_loop(rq->conn), &rq->more, step_later);
			return;
		}
		c = rq->calls->item[rq->next++];
		name = xv_get(c, "methodName");
		params = xv_get(c, "params");
		if (!params || params->type != XV_ARRAY)
			params = empty = xv_array();
		if (c->type != XV_STRUCT || !name || name->type != XV_STRING) {
			rq->busy = true;
			rpc_fault(rq, RPC_INCORRECT_PARAMETERS, "No methodName");
		} else if (strcmp(name->s, "system.multicall") == 0) {
			rq->busy = true;
			rpc_fault(rq, RPC_INCORRECT_PARAMETERS, "Recursive system.multicall forbidden");
		} else {
			invoke(rq, name->s, params);
		}
		xv_free(empty);
	}
	rq->in_step = false;
}

struct rpc *rpc_new(struct supervisor *s)
{
	struct rpc *r = xcalloc(1, sizeof(*r));

	r->sv = s;
	return r;
}

void rpc_free(struct rpc *r)
{
	if (!r)
		return;
	config_free(r->staged.cfg);
	free(r);
}

void rpc_handle(struct rpc *r, struct conn *c, const struct request *req)
{
	struct rq *rq = xcalloc(1, sizeof(*rq));
	char err[256];

	rq->rpc = r;
	rq->sv = r->sv;
	rq->conn = c;
	rq->more = (struct deferred)DEFERRED_INIT;
	rq->may_write = req->may_write;
	rq->may_read = req->may_read;
	conn_set_cancel(c, rq_cancel, rq);
	if (req->body_too_big)
		snprintf(err, sizeof(err), "request body exceeds %d bytes", CONTROL_MAX_BODY);
	if (req->body_too_big || xml_call_parse(req->body, req->body_len, &rq->call, err, sizeof(err)) < 0) {
		struct sbuf b = SBUF_INIT;
		char *msg = xasprintf("INCORRECT_PARAMETERS: %s", err);

		xml_fault(&b, RPC_INCORRECT_PARAMETERS, msg);
		conn_reply(c, 200, "text/xml", b.s, b.len);
		sbuf_done(&b);
		free(msg);
		rq_free(rq);
		return;
	}
	rq->in_step = true;
	invoke(rq, rq->call.method, rq->call.params);
	rq->in_step = false;
	if (!rq->busy)
		step(rq); /* else step() runs when the call completes */
}
