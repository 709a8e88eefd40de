/*
 * tend.Queue: multiprocessing.Queue's contract over tend_queue.
 *
 * Wire format of a message (so that C programs can share a queue with
 * Python): a bytes object travels as 0x00 followed by its bytes; any other
 * object as its pickle (protocol 5), which always starts with 0x80 (PROTO).
 * A message longer than the queue's max_msg travels as 0x01 followed by the
 * name of a spill file in /dev/shm holding it (spill.c), which the getter
 * reads and removes: any size goes, as with multiprocessing.Queue.  A
 * message starting with anything else is refused with ValueError.
 *
 * Blocking: every call first tries without waiting, holding the GIL (the
 * common case costs no GIL round trip); only a call that has to wait
 * releases the GIL, and it wakes for signals (Ctrl-C raises
 * KeyboardInterrupt) and goes on with what is left of its timeout.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tend/queue.h"
#include "tendpy.h"

#define TAG_BYTES 0x00
#define TAG_PICKLE 0x80
#define TAG_SPILL 0x01 /* then the name of a spill file holding the message (spill.c) */

/* maxsize=0: messages per priority level; and the default max_msg. */
#define DEFAULT_CAPACITY 8192
#define DEFAULT_MAX_MSG 1016 /* a slot of 1 KiB with its word: 4 a page (a slot
			      * of 8 KiB halved the throughput of small objects) */

typedef struct {
	PyObject_HEAD
	tend_queue *q;
	PyObject *name; /* "/x", or NULL: anonymous */
	size_t max_msg;
	unsigned nprio;
	bool closed;    /* close() in this process: puts and gets refused, as multiprocessing's */
	bool buf_busy;  /* buf in use by a get (another thread may wait) */
	char *buf;      /* max_msg bytes, for get */
	uint64_t spill_id; /* of the spill files of messages longer than max_msg */
	uint64_t spill_seq;
} QueueObject;

static PyTypeObject Queue_Type;

/* ---- blocking calls ----------------------------------------------------- */

/* Run put (len > 0 msg) or get (buf) with the caller's timeout: first without
 * waiting while holding the GIL, then, if it must wait, with the GIL released
 * and again after each signal.  Returns the libtend result; -EINTR only
 * when a signal handler raised (the exception is set). */
static int queue_op(QueueObject *self, bool put, const void *msg, size_t len, unsigned prio, char *buf,
		    int64_t timeout_ns)
{
	int64_t deadline = 0, left = timeout_ns;
	int r;

	r = put ? tend_queue_put(self->q, msg, len, prio, TEND_NOWAIT)
		: tend_queue_get(self->q, buf, self->max_msg, NULL, TEND_NOWAIT);
	if (r != -EAGAIN || timeout_ns == TEND_NOWAIT)
		return r;
	if (timeout_ns > 0)
		deadline = tp_now_ns() + timeout_ns;
	for (;;) {
		Py_BEGIN_ALLOW_THREADS
		r = put ? tend_queue_put(self->q, msg, len, prio, left)
			: tend_queue_get(self->q, buf, self->max_msg, NULL, left);
		Py_END_ALLOW_THREADS
		if (r != -EINTR)
			return r;
		if (PyErr_CheckSignals() < 0)
			return -EINTR;
		if (timeout_ns > 0) {
			left = deadline - tp_now_ns();
			if (left <= 0)
				return -ETIMEDOUT;
		}
	}
}

static PyObject *queue_error(QueueObject *self, int r, bool put)
{
	if (r == -EAGAIN || r == -ETIMEDOUT) {
		PyErr_SetNone(put ? tp_exc_full : tp_exc_empty);
		return NULL;
	}
	if (r == -EPIPE) {
		PyErr_Format(tp_exc_shutdown, "tend.Queue %R was shut down%s", self->name ? self->name : Py_None,
			     put ? "" : " and is empty");
		return NULL;
	}
	if (r == -EINTR && PyErr_Occurred())
		return NULL;
	return tp_raise(r, &tp_kind_queue, self->name, put ? "put" : "get");
}

