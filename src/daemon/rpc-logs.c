/*
 * supervisord's log methods over XML-RPC: the main log (readLog, clearLog)
 * and each process's (read, tail, clear), read the way supervisord's
 * readFile and tailFile read them.
 */
#include "daemon/rpc-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/cmd.h"
#include "daemon/log.h"
#include "daemon/logstream.h"

#define RPC_MAX_READ (16 * 1024 * 1024) /* most bytes a log read returns */

/* path NULL: an empty log (an AUTO file not made yet).  Never through a symlink. */
static int read_range(const char *path, long long offset, long long length, struct sbuf *out)
{
	struct stat st;
	long long size, pos, want;
	int fd;

	if ((offset < 0 && length != 0) || length < 0)
		return -EINVAL;
	if (!path)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0)
		return -EIO;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -EIO;
	}
	size = S_ISREG(st.st_mode) ? st.st_size : 0;
	if (offset < 0) {
		pos = size + offset < 0 ? 0 : size + offset;
		want = size - pos;
	} else {
		pos = offset;
		want = length ? length : size - pos;
	}
	if (want > RPC_MAX_READ)
		want = RPC_MAX_READ;
	if (want > 0 && pos < size) {
		ssize_t r;

		sbuf_grow(out, (size_t)want);
		r = pread(fd, out->s + out->len, (size_t)want, pos);
		if (r > 0) {
			out->len += (size_t)r;
			out->s[out->len] = '\0';
		}
	}
	close(fd);
	return 0;
}

static void read_reply(struct rq *rq, const char *path, long long off, long long len)
{
	struct sbuf b = SBUF_INIT;
	int r = read_range(path, off, len, &b);
	struct xv *v;

	if (r == -EINVAL) {
		sbuf_done(&b);
		return rpc_fault(rq, RPC_BAD_ARGUMENTS, NULL);
	}
	if (r < 0) {
		sbuf_done(&b);
		return rpc_fault(rq, RPC_FAILED, NULL);
	}
	v = xv_strn(b.s ? b.s : "", b.len);
	sbuf_done(&b);
	rpc_ret(rq, v);
}

void rpc_m_readLog(struct rq *rq, const struct xv *p)
{
	const char *path = rpc_running_config(rq)->logfile;

	if (!path || access(path, F_OK) < 0)
		return rpc_fault(rq, RPC_NO_FILE, "%s", path ? path : "tend logs to stderr only (no [supervisord] logfile)");
	read_reply(rq, path, rpc_int_at(p, 0, 0), rpc_int_at(p, 1, 0));
}

void rpc_m_clearLog(struct rq *rq, const struct xv *p)
{
	const char *path = rpc_running_config(rq)->logfile;

	(void)p;
	if (!path || access(path, F_OK) < 0)
		return rpc_fault(rq, RPC_NO_FILE, "%s", path ? path : "no log file");
	if (truncate(path, 0) < 0)
		return rpc_fault(rq, RPC_FAILED, "%s: %s", path, strerror(errno));
	log_reopen();
	rpc_ret(rq, xv_bool(true));
}

/*
 * A process's log (err: stderr) for the read and tail methods.  *ret_unmade:
 * an AUTO file its stream has not made yet (nothing written): an empty log,
 * whatever is at the path.
 */
static int process_log(struct rq *rq, const struct xv *p, bool err, struct inst **ret_in, const char **ret_path,
		       bool *ret_unmade)
{
	struct inst *in = rpc_process(rq, rpc_str_at(p, 0));
	struct logstream *ls;

	if (!in)
		return -1;
	*ret_in = in;
	*ret_path = err ? inst_log_path(in, true) : inst_log_path(in, false);
	ls = sv_logstream(in, err);
	*ret_unmade = *ret_path && ls && logstream_unopened(ls);
	return 0;
}

