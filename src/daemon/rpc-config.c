/*
 * supervisord's config methods over XML-RPC: reloadConfig (reread and stage),
 * addProcessGroup and removeProcessGroup, getAllConfigInfo; and the staged config.
 */
#include "daemon/rpc-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "daemon/cmd.h"

/* The staged config, while no reload or restart has put the whole file in force since. */
static const struct config *staged(struct rq *rq)
{
	struct rpc_staged *st = rpc_staged_of(rq);
	struct cmd_info info;

	cmd_info(rpc_supervisor(rq), &info);
	if (st->cfg && st->loads != info.file_loads)
		st->cfg = config_free(st->cfg);
	return st->cfg;
}

static struct xv *name_array(char **v)
{
	struct xv *a = xv_array();

	for (; v && *v; v++)
		xv_push(a, xv_str(*v));
	return a;
}

void rpc_m_reloadConfig(struct rq *rq, const struct xv *p)
{
	struct rpc_staged *st = rpc_staged_of(rq);
	struct group_changes g;
	struct config *nc;
	struct cmd_info info;
	char *err = NULL;

	(void)p;
	if (cmd_reread(rpc_supervisor(rq), &nc, &g, &err) < 0) {
		rpc_fault(rq, RPC_CANT_REREAD, "%s", err);
		free(err);
		return;
	}
	cmd_info(rpc_supervisor(rq), &info);
	config_free(st->cfg);
	st->cfg = nc;
	st->loads = info.file_loads;
	rpc_ret(rq, xv_push(xv_array(),
			xv_push(xv_push(xv_push(xv_array(), name_array(g.added)), name_array(g.changed)),
				name_array(g.removed))));
	group_changes_done(&g);
}

void rpc_m_addProcessGroup(struct rq *rq, const struct xv *p)
{
	const char *g = rpc_str_at(p, 0);
	const struct config *src = staged(rq);
	int r = cmd_add_group(rpc_supervisor(rq), src ? src : rpc_running_config(rq), g);

	if (r == -EEXIST)
		return rpc_fault(rq, RPC_ALREADY_ADDED, "%s", g);
	if (r == -ENOENT)
		return rpc_fault(rq, RPC_BAD_NAME, "%s", g);
	if (r < 0)
		return rpc_fault(rq, RPC_SHUTDOWN_STATE, NULL);
	rpc_ret(rq, xv_bool(true));
}

void rpc_m_removeProcessGroup(struct rq *rq, const struct xv *p)
{
	const char *g = rpc_str_at(p, 0);
	int r = cmd_remove_group(rpc_supervisor(rq), g);

	if (r == -ENOENT)
		return rpc_fault(rq, RPC_BAD_NAME, "%s", g);
	if (r == -EBUSY)
		return rpc_fault(rq, RPC_STILL_RUNNING, "%s", g);
	if (r < 0)
		return rpc_fault(rq, RPC_SHUTDOWN_STATE, NULL);
	rpc_ret(rq, xv_bool(true));
}

/* getAllConfigInfo: the staged config (after reloadConfig) or the running one */
static const char *dest_name(const struct log_dest *d)
{
	switch (d->kind) {
	case LOGDEST_AUTO: return "auto";
	case LOGDEST_NONE: return "none";
	case LOGDEST_FILE: return d->path;
	case LOGDEST_STDERR: return "/dev/stderr";
	default: return "/dev/stdout";
	}
}

static int cmp_name(const void *a, const void *b)
{
	const struct prog_config *x = *(struct prog_config *const *)a, *y = *(struct prog_config *const *)b;

	return strcmp(x->name, y->name);
}

void rpc_m_getAllConfigInfo(struct rq *rq, const struct xv *p)
{
	const struct config *c = staged(rq) ? staged(rq) : rpc_running_config(rq);
	struct prog_config **v = xcalloc(c->nprocs + 1, sizeof(*v));
	struct xv *arr = xv_array();

	(void)p;
	memcpy(v, c->procs, c->nprocs * sizeof(*v));
	qsort(v, c->nprocs, sizeof(*v), cmp_name);
	for (size_t i = 0; i < c->nprocs; i++) {
		const struct prog_config *pc = v[i];
		const struct group_config *gc = config_group(c, pc->group);
		struct xv *d = xv_struct(), *codes = xv_array();

		for (int code = 0; code < 256; code++)
			if (pc->exitcodes[code / 64] & (1ULL << (code % 64)))
				xv_push(codes, xv_int(code));
		xv_set(d, "autostart", xv_bool(pc->autostart));
		xv_set(d, "directory", xv_str(pc->directory ? pc->directory : "none"));
		xv_set(d, "uid", pc->user ? xv_int(pc->uid) : xv_str("none"));
		xv_set(d, "command", xv_str(pc->command));
		xv_set(d, "exitcodes", codes);
		xv_set(d, "group", xv_str(pc->group));
		xv_set(d, "group_prio", xv_int(gc ? gc->priority : pc->priority));
		xv_set(d, "inuse", xv_bool(cmd_group_in_use(rpc_supervisor(rq), pc->group)));
		xv_set(d, "killasgroup", xv_bool(pc->killasgroup));
		xv_set(d, "name", xv_str(pc->name));
		xv_set(d, "process_prio", xv_int(pc->priority));
		xv_set(d, "redirect_stderr", xv_bool(pc->redirect_stderr));
		xv_set(d, "startretries", xv_int(pc->startretries));
		xv_set(d, "startsecs", xv_int(pc->startsecs_ns / NSEC_PER_SEC));
		xv_set(d, "stdout_capture_maxbytes", xv_int(0));
		xv_set(d, "stdout_events_enabled", xv_bool(false));
		xv_set(d, "stdout_logfile", xv_str(dest_name(&pc->out)));
		xv_set(d, "stdout_logfile_backups", xv_int(pc->out.backups));
		xv_set(d, "stdout_logfile_maxbytes", xv_int((long long)pc->out.maxbytes));
		xv_set(d, "stdout_syslog", xv_bool(false));
		xv_set(d, "stopsignal", xv_int(pc->stopsignal));
		xv_set(d, "stopwaitsecs", xv_int(pc->stopwait_ns / NSEC_PER_SEC));
		xv_set(d, "stderr_capture_maxbytes", xv_int(0));
		xv_set(d, "stderr_events_enabled", xv_bool(false));
		xv_set(d, "stderr_logfile", xv_str(pc->redirect_stderr ? "none" : dest_name(&pc->err)));
		xv_set(d, "stderr_logfile_backups", xv_int(pc->err.backups));
		xv_set(d, "stderr_logfile_maxbytes", xv_int((long long)pc->err.maxbytes));
		xv_set(d, "stderr_syslog", xv_bool(false));
		xv_set(d, "serverurl", xv_str("auto"));
		xv_push(arr, d);
	}
	free(v);
	rpc_ret(rq, arr);
}