/* ---- put ---------------------------------------------------------------- */

/*
 * A message longer than max_msg goes through a spill file: its bytes (tag
 * and all) are written to a new file in /dev/shm, and the queue carries
 * TAG_SPILL and the file's name (written into small, its name into spill).
 */
static int spill_out(QueueObject *self, const void *tag, size_t ntag, const void *data, size_t n, char *small,
		     size_t small_cap, const char **ret_msg, size_t *ret_len, char *spill)
{
	const void *parts[] = { tag, data };
	const size_t lens[] = { ntag, n };
	size_t name_len;
	int r;

	tp_spill_name(spill, self->spill_id, 'q', (long)getpid(), self->spill_seq++);
	name_len = strlen(spill);
	if (1 + name_len > self->max_msg || 1 + name_len > small_cap) {
		spill[0] = '\0';
		PyErr_Format(PyExc_ValueError, "tend.Queue %R: a message of %zu bytes, and max_msg=%zu is too small to "
			     "carry even the name of a spill file", self->name ? self->name : Py_None, ntag + n,
			     self->max_msg);
		return -1;
	}
	r = tp_spill_write(spill, parts, lens, 2);
	if (r < 0) {
		spill[0] = '\0';
		tp_raise(r, &tp_kind_queue, self->name, "spill a large message for");
		return -1;
	}
	small[0] = TAG_SPILL;
	memcpy(small + 1, spill, name_len);
	*ret_msg = small;
	*ret_len = 1 + name_len;
	return 0;
}

/* The message for obj: *ret_msg and *ret_len point into *ret_keep (a new
 * reference the caller releases) or into small (small bytes objects, and
 * the reference to a spill file, whose name is then in spill, else ""). */
static int encode(QueueObject *self, PyObject *obj, char *small, size_t small_cap, const char **ret_msg,
		  size_t *ret_len, PyObject **ret_keep, char *spill)
{
	PyObject *data;
	size_t n;
	int r;

	spill[0] = '\0';
	*ret_keep = NULL;
	if (PyBytes_CheckExact(obj)) {
		static const char tag = TAG_BYTES;

		n = (size_t)PyBytes_GET_SIZE(obj) + 1;
		if (n > self->max_msg)
			return spill_out(self, &tag, 1, PyBytes_AS_STRING(obj), n - 1, small, small_cap, ret_msg,
					 ret_len, spill);
		if (n <= small_cap) {
			small[0] = TAG_BYTES;
			memcpy(small + 1, PyBytes_AS_STRING(obj), n - 1);
			*ret_msg = small;
		} else {
			data = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
			if (!data)
				return -1;
			PyBytes_AS_STRING(data)[0] = TAG_BYTES;
			memcpy(PyBytes_AS_STRING(data) + 1, PyBytes_AS_STRING(obj), n - 1);
			*ret_msg = PyBytes_AS_STRING(data);
			*ret_keep = data;
		}
		*ret_len = n;
		return 0;
	}
	data = tp_pickle(obj);
	if (!data)
		return -1;
	n = (size_t)PyBytes_GET_SIZE(data);
	if (n > self->max_msg) {
		r = spill_out(self, "", 0, PyBytes_AS_STRING(data), n, small, small_cap, ret_msg, ret_len, spill);
		Py_DECREF(data);
		return r;
	}
	*ret_msg = PyBytes_AS_STRING(data);
	*ret_len = n;
	*ret_keep = data;
	return 0;
}

static int prio_arg(QueueObject *self, PyObject *p, unsigned *ret)
{
	long v;

	if (!p) {
		*ret = 0;
		return 0;
	}
	v = PyLong_AsLong(p);
	if (v == -1 && PyErr_Occurred())
		return -1;
	if (v < 0 || (unsigned long)v >= self->nprio) {
		PyErr_Format(PyExc_ValueError, "priority must be in 0..%u for this queue, not %ld", self->nprio - 1,
			     v);
		return -1;
	}
	*ret = (unsigned)v;
	return 0;
}