static void read_proc_log(struct rq *rq, const struct xv *p, bool err)
{
	long long off = rpc_int_at(p, 1, 0), len = rpc_int_at(p, 2, 0);
	struct logstream *ls;
	const char *path;
	struct inst *in;
	bool unmade;

	if (process_log(rq, p, err, &in, &path, &unmade) < 0)
		return;
	if (unmade)
		return read_reply(rq, NULL, off, len);
	if (path && access(path, F_OK) == 0)
		return read_reply(rq, path, off, len);
	/* no file (output goes to tend's stdout): the in-memory ring serves a tail */
	ls = sv_logstream(in, err);
	if (ls && off < 0 && len == 0 && !(err && in->cfg->redirect_stderr)) {
		struct sbuf b = SBUF_INIT;
		size_t keep;

		logstream_tail(ls, 0, &b);
		keep = (size_t)-off < b.len ? (size_t)-off : b.len;
		rpc_ret(rq, xv_strn(b.s ? b.s + b.len - keep : "", keep));
		sbuf_done(&b);
		return;
	}
	rpc_fault(rq, RPC_NO_FILE, "%s", path ? path : in->cfg->fullname);
}

void rpc_m_readProcessStdoutLog(struct rq *rq, const struct xv *p)
{
	read_proc_log(rq, p, false);
}

void rpc_m_readProcessStderrLog(struct rq *rq, const struct xv *p)
{
	read_proc_log(rq, p, true);
}

/* supervisord's tailFile: [bytes, new offset, overflow] */
static void tail_proc_log(struct rq *rq, const struct xv *p, bool err)
{
	long long offset = rpc_int_at(p, 1, 0), length = rpc_int_at(p, 2, 0), sz;
	struct sbuf b = SBUF_INIT;
	bool overflow = false;
	struct xv *v;
	struct stat st;
	const char *path;
	struct inst *in;
	bool unmade;

	if (process_log(rq, p, err, &in, &path, &unmade) < 0)
		return;
	if (unmade) {
		memset(&st, 0, sizeof(st));
		st.st_mode = S_IFREG;
		path = NULL;
	} else if (!path || stat(path, &st) < 0) {
		return rpc_fault(rq, RPC_NO_FILE, "%s", path ? path : in->cfg->fullname);
	}
	if (offset < 0 || length < 0)
		return rpc_fault(rq, RPC_BAD_ARGUMENTS, NULL);
	sz = S_ISREG(st.st_mode) ? st.st_size : 0;
	if (sz > offset + length) {
		overflow = true;
		offset = sz - 1;
	}
	if (offset + length > sz) {
		if (offset > sz - 1)
			length = 0;
		offset = sz - length;
	}
	if (offset < 0)
		offset = 0;
	if (length > 0)
		read_range(path, offset, length, &b);
	v = xv_array();
	xv_push(v, xv_strn(b.s ? b.s : "", b.len));
	xv_push(v, xv_int(sz));
	xv_push(v, xv_bool(overflow));
	sbuf_done(&b);
	rpc_ret(rq, v);
}

void rpc_m_tailProcessStdoutLog(struct rq *rq, const struct xv *p)
{
	tail_proc_log(rq, p, false);
}

void rpc_m_tailProcessStderrLog(struct rq *rq, const struct xv *p)
{
	tail_proc_log(rq, p, true);
}

static int clear_logs(struct inst *in)
{
	int r = 0;

	for (int i = 0; i < 2; i++) {
		struct logstream *ls = sv_logstream(in, i == 1);
		const char *path = i ? inst_log_path(in, true) : inst_log_path(in, false);

		if (ls) {
			int e = logstream_clear(ls);

			r = r ? r : e;
		} else if (path && truncate(path, 0) < 0 && errno != ENOENT) {
			r = r ? r : -errno;
		}
	}
	return r;
}

void rpc_m_clearProcessLogs(struct rq *rq, const struct xv *p)
{
	struct inst *in = rpc_process(rq, rpc_str_at(p, 0));

	if (!in)
		return;
	if (clear_logs(in) < 0)
		return rpc_fault(rq, RPC_FAILED, "%s", in->cfg->fullname);
	rpc_ret(rq, xv_bool(true));
}

void rpc_m_clearAllProcessLogs(struct rq *rq, const struct xv *p)
{
	struct targets t = { 0 };
	struct xv *arr = xv_array();

	(void)p;
	cmd_group_members(rpc_supervisor(rq), NULL, &t);
	for (size_t i = 0; i < t.n; i++)
		xv_push(arr, rpc_result(t.v[i], clear_logs(t.v[i]) < 0 ? RPC_FAILED : RPC_SUCCESS, NULL));
	targets_done(&t);
	rpc_ret(rq, arr);
}