static int closed_error(QueueObject *self)
{
	PyErr_Format(PyExc_ValueError, "tend.Queue %R is closed in this process (close() was called)",
		     self->name ? self->name : Py_None);
	return -1;
}

static int put_args(QueueObject *self, PyObject **a, int64_t *ret_timeout, unsigned *ret_prio)
{
	int block = 1;

	if (self->closed)
		return closed_error(self);
	if (a[0] && (block = PyObject_IsTrue(a[0])) < 0)
		return -1;
	if (tp_timeout_ns(block, a[1], ret_timeout) < 0)
		return -1;
	return prio_arg(self, a[2], ret_prio);
}

static int put_one(QueueObject *self, PyObject *obj, unsigned prio, int64_t timeout_ns)
{
	char small[256], spill[TP_SPILL_NAME_MAX];
	const char *msg;
	size_t len;
	PyObject *keep;
	int r;

	if (encode(self, obj, small, sizeof(small), &msg, &len, &keep, spill) < 0)
		return -1;
	r = queue_op(self, true, msg, len, prio, NULL, timeout_ns);
	Py_XDECREF(keep);
	if (r < 0) {
		if (spill[0])
			shm_unlink(spill); /* not queued: nobody will read it */
		queue_error(self, r, true);
		return -1;
	}
	return 0;
}

static PyObject *Queue_put(QueueObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = {"obj", "block", "timeout", "priority"};
	PyObject *a[4];
	int64_t t;
	unsigned prio;

	if (nargs == 1 && !kwnames && !self->closed) {
		if (put_one(self, args[0], 0, TEND_FOREVER) < 0)
			return NULL;
		Py_RETURN_NONE;
	}
	if (tp_args("put", args, nargs, kwnames, names, 4, 3, 1, a) < 0)
		return NULL;
	if (put_args(self, a + 1, &t, &prio) < 0)
		return NULL;
	if (put_one(self, a[0], prio, t) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *Queue_put_nowait(QueueObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = {"obj", "priority"};
	PyObject *a[2];
	unsigned prio;

	if (tp_args("put_nowait", args, nargs, kwnames, names, 2, 1, 1, a) < 0)
		return NULL;
	if (prio_arg(self, a[1], &prio) < 0)
		return NULL;
	if (self->closed) {
		closed_error(self);
		return NULL;
	}
	if (put_one(self, a[0], prio, TEND_NOWAIT) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *Queue_put_many(QueueObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = {"objs", "block", "timeout", "priority"};
	PyObject *a[4], *seq;
	int64_t t, deadline = 0;
	unsigned prio;
	Py_ssize_t i, n;

	if (tp_args("put_many", args, nargs, kwnames, names, 4, 3, 1, a) < 0)
		return NULL;
	if (put_args(self, a + 1, &t, &prio) < 0)
		return NULL;
	seq = PySequence_Fast(a[0], "put_many() needs an iterable of objects");
	if (!seq)
		return NULL;
	n = PySequence_Fast_GET_SIZE(seq);
	if (t > 0)
		deadline = tp_now_ns() + t;
	for (i = 0; i < n; i++) {
		int64_t left = t;

		if (t > 0) {
			left = deadline - tp_now_ns();
			if (left <= 0)
				left = TEND_NOWAIT;
		}
		if (put_one(self, PySequence_Fast_GET_ITEM(seq, i), prio, left) < 0) {
			if (PyErr_ExceptionMatches(tp_exc_full)) {
				PyErr_Clear();
				PyErr_Format(tp_exc_full, "put_many: the queue stayed full after %zd of %zd objects", i,
					     n);
			}
			Py_DECREF(seq);
			return NULL;
		}
	}
	Py_DECREF(seq);
	Py_RETURN_NONE;
}

static PyObject *Queue_put_raw(QueueObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = {"data", "block", "timeout", "priority"};
	PyObject *a[4];
	Py_buffer view;
	int64_t t;
	unsigned prio;
	int r;

	if (tp_args("put_raw", args, nargs, kwnames, names, 4, 3, 1, a) < 0)
		return NULL;
	if (put_args(self, a + 1, &t, &prio) < 0)
		return NULL;
	if (PyObject_GetBuffer(a[0], &view, PyBUF_SIMPLE) < 0)
		return NULL;
	if ((size_t)view.len > self->max_msg) {
		PyErr_Format(PyExc_ValueError, "tend.Queue %R: %zd bytes, more than the queue's max_msg of %zu",
			     self->name ? self->name : Py_None, view.len, self->max_msg);
		PyBuffer_Release(&view);
		return NULL;
	}
	r = queue_op(self, true, view.buf, (size_t)view.len, prio, NULL, t);
	PyBuffer_Release(&view);
	if (r < 0)
		return queue_error(self, r, true);
	Py_RETURN_NONE;
}

/* ---- get ---------------------------------------------------------------- */

static PyObject *decode(QueueObject *self, const char *msg, size_t len);

/* A message that came through a spill file: read (and remove) the file, decode what it holds. */
static PyObject *decode_spill(QueueObject *self, const char *msg, size_t len)
{
	char name[TP_SPILL_NAME_MAX];
	PyObject *data, *obj;

	/* only a name spill.c makes: "/tend-py-...", one slash (never a path elsewhere) */
	if (len < 10 || len - 1 >= sizeof(name) || msg[1] != '/' || memcmp(msg + 2, "tend-py-", 8) != 0 ||
	    memchr(msg + 2, '/', len - 2)) {
		PyErr_Format(PyExc_ValueError, "tend.Queue %R: a spill reference of %zu bytes that names no spill file",
			     self->name ? self->name : Py_None, len);
		return NULL;
	}
	memcpy(name, msg + 1, len - 1);
	name[len - 1] = '\0';
	data = tp_spill_take(name);
	if (!data)
		return NULL;
	if (PyBytes_GET_SIZE(data) >= 1 && (unsigned char)PyBytes_AS_STRING(data)[0] == TAG_SPILL) {
		Py_DECREF(data);
		PyErr_Format(PyExc_ValueError, "tend.Queue %R: a spill file that refers to another",
			     self->name ? self->name : Py_None);
		return NULL;
	}
	obj = decode(self, PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data));
	Py_DECREF(data);
	return obj;
}

static PyObject *decode(QueueObject *self, const char *msg, size_t len)
{
	if (len >= 1 && (unsigned char)msg[0] == TAG_SPILL)
		return decode_spill(self, msg, len);
	if (len >= 1 && (unsigned char)msg[0] == TAG_BYTES)
		return PyBytes_FromStringAndSize(msg + 1, (Py_ssize_t)len - 1);
	if (len >= 2 && (unsigned char)msg[0] == TAG_PICKLE)
		return tp_unpickle(msg, len);
	PyErr_Format(PyExc_ValueError,
		     "tend.Queue %R: a message of %zu bytes that is neither tagged bytes (0x00) nor a pickle (0x80), "
		     "put by a program that does not speak tend's Python format",
		     self->name ? self->name : Py_None, len);
	return NULL;
}

/* Take a buffer of max_msg bytes: the handle's, or a fresh one when another
 * thread is using it. */
static char *buf_take(QueueObject *self)
{
	if (!self->buf_busy) {
		self->buf_busy = true;
		return self->buf;
	}
	return PyMem_Malloc(self->max_msg);
}

static void buf_give(QueueObject *self, char *buf)
{
	if (buf == self->buf)
		self->buf_busy = false;
	else
		PyMem_Free(buf);
}

/* One message, or NULL with Empty, ShutDown or another exception set. */
static PyObject *get_one(QueueObject *self, int64_t timeout_ns)
{
	char *buf;
	PyObject *obj;
	int r;

	if (self->closed) { /* as multiprocessing's get() after close() */
		closed_error(self);
		return NULL;
	}
	buf = buf_take(self);
	if (!buf)
		return PyErr_NoMemory();
	r = queue_op(self, false, NULL, 0, 0, buf, timeout_ns);
	obj = r < 0 ? queue_error(self, r, false) : decode(self, buf, (size_t)r);
	buf_give(self, buf);
	return obj;
}

static PyObject *Queue_get(QueueObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = {"block", "timeout"};
	PyObject *a[2];
	int64_t t;

	if (nargs == 0 && !kwnames)
		return get_one(self, TEND_FOREVER);
	if (tp_args("get", args, nargs, kwnames, names, 2, 2, 0, a) < 0 || tp_block_timeout(a[0], a[1], &t) < 0)
		return NULL;
	return get_one(self, t);
}

static PyObject *Queue_get_raw(QueueObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = {"block", "timeout"};
	PyObject *a[2], *obj;
	int64_t t;
	char *buf;
	int r;

	if (tp_args("get_raw", args, nargs, kwnames, names, 2, 2, 0, a) < 0 || tp_block_timeout(a[0], a[1], &t) < 0)
		return NULL;
	if (self->closed) {
		closed_error(self);
		return NULL;
	}
	buf = buf_take(self);
	if (!buf)
		return PyErr_NoMemory();
	r = queue_op(self, false, NULL, 0, 0, buf, t);
	obj = r < 0 ? queue_error(self, r, false) : PyBytes_FromStringAndSize(buf, r);
	buf_give(self, buf);
	return obj;
}

static PyObject *Queue_get_nowait(QueueObject *self, PyObject *Py_UNUSED(ignored))
{
	return get_one(self, TEND_NOWAIT);
}

static PyObject *Queue_get_many(QueueObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = {"block", "timeout", "max_messages_to_get"};
	PyObject *a[3], *list, *obj;
	int64_t t;
	Py_ssize_t max = PY_SSIZE_T_MAX;

	if (tp_args("get_many", args, nargs, kwnames, names, 3, 3, 0, a) < 0 || tp_block_timeout(a[0], a[1], &t) < 0)
		return NULL;
	if (self->closed) {
		closed_error(self);
		return NULL;
	}
	if (a[2]) {
		max = PyLong_AsSsize_t(a[2]);
		if (max == -1 && PyErr_Occurred())
			return NULL;
		if (max < 1) {
			PyErr_SetString(PyExc_ValueError, "max_messages_to_get must be at least 1");
			return NULL;
		}
	}
	obj = get_one(self, t);
	if (!obj)
		return NULL;
	list = PyList_New(1);
	if (!list) {
		Py_DECREF(obj);
		return NULL;
	}
	PyList_SET_ITEM(list, 0, obj);
	while (PyList_GET_SIZE(list) < max) {
		int r;

		obj = get_one(self, TEND_NOWAIT);
		if (obj) {
			r = PyList_Append(list, obj);
			Py_DECREF(obj);
			if (r < 0)
				goto out_fail;
			continue;
		}
		/* empty now, or shut down: what we have is the answer */
		if (PyErr_ExceptionMatches(tp_exc_empty) || PyErr_ExceptionMatches(tp_exc_shutdown)) {
			PyErr_Clear();
			break;
		}
		goto out_fail;
	}
	return list;

out_fail:
	Py_DECREF(list);
	return NULL;
}

/* ---- the rest of multiprocessing.Queue ---------------------------------- */

static PyObject *Queue_qsize(QueueObject *self, PyObject *Py_UNUSED(ignored))
{
	int r = tend_queue_qsize(self->q);

	return r < 0 ? tp_raise(r, &tp_kind_queue, self->name, "qsize") : PyLong_FromLong(r);
}

static PyObject *Queue_empty(QueueObject *self, PyObject *Py_UNUSED(ignored))
{
	int r = tend_queue_empty(self->q);

	return r < 0 ? tp_raise(r, &tp_kind_queue, self->name, "empty") : PyBool_FromLong(r);
}

static PyObject *Queue_full(QueueObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = {"priority"};
	PyObject *a[1];
	unsigned prio;
	int r;

	if (tp_args("full", args, nargs, kwnames, names, 1, 1, 0, a) < 0 || prio_arg(self, a[0], &prio) < 0)
		return NULL;
	r = tend_queue_full(self->q, prio);
	return r < 0 ? tp_raise(r, &tp_kind_queue, self->name, "full") : PyBool_FromLong(r);
}

static PyObject *Queue_close(QueueObject *self, PyObject *Py_UNUSED(ignored))
{
	self->closed = true;
	Py_RETURN_NONE;
}

static PyObject *Queue_noop(QueueObject *Py_UNUSED(self), PyObject *Py_UNUSED(ignored))
{
	Py_RETURN_NONE;
}

static PyObject *Queue_shutdown(QueueObject *self, PyObject *Py_UNUSED(ignored))
{
	int r = tend_queue_close(self->q);

	if (r < 0)
		return tp_raise(r, &tp_kind_queue, self->name, "shut down");
	Py_RETURN_NONE;
}

static PyObject *Queue_is_shutdown(QueueObject *self, void *Py_UNUSED(closure))
{
	int r = tend_queue_closed(self->q);

	return r < 0 ? tp_raise(r, &tp_kind_queue, self->name, "read") : PyBool_FromLong(r);
}

static PyObject *Queue_unlink(QueueObject *self, PyObject *Py_UNUSED(ignored))
{
	PyObject *r = tp_unlink(&tp_kind_queue, self->name, tend_queue_unlink);

	/* and the spill files its consumers were killed before reading */
	if (r)
		tp_spill_sweep(self->spill_id);
	return r;
}

static PyObject *Queue_reduce(QueueObject *self, PyObject *Py_UNUSED(ignored))
{
	if (!self->name)
		return tp_anonymous_pickle_error(&tp_kind_queue);
	return Py_BuildValue("(N(O))", PyObject_GetAttrString((PyObject *)Py_TYPE(self), "open"), self->name);
}

/* ---- construction ------------------------------------------------------- */

/*
 * The id of a queue's spill files: every process that opens a named queue
 * computes the same one from its name (so unlink() can sweep them); an
 * anonymous queue's is its creator's, inherited by its forked children.
 * Bit 63 or 62 set: never a pool's (pid << 24 | n).
 */
static uint64_t queue_spill_id(PyObject *name)
{
	static uint32_t anonymous;
	const char *s = name ? PyUnicode_AsUTF8(name) : NULL;
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */

	if (!s) {
		PyErr_Clear();
		return (1ULL << 62) | ((uint64_t)(uint32_t)getpid() << 24) | (anonymous++ & 0xffffff);
	}
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (1ULL << 63) | (h & ((1ULL << 63) - 1));
}

static int queue_setup(QueueObject *self, PyObject *name)
{
	self->name = name;
	self->spill_id = queue_spill_id(name);
	self->max_msg = tend_queue_max_msg(self->q);
	self->nprio = tend_queue_nprio(self->q);
	self->buf = PyMem_Malloc(self->max_msg);
	if (!self->buf) {
		PyErr_NoMemory();
		return -1;
	}
	return 0;
}

static PyObject *Queue_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	static char *kw[] = {"maxsize", "priorities", "name", "max_msg", "create", "mode", NULL};
	Py_ssize_t maxsize = 0, max_msg = DEFAULT_MAX_MSG;
	int prios = 1, create = 1, mode = 0600, r, tries = 0;
	PyObject *name_arg = Py_None, *name = NULL;
	QueueObject *self;
	const char *cname;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|niO$npi:Queue", kw, &maxsize, &prios, &name_arg, &max_msg,
					 &create, &mode))
		return NULL;
	if (tp_name_arg(name_arg, &name) < 0)
		return NULL;
	if (!create && !name) {
		PyErr_SetString(PyExc_ValueError, "create=False opens an existing queue: give its name");
		goto out_name;
	}
	if (prios < 1 || prios > (int)TEND_QUEUE_PRIO_MAX) {
		PyErr_Format(PyExc_ValueError, "priorities must be in 1..%u, not %d", TEND_QUEUE_PRIO_MAX, prios);
		goto out_name;
	}
	if (maxsize <= 0)
		maxsize = DEFAULT_CAPACITY;
	if ((size_t)maxsize > TEND_QUEUE_CAPACITY_MAX || max_msg < 2 || (size_t)max_msg > TEND_QUEUE_MSG_MAX) {
		PyErr_Format(PyExc_ValueError, "maxsize must be at most %u and max_msg in 2..%u", TEND_QUEUE_CAPACITY_MAX,
			     TEND_QUEUE_MSG_MAX);
		goto out_name;
	}
	self = (QueueObject *)type->tp_alloc(type, 0);
	if (!self)
		goto out_name;
	cname = name ? PyUnicode_AsUTF8(name) : NULL;
	if (name && !cname)
		goto out_self;
	if (create) {
		r = tend_queue_create(&self->q, cname, (size_t)maxsize, (size_t)max_msg, (unsigned)prios,
				      (unsigned)mode);
	} else {
		do
			r = tend_queue_open(&self->q, cname);
		while (tp_open_again(r, &tries));
	}
	if (r < 0) {
		tp_raise(r, &tp_kind_queue, name, create ? "create" : "open");
		goto out_self;
	}
	if (queue_setup(self, name) < 0) {
		Py_DECREF(self);
		return NULL;
	}
	return (PyObject *)self;

out_self:
	Py_DECREF(self);
out_name:
	Py_XDECREF(name);
	return NULL;
}

static PyObject *Queue_open(PyObject *cls, PyObject *name)
{
	return tp_open_by_name(cls, name);
}

static void Queue_dealloc(QueueObject *self)
{
	tend_queue_free(self->q);
	PyMem_Free(self->buf);
	Py_XDECREF(self->name);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Queue_repr(QueueObject *self)
{
	return PyUnicode_FromFormat("<tend.Queue %R maxsize=%zu priorities=%u max_msg=%zu>",
				    self->name ? self->name : Py_None, self->q ? tend_queue_capacity(self->q) : 0,
				    self->nprio, self->max_msg);
}

static PyObject *Queue_get_name(QueueObject *self, void *Py_UNUSED(c))
{
	return tp_name_or_none(self->name);
}

static PyObject *Queue_get_maxsize(QueueObject *self, void *Py_UNUSED(c))
{
	return PyLong_FromSize_t(tend_queue_capacity(self->q));
}

static PyObject *Queue_get_max_msg(QueueObject *self, void *Py_UNUSED(c))
{
	return PyLong_FromSize_t(self->max_msg);
}

static PyObject *Queue_get_prios(QueueObject *self, void *Py_UNUSED(c))
{
	return PyLong_FromUnsignedLong(self->nprio);
}

#define FASTKW(f) ((PyCFunction)(void (*)(void))(f))

static PyMethodDef Queue_methods[] = {
	{"put", FASTKW(Queue_put), METH_FASTCALL | METH_KEYWORDS,
	 "put(obj, block=True, timeout=None, priority=0): append obj; queue.Full if no room in time."},
	{"put_nowait", FASTKW(Queue_put_nowait), METH_FASTCALL | METH_KEYWORDS,
	 "put_nowait(obj, priority=0): put(obj, False)."},
	{"put_many", FASTKW(Queue_put_many), METH_FASTCALL | METH_KEYWORDS,
	 "put_many(objs, block=True, timeout=None, priority=0): put each object in order, within one timeout.  "
	 "Not atomic: on queue.Full the objects before the failing one were put (the message says how many)."},
	{"put_raw", FASTKW(Queue_put_raw), METH_FASTCALL | METH_KEYWORDS,
	 "put_raw(data, block=True, timeout=None, priority=0): put a bytes-like message as it is, for a C "
	 "program that reads the queue with tend_queue_get (tend's own format: 0x00 + bytes, or a pickle)."},
	{"get_raw", FASTKW(Queue_get_raw), METH_FASTCALL | METH_KEYWORDS,
	 "get_raw(block=True, timeout=None): the next message's bytes as they are, not decoded."},
	{"get", FASTKW(Queue_get), METH_FASTCALL | METH_KEYWORDS,
	 "get(block=True, timeout=None): remove and return the oldest object of the highest priority; "
	 "queue.Empty if none in time, tend.ShutDown once shut down and empty."},
	{"get_nowait", (PyCFunction)Queue_get_nowait, METH_NOARGS, "get_nowait(): get(False)."},
	{"get_many", FASTKW(Queue_get_many), METH_FASTCALL | METH_KEYWORDS,
	 "get_many(block=True, timeout=None, max_messages_to_get=inf): wait for one object as get(), then take "
	 "what else is there without waiting, up to max_messages_to_get; returns a list."},
	{"qsize", (PyCFunction)Queue_qsize, METH_NOARGS, "Number of objects in the queue (a snapshot)."},
	{"empty", (PyCFunction)Queue_empty, METH_NOARGS, "True if the queue holds no object (a snapshot)."},
	{"full", FASTKW(Queue_full), METH_FASTCALL | METH_KEYWORDS,
	 "full(priority=0): True if a put at that priority would wait (a snapshot)."},
	{"close", (PyCFunction)Queue_close, METH_NOARGS,
	 "This process will put no more objects through this handle (as multiprocessing); others go on."},
	{"join_thread", (PyCFunction)Queue_noop, METH_NOARGS, "No-op: tend.Queue has no feeder thread."},
	{"cancel_join_thread", (PyCFunction)Queue_noop, METH_NOARGS, "No-op: tend.Queue has no feeder thread."},
	{"shutdown", (PyCFunction)Queue_shutdown, METH_NOARGS,
	 "Shut the queue down for every process: puts raise tend.ShutDown, gets drain what is left, then raise "
	 "it; blocked calls everywhere wake up."},
	{"unlink", (PyCFunction)Queue_unlink, METH_NOARGS,
	 "Remove the queue's name; open handles keep working, the memory goes with the last one."},
	{"open", (PyCFunction)Queue_open, METH_O | METH_CLASS, "Queue.open(name): open an existing named queue."},
	{"__reduce__", (PyCFunction)Queue_reduce, METH_NOARGS, "Pickled by name (anonymous queues refuse)."},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef Queue_getset[] = {
	{"name", (getter)Queue_get_name, NULL, "The queue's name, or None (anonymous).", NULL},
	{"maxsize", (getter)Queue_get_maxsize, NULL, "Objects per priority level.", NULL},
	{"max_msg", (getter)Queue_get_max_msg, NULL, "Longest message in bytes (a pickle, or bytes + 1).", NULL},
	{"priorities", (getter)Queue_get_prios, NULL, "Number of priority levels.", NULL},
	{"is_shutdown", (getter)Queue_is_shutdown, NULL, "True once shutdown() was called by anyone.", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject Queue_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "tend.Queue",
	.tp_basicsize = sizeof(QueueObject),
	.tp_dealloc = (destructor)Queue_dealloc,
	.tp_repr = (reprfunc)Queue_repr,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Queue(maxsize=0, priorities=1, name=None, *, max_msg=1016, create=True, mode=0o600)\n\n"
		  "A multi-producer multi-consumer queue in shared memory with multiprocessing.Queue's methods.\n"
		  "maxsize: objects per priority level (0: 8192).  Higher priority first, FIFO within one.\n"
		  "name: '/name' makes it shared by name (pickled by name: fork, spawn, forkserver, other\n"
		  "programs); None makes it anonymous (inherited by fork() only).  create=False opens an\n"
		  "existing named queue.  bytes travel as they are; other objects as pickles (protocol 5).",
	.tp_methods = Queue_methods,
	.tp_getset = Queue_getset,
	.tp_new = Queue_new,
};

int tp_queue_init(PyObject *m)
{
	if (PyType_Ready(&Queue_Type) < 0)
		return -1;
	return PyModule_AddObjectRef(m, "Queue", (PyObject *)&Queue_Type);
}
