/*
 * tend._tend._PoolCore and _Task: the C core of tend.Pool over tend_pool
 * (design: docs/python.md, "Pool").
 *
 * tend_pool runs C function pointers in forked workers.  Every Python task
 * is one call of py_task, a trampoline that lives at the same address in the
 * workers (they are forks of this process): it unpickles the callable and
 * the arguments from the task's bytes, calls into the interpreter the
 * worker inherited, and pickles the result (or the exception) back.  The
 * workers are forked inside tend_pool calls; the fork guard (module.c) runs
 * CPython's fork protocol around them, so a worker starts as a clean
 * single-threaded copy of the interpreter holding the GIL.
 *
 * Task message (parent -> worker), then the result (worker -> parent):
 *
 *   struct msg_hdr  kind ('A' apply, 'M' map chunk, 'S' starmap chunk),
 *                   flags (SPILLED), flen, the pool's spill id
 *   flen bytes      the pickled callable (cached: the same bytes for every
 *                   task of a map, so the worker unpickles it once)
 *   the rest        the pickled arguments: (args, kwargs) or a list
 *
 *   1 byte status   0: a pickled result; 1: a pickled exception;
 *                   | SPILLED: the rest is the name of a spill file
 *   the rest        the pickle
 *
 * A message longer than the pool's max_msg goes through a spill file in
 * /dev/shm, "tend-py-<spill id>-...", which its reader removes; the parent
 * removes the files of tasks that failed and sweeps its spill id's files
 * when the pool ends (a worker killed between writing one and sending it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tend/pool.h"
#include "tend/queue.h"
#include "tendpy.h"

#define SPILLED 0x80
#define ST_OK 0
#define ST_EXC 1
#define WAIT_SLICE_NS 10000000 /* a waiting call checks signals this often */
#define DEFAULT_MAX_MSG 65536
#define DEFAULT_DEPTH 32
#define SPILL_NAME_MAX 64
#define MAX_MSG_MAX (TEND_QUEUE_MSG_MAX - 64)

struct msg_hdr {
	uint8_t kind;
	uint8_t flags;
	uint16_t reserved;
	uint32_t flen;
	uint64_t spill_id;
};

typedef struct {
	PyObject_HEAD
	tend_pool *pool;
	PyThread_type_lock mutex; /* tend_pool is used by one thread at a time */
	unsigned fork_gen;        /* tp_fork_gen in the process that created it */
	PyObject *initializer;    /* kept alive: workers call them */
	PyObject *initargs;
	uint64_t spill_id;
	uint64_t spill_seq;
	size_t max_msg;
	unsigned size, depth;
	unsigned char *buf;       /* a message; under mutex */
	PyObject *last_func;      /* pickling cache: this callable ... */
	PyObject *last_fbytes;    /* ... pickles to these bytes */
} CoreObject;

typedef struct {
	PyObject_HEAD
	CoreObject *core;
	tend_future *fut;
	int state;                    /* 0 pending, 1 value, 2 exception */
	PyObject *value;              /* the result, or the exception */
	char spill[SPILL_NAME_MAX];   /* the argument's spill file, or "" */
} TaskObject;

static PyTypeObject Core_Type, Task_Type;

/* The exception being raised, normalised, with its traceback, taken out of
 * the error indicator (Python 3.11 has no PyErr_GetRaisedException). */
static PyObject *take_exc(void)
{
	PyObject *t, *v, *tb;

	PyErr_Fetch(&t, &v, &tb);
	if (!t)
		return NULL;
	PyErr_NormalizeException(&t, &v, &tb);
	if (tb && v)
		PyException_SetTraceback(v, tb);
	Py_XDECREF(t);
	Py_XDECREF(tb);
	return v;
}

/* Raise the exception instance exc (a new reference is taken). */
static void raise_exc(PyObject *exc)
{
	PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), Py_NewRef(exc), PyException_GetTraceback(exc));
}

/* Raise an OSError subclass with (errno, message). */
static void raise_oserror(PyObject *cls, int e, const char *msg)
{
	PyObject *a = Py_BuildValue("(is)", e, msg);

	if (a) {
		PyErr_SetObject(cls, a);
		Py_DECREF(a);
	}
}

/* ---- spill files ---------------------------------------------------------- */

static void spill_name(char *out, uint64_t id, char who, long a, uint64_t seq)
{
	snprintf(out, SPILL_NAME_MAX, "/tend-py-%016llx-%c%ld-%llu", (unsigned long long)id, who, a,
		 (unsigned long long)seq);
}

/* Write the n parts into a new shm file name: 0 or -errno (nothing left). */
static int spill_write(const char *name, const void *const *parts, const size_t *lens, int n)
{
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600), i, r = 0;

	if (fd < 0)
		return -errno;
	for (i = 0; i < n && r == 0; i++) {
		const unsigned char *p = parts[i];
		size_t left = lens[i];

		while (left > 0) {
			ssize_t w = write(fd, p, left);

			if (w < 0) {
				if (errno == EINTR)
					continue;
				r = -errno;
				break;
			}
			p += w;
			left -= (size_t)w;
		}
	}
	close(fd);
	if (r < 0)
		shm_unlink(name);
	return r;
}

/* Read and remove a spill file: a new bytes object, or NULL with an
 * exception set. */
static PyObject *spill_take(const char *name)
{
	int fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
	struct stat st;
	PyObject *b = NULL;
	size_t got = 0;

	if (fd < 0)
		return PyErr_SetFromErrnoWithFilename(PyExc_OSError, name);
	if (fstat(fd, &st) < 0) {
		PyErr_SetFromErrnoWithFilename(PyExc_OSError, name);
		goto out_close;
	}
	b = PyBytes_FromStringAndSize(NULL, st.st_size);
	if (!b)
		goto out_close;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, PyBytes_AS_STRING(b) + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			Py_CLEAR(b);
			if (r == 0)
				errno = EIO;
			PyErr_SetFromErrnoWithFilename(PyExc_OSError, name);
			break;
		}
		got += (size_t)r;
	}
out_close:
	close(fd);
	shm_unlink(name);
	return b;
}

/* Remove every spill file of a pool (its workers are gone). */
static void spill_sweep(uint64_t id)
{
	char prefix[40], path[NAME_MAX + 2];
	struct dirent *e;
	DIR *d = opendir("/dev/shm");
	size_t n;

	if (!d)
		return;
	n = (size_t)snprintf(prefix, sizeof(prefix), "tend-py-%016llx-", (unsigned long long)id);
	while ((e = readdir(d)))
		if (strncmp(e->d_name, prefix, n) == 0) {
			snprintf(path, sizeof(path), "/%s", e->d_name);
			shm_unlink(path);
		}
	closedir(d);
}

/* ---- the worker side (runs in a forked worker, holding the GIL) ---------- */

static PyObject *w_fbytes, *w_func; /* the last callable and its pickle */
static PyObject *w_helpers;         /* tend._pool */
static bool w_started;

static PyObject *helper(const char *fn)
{
	if (!w_helpers && !(w_helpers = PyImport_ImportModule("tend._pool")))
		return NULL;
	return PyObject_GetAttrString(w_helpers, fn);
}

/* Once per worker: what a multiprocessing worker does after fork. */
static void worker_start(void)
{
	PyObject *f, *r;

	if (w_started)
		return;
	w_started = true;
	f = helper("_worker_start");
	r = f ? PyObject_CallNoArgs(f) : NULL;
	Py_XDECREF(f);
	if (!r)
		PyErr_Print();
	Py_XDECREF(r);
}

static PyObject *get_func(const unsigned char *p, size_t n)
{
	if (w_fbytes && (size_t)PyBytes_GET_SIZE(w_fbytes) == n && memcmp(PyBytes_AS_STRING(w_fbytes), p, n) == 0)
		return Py_NewRef(w_func);
	Py_CLEAR(w_fbytes);
	Py_CLEAR(w_func);
	w_func = tp_unpickle(p, n);
	if (!w_func)
		return NULL;
	w_fbytes = PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)n);
	if (!w_fbytes) {
		PyErr_Clear(); /* no cache this time */
		return Py_NewRef(w_func);
	}
	return Py_NewRef(w_func);
}

/* Call func on the payload: the result, or NULL with the exception set. */
static PyObject *run(int kind, PyObject *func, PyObject *payload)
{
	Py_ssize_t i, n;
	PyObject *out;

	if (kind == 'A') {
		PyObject *args, *kwargs;

		if (!PyTuple_Check(payload) || PyTuple_GET_SIZE(payload) != 2 ||
		    !PyTuple_Check(args = PyTuple_GET_ITEM(payload, 0)) ||
		    !PyDict_Check(kwargs = PyTuple_GET_ITEM(payload, 1))) {
			PyErr_SetString(PyExc_TypeError, "tend.Pool: malformed task");
			return NULL;
		}
		return PyObject_Call(func, args, PyDict_GET_SIZE(kwargs) ? kwargs : NULL);
	}
	if (!PyList_Check(payload)) {
		PyErr_SetString(PyExc_TypeError, "tend.Pool: malformed chunk");
		return NULL;
	}
	n = PyList_GET_SIZE(payload);
	out = PyList_New(n);
	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		PyObject *x = PyList_GET_ITEM(payload, i), *r;

		if (kind == 'S') {
			PyObject *t = PySequence_Tuple(x);

			r = t ? PyObject_Call(func, t, NULL) : NULL;
			Py_XDECREF(t);
		} else {
			r = PyObject_CallOneArg(func, x);
		}
		if (!r) {
			Py_DECREF(out);
			return NULL;
		}
		PyList_SET_ITEM(out, i, r);
	}
	return out;
}

/* Pickle what the task produced: (status, bytes), never failing for a
 * Python reason (an unpicklable result becomes MaybeEncodingError, as in
 * multiprocessing). */
static PyObject *encode_outcome(PyObject *result, int *ret_status)
{
	PyObject *f, *b, *exc, *value = result;

	if (result) {
		b = tp_pickle(result);
		if (b) {
			*ret_status = ST_OK;
			return b;
		}
	}
	/* the task raised (result NULL), or its result does not pickle */
	exc = take_exc();
	f = helper(result ? "_encode_unpicklable" : "_encode_exception");
	b = f ? PyObject_CallFunctionObjArgs(f, exc ? exc : Py_None, value ? value : Py_None, NULL) : NULL;
	Py_XDECREF(f);
	Py_XDECREF(exc);
	*ret_status = ST_EXC;
	if (b && PyBytes_Check(b))
		return b;
	Py_XDECREF(b);
	return NULL;
}

static void flush_std(void)
{
	static const char *const names[] = {"stdout", "stderr"};
	int i;

	for (i = 0; i < 2; i++) {
		PyObject *s = PySys_GetObject(names[i]), *r; /* borrowed */

		if (s && s != Py_None) {
			r = PyObject_CallMethod(s, "flush", NULL);
			if (!r)
				PyErr_Clear();
			Py_XDECREF(r);
		}
	}
}

/* The tend_pool task function: runs one Python task in a worker. */
static int py_task(const void *arg, size_t arglen, void *result, size_t cap)
{
	struct msg_hdr h;
	const unsigned char *body = (const unsigned char *)arg + sizeof(h);
	size_t blen = arglen - sizeof(h);
	PyObject *spilled = NULL, *func = NULL, *payload = NULL, *out, *b;
	unsigned char *res = result;
	int status, r;

	worker_start();
	if (arglen < sizeof(h))
		return -EBADMSG;
	memcpy(&h, arg, sizeof(h));
	if (h.flags & SPILLED) {
		char name[SPILL_NAME_MAX];

		if (blen >= sizeof(name))
			return -EBADMSG;
		memcpy(name, body, blen);
		name[blen] = 0;
		spilled = spill_take(name);
		if (!spilled)
			goto out_run;
		body = (const unsigned char *)PyBytes_AS_STRING(spilled);
		blen = (size_t)PyBytes_GET_SIZE(spilled);
	}
	if (h.flen > blen) {
		Py_XDECREF(spilled);
		return -EBADMSG;
	}
	func = get_func(body, h.flen);
	if (func)
		payload = tp_unpickle(body + h.flen, blen - h.flen);
out_run:
	out = payload ? run(h.kind, func, payload) : NULL;
	Py_XDECREF(payload);
	Py_XDECREF(func);
	Py_XDECREF(spilled);
	b = encode_outcome(out, &status);
	Py_XDECREF(out);
	if (!b) {
		PyErr_Print();
		return -EPROTO;
	}
	if ((size_t)PyBytes_GET_SIZE(b) + 1 <= cap) {
		res[0] = (unsigned char)status;
		memcpy(res + 1, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
		r = (int)PyBytes_GET_SIZE(b) + 1;
	} else {
		static uint64_t seq;
		char name[SPILL_NAME_MAX];
		const void *parts[1] = {PyBytes_AS_STRING(b)};
		size_t lens[1] = {(size_t)PyBytes_GET_SIZE(b)};

		spill_name(name, h.spill_id, 'r', (long)getpid(), seq++);
		r = spill_write(name, parts, lens, 1);
		if (r == 0) {
			res[0] = (unsigned char)(status | SPILLED);
			memcpy(res + 1, name, strlen(name));
			r = (int)strlen(name) + 1;
		}
	}
	Py_DECREF(b);
	return r;
}

/* Runs once in every worker before its first task: the initializer. */
static void py_init(void *arg)
{
	CoreObject *core = arg;
	PyObject *r;

	worker_start();
	r = PyObject_Call(core->initializer, core->initargs, NULL);
	if (!r) {
		/* as multiprocessing: the worker dies; three in a row and the
		 * tasks fail with InitializerFailed instead of waiting forever */
		PyErr_Print();
		flush_std();
		_exit(1);
	}
	Py_DECREF(r);
}

/* ---- the parent side ------------------------------------------------------ */

static int core_check(CoreObject *self)
{
	if (!self->pool) {
		PyErr_SetString(PyExc_ValueError, "tend.Pool: not initialised");
		return -1;
	}
	if (tp_fork_gen != self->fork_gen) { /* not getpid(): a system call per task */
		PyErr_SetString(PyExc_RuntimeError,
				"a tend.Pool can only be used by the process that created it (this is a fork of it)");
		return -1;
	}
	return 0;
}

static void core_lock(CoreObject *self)
{
	if (!PyThread_acquire_lock(self->mutex, NOWAIT_LOCK)) {
		Py_BEGIN_ALLOW_THREADS
		PyThread_acquire_lock(self->mutex, WAIT_LOCK);
		Py_END_ALLOW_THREADS
	}
}

static void core_unlock(CoreObject *self)
{
	PyThread_release_lock(self->mutex);
}

static PyObject *pool_error(int r, const char *what)
{
	char msg[256];

	switch (-r) {
	case EOWNERDEAD:
		snprintf(msg, sizeof(msg),
			 "the pool worker running this %s died (killed, crashed or exited) before it returned the "
			 "result; the task may have run in part or in full",
			 what);
		raise_oserror(tp_exc_worker_died, EOWNERDEAD, msg);
		break;
	case ECHILD:
		snprintf(msg, sizeof(msg),
			 "this %s never ran: three pool workers in a row died in the initializer (or fork failed)",
			 what);
		raise_oserror(tp_exc_init_failed, ECHILD, msg);
		break;
	case ECANCELED:
		snprintf(msg, sizeof(msg), "this %s was cancelled: the pool was terminated before it finished", what);
		raise_oserror(tp_exc_cancelled, ECANCELED, msg);
		break;
	case EPIPE:
		PyErr_SetString(PyExc_ValueError, "Pool not running");
		break;
	default:
		errno = -r;
		PyErr_SetFromErrno(PyExc_OSError);
	}
	return NULL;
}

static PyObject *Core_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	static char *kw[] = {"processes", "initializer", "initargs", "maxtasksperchild", "max_msg", "depth", NULL};
	static uint64_t pools;
	unsigned processes = 0, maxtasks = 0, depth = DEFAULT_DEPTH;
	Py_ssize_t max_msg = DEFAULT_MAX_MSG;
	PyObject *init = Py_None, *initargs = NULL;
	tend_pool_opts o;
	CoreObject *self;
	int r;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|IOO!InI:_PoolCore", kw, &processes, &init, &PyTuple_Type,
					 &initargs, &maxtasks, &max_msg, &depth))
		return NULL;
	if (max_msg < 256 || (size_t)max_msg > MAX_MSG_MAX) {
		PyErr_Format(PyExc_ValueError, "max_msg must be in 256..%u", MAX_MSG_MAX);
		return NULL;
	}
	if (init != Py_None && !PyCallable_Check(init)) {
		PyErr_SetString(PyExc_TypeError, "initializer must be a callable");
		return NULL;
	}
	self = (CoreObject *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	self->fork_gen = tp_fork_gen;
	self->spill_id = ((uint64_t)(uint32_t)getpid() << 24) | (pools++ & 0xffffff);
	self->max_msg = (size_t)max_msg;
	self->mutex = PyThread_allocate_lock();
	self->buf = PyMem_Malloc(self->max_msg);
	if (!self->mutex || !self->buf) {
		PyErr_NoMemory();
		goto out_self;
	}
	if (init != Py_None) {
		self->initializer = Py_NewRef(init);
		self->initargs = initargs ? Py_NewRef(initargs) : PyTuple_New(0);
		if (!self->initargs)
			goto out_self;
	}
	memset(&o, 0, sizeof(o));
	o.size = processes;
	o.initializer = self->initializer ? py_init : NULL;
	o.initarg = self;
	o.max_tasks_per_child = maxtasks;
	o.max_arg = self->max_msg;
	o.max_result = self->max_msg;
	o.depth = depth;
	/* the workers are forked now, from this thread, holding the GIL */
	tp_fork_guard_begin();
	r = tend_pool_create(&self->pool, &o);
	tp_fork_guard_end();
	if (r < 0) {
		if (r == -EINVAL)
			PyErr_Format(PyExc_ValueError, "tend.Pool: invalid size or depth (at most %u workers)",
				     TEND_POOL_SIZE_MAX);
		else
			pool_error(r, "pool");
		goto out_self;
	}
	self->size = (unsigned)tend_pool_size(self->pool);
	self->depth = depth ? depth : TEND_POOL_DEFAULT_DEPTH;
	return (PyObject *)self;

out_self:
	Py_DECREF(self);
	return NULL;
}

static void Core_dealloc(CoreObject *self)
{
	if (self->pool) {
		bool mine = tp_fork_gen == self->fork_gen;

		tp_fork_guard_begin();
		tend_pool_free(self->pool); /* terminates it unless joined */
		tp_fork_guard_end();
		if (mine)
			spill_sweep(self->spill_id);
	}
	if (self->mutex)
		PyThread_free_lock(self->mutex);
	PyMem_Free(self->buf);
	Py_XDECREF(self->initializer);
	Py_XDECREF(self->initargs);
	Py_XDECREF(self->last_func);
	Py_XDECREF(self->last_fbytes);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The pickle of func, cached for the callable pickled last. */
static PyObject *func_bytes(CoreObject *self, PyObject *func)
{
	PyObject *b;

	if (func == self->last_func)
		return Py_NewRef(self->last_fbytes);
	b = tp_pickle(func);
	if (!b)
		return NULL;
	Py_XSETREF(self->last_func, Py_NewRef(func));
	Py_XSETREF(self->last_fbytes, Py_NewRef(b));
	return b;
}

/*
 * Put one task (callable pickle fb, argument pickle pb) in the pool: its
 * future in *ret_fut and, when the message went through a spill file, that
 * file's name in spill (else "").  Call holding the mutex and the GIL.
 * Returns 0, or -1 with an exception set (nothing left behind).
 */
static int queue_task(CoreObject *self, int kind, PyObject *fb, PyObject *pb, tend_future **ret_fut, char *spill)
{
	struct msg_hdr h = {.kind = (uint8_t)kind, .spill_id = self->spill_id};
	size_t flen = (size_t)PyBytes_GET_SIZE(fb), plen = (size_t)PyBytes_GET_SIZE(pb), len;
	int r;

	h.flen = (uint32_t)flen;
	spill[0] = 0;
	if (sizeof(h) + flen + plen <= self->max_msg) {
		memcpy(self->buf, &h, sizeof(h));
		memcpy(self->buf + sizeof(h), PyBytes_AS_STRING(fb), flen);
		memcpy(self->buf + sizeof(h) + flen, PyBytes_AS_STRING(pb), plen);
		len = sizeof(h) + flen + plen;
	} else {
		const void *parts[2] = {PyBytes_AS_STRING(fb), PyBytes_AS_STRING(pb)};
		size_t lens[2] = {flen, plen};

		spill_name(spill, self->spill_id, 'a', 0, self->spill_seq++);
		r = spill_write(spill, parts, lens, 2);
		if (r < 0) {
			spill[0] = 0;
			errno = -r;
			PyErr_SetFromErrno(PyExc_OSError);
			return -1;
		}
		h.flags = SPILLED;
		memcpy(self->buf, &h, sizeof(h));
		len = sizeof(h) + strlen(spill);
		memcpy(self->buf + sizeof(h), spill, strlen(spill));
	}
	tp_fork_guard_begin();
	r = tend_pool_apply_async(self->pool, py_task, self->buf, len, ret_fut);
	tp_fork_guard_end();
	if (r < 0) {
		if (spill[0])
			shm_unlink(spill);
		spill[0] = 0;
		pool_error(r, "task");
		return -1;
	}
	return 0;
}

/* Queue one task; a new _Task, or NULL with an exception set.  Call with
 * the GIL; takes the mutex itself. */
static PyObject *submit(CoreObject *self, int kind, PyObject *fb, PyObject *payload)
{
	PyObject *pb;
	TaskObject *t;
	int r;

	pb = tp_pickle(payload);
	if (!pb)
		return NULL;
	t = PyObject_New(TaskObject, &Task_Type);
	if (!t) {
		Py_DECREF(pb);
		return NULL;
	}
	t->core = (CoreObject *)Py_NewRef(self);
	t->fut = NULL;
	t->state = 0;
	t->value = NULL;
	core_lock(self);
	r = queue_task(self, kind, fb, pb, &t->fut, t->spill);
	core_unlock(self);
	Py_DECREF(pb);
	if (r < 0) {
		Py_DECREF(t);
		return NULL;
	}
	return (PyObject *)t;
}

static int kind_arg(PyObject *o, int *ret)
{
	const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;

	if (!s || strlen(s) != 1 || !strchr("AMS", s[0])) {
		PyErr_SetString(PyExc_ValueError, "kind must be 'A', 'M' or 'S'");
		return -1;
	}
	*ret = s[0];
	return 0;
}

static PyObject *Core_submit(CoreObject *self, PyObject *args)
{
	PyObject *kind_o, *func, *payload, *fb, *t;
	int kind;

	if (!PyArg_ParseTuple(args, "OOO:submit", &kind_o, &func, &payload) || kind_arg(kind_o, &kind) < 0 ||
	    core_check(self) < 0)
		return NULL;
	fb = func_bytes(self, func);
	if (!fb)
		return NULL;
	t = submit(self, kind, fb, payload);
	Py_DECREF(fb);
	return t;
}

/* submit_chunks(kind, func, items, chunksize): one task per chunk of the
 * list items; returns the list of tasks. */
static PyObject *Core_submit_chunks(CoreObject *self, PyObject *args)
{
	PyObject *kind_o, *func, *items, *fb, *tasks, *chunk, *t;
	Py_ssize_t cs, i, n;
	int kind;

	if (!PyArg_ParseTuple(args, "OOO!n:submit_chunks", &kind_o, &func, &PyList_Type, &items, &cs) ||
	    kind_arg(kind_o, &kind) < 0 || core_check(self) < 0)
		return NULL;
	if (cs < 1) {
		PyErr_SetString(PyExc_ValueError, "chunksize must be at least 1");
		return NULL;
	}
	fb = func_bytes(self, func);
	if (!fb)
		return NULL;
	n = PyList_GET_SIZE(items);
	tasks = PyList_New(0);
	if (!tasks)
		goto out_fb;
	for (i = 0; i < n; i += cs) {
		chunk = PyList_GetSlice(items, i, i + cs);
		if (!chunk)
			goto out_tasks;
		t = submit(self, kind, fb, chunk);
		Py_DECREF(chunk);
		if (!t || PyList_Append(tasks, t) < 0) {
			Py_XDECREF(t);
			goto out_tasks;
		}
		Py_DECREF(t);
	}
	Py_DECREF(fb);
	return tasks;

out_tasks:
	Py_DECREF(tasks);
out_fb:
	Py_DECREF(fb);
	return NULL;
}

/* close() or terminate(): the pool call op under the mutex. */
static PyObject *core_stop(CoreObject *self, int (*op)(tend_pool *), bool sweep)
{
	int r;

	if (core_check(self) < 0)
		return NULL;
	core_lock(self);
	r = op(self->pool);
	core_unlock(self);
	if (r < 0)
		return pool_error(r, "pool");
	if (sweep)
		spill_sweep(self->spill_id);
	Py_RETURN_NONE;
}

static PyObject *Core_close(CoreObject *self, PyObject *Py_UNUSED(ignored))
{
	return core_stop(self, tend_pool_close, false);
}

static PyObject *Core_terminate(CoreObject *self, PyObject *Py_UNUSED(ignored))
{
	return core_stop(self, tend_pool_terminate, true);
}

/* join(timeout=None): True once every task and worker is done, False on
 * timeout.  Waits in slices so that signals (Ctrl-C) are handled. */
static PyObject *Core_join(CoreObject *self, PyObject *args)
{
	PyObject *timeout = Py_None;
	int64_t t, deadline = 0, left;
	int r;

	if (!PyArg_ParseTuple(args, "|O:join", &timeout) || core_check(self) < 0)
		return NULL;
	if (tp_timeout_ns(1, timeout, &t) < 0)
		return NULL;
	if (t > 0)
		deadline = tp_now_ns() + t;
	for (;;) {
		left = WAIT_SLICE_NS;
		if (t > 0) {
			left = deadline - tp_now_ns();
			if (left > WAIT_SLICE_NS)
				left = WAIT_SLICE_NS;
		}
		if (left <= 0)
			left = 1;
		core_lock(self);
		tp_fork_guard_begin();
		tp_fork_allow_threads();
		r = tend_pool_join(self->pool, left);
		tp_fork_end_allow_threads();
		tp_fork_guard_end();
		core_unlock(self);
		if (r != -ETIMEDOUT)
			break;
		if (PyErr_CheckSignals() < 0)
			return NULL;
		if (t == TEND_NOWAIT || (t > 0 && tp_now_ns() >= deadline))
			Py_RETURN_FALSE;
	}
	if (r == -EINVAL) {
		PyErr_SetString(PyExc_ValueError, "Pool is still running");
		return NULL;
	}
	if (r < 0)
		return pool_error(r, "pool");
	spill_sweep(self->spill_id);
	Py_RETURN_TRUE;
}

static PyObject *Core_pids(CoreObject *self, PyObject *Py_UNUSED(ignored))
{
	pid_t pids[TEND_POOL_SIZE_MAX];
	PyObject *l;
	int n, i;

	if (core_check(self) < 0)
		return NULL;
	core_lock(self);
	n = tend_pool_pids(self->pool, pids, TEND_POOL_SIZE_MAX);
	core_unlock(self);
	if (n < 0)
		return pool_error(n, "pool");
	l = PyList_New(n);
	for (i = 0; l && i < n; i++) {
		PyObject *p = PyLong_FromLong(pids[i]);

		if (!p) {
			Py_CLEAR(l);
			break;
		}
		PyList_SET_ITEM(l, i, p);
	}
	return l;
}

static PyObject *Core_get_size(CoreObject *self, void *Py_UNUSED(c))
{
	return PyLong_FromUnsignedLong(self->size);
}

static PyObject *Core_get_max_msg(CoreObject *self, void *Py_UNUSED(c))
{
	return PyLong_FromSize_t(self->max_msg);
}

/* ---- tasks ---------------------------------------------------------------- */

/*
 * The outcome of a finished task, from tend_future_wait's r and the result
 * bytes in core->buf: 1 and its value, or 2 and an exception instance (the
 * task's own, or the pool's: WorkerDied...), in *ret_value (a new
 * reference).  spill: the argument's spill file, removed if the task never
 * took it.  This function can't fail.
 */
static int decode_outcome(CoreObject *core, int r, char *spill, PyObject **ret_value)
{
	unsigned char *res = core->buf;
	PyObject *spilled = NULL, *v;
	int status;

	if (r <= 0) {
		if (spill[0])
			shm_unlink(spill);
		spill[0] = 0;
		if (r == 0)
			PyErr_SetString(PyExc_ValueError, "tend.Pool: an empty result");
		else
			pool_error(r, "task");
		goto out_exc;
	}
	spill[0] = 0; /* the worker took it */
	status = res[0];
	if (status & SPILLED) {
		char name[SPILL_NAME_MAX];
		size_t n = (size_t)r - 1;

		if (n >= sizeof(name))
			n = sizeof(name) - 1;
		memcpy(name, res + 1, n);
		name[n] = 0;
		spilled = spill_take(name);
		if (!spilled)
			goto out_exc;
		v = tp_unpickle(PyBytes_AS_STRING(spilled), (size_t)PyBytes_GET_SIZE(spilled));
		Py_DECREF(spilled);
	} else {
		v = tp_unpickle(res + 1, (size_t)r - 1);
	}
	if (!v)
		goto out_exc;
	*ret_value = v;
	return (status & ~SPILLED) == ST_OK ? 1 : 2;

out_exc:
	*ret_value = take_exc();
	return 2;
}

static void task_settle(TaskObject *t, int r)
{
	t->state = decode_outcome(t->core, r, t->spill, &t->value);
}

/*
 * Wait for a task at most timeout_ns (TEND_FOREVER, TEND_NOWAIT, > 0):
 * 1 when it is settled, 0 when not yet, -1 with an exception set (a signal
 * handler raised).  In slices, holding the mutex only during each slice.
 */
static int task_wait(TaskObject *t, int64_t timeout_ns)
{
	int64_t deadline = 0, left;
	int r;

	if (t->state)
		return 1;
	if (!t->fut) {
		PyErr_SetString(PyExc_ValueError, "tend.Pool: a task without a future");
		return -1;
	}
	if (core_check(t->core) < 0)
		return -1;
	if (timeout_ns > 0)
		deadline = tp_now_ns() + timeout_ns;
	for (;;) {
		left = timeout_ns == TEND_NOWAIT ? TEND_NOWAIT : WAIT_SLICE_NS;
		if (timeout_ns > 0) {
			left = deadline - tp_now_ns();
			if (left > WAIT_SLICE_NS)
				left = WAIT_SLICE_NS;
			if (left <= 0)
				left = TEND_NOWAIT;
		}
		core_lock(t->core);
		tp_fork_guard_begin();
		/* a ready result needs no GIL round trip */
		r = tend_future_wait(t->fut, t->core->buf, t->core->max_msg, TEND_NOWAIT);
		if (r == -EAGAIN && left != TEND_NOWAIT) {
			tp_fork_allow_threads();
			r = tend_future_wait(t->fut, t->core->buf, t->core->max_msg, left);
			tp_fork_end_allow_threads();
		}
		tp_fork_guard_end();
		if (r != -EAGAIN && r != -ETIMEDOUT) {
			task_settle(t, r);
			core_unlock(t->core);
			return 1;
		}
		core_unlock(t->core);
		if (left == TEND_NOWAIT)
			return 0;
		if (PyErr_CheckSignals() < 0)
			return -1;
		if (timeout_ns > 0 && tp_now_ns() >= deadline)
			return 0;
	}
}

static int timeout_arg(PyObject *args, int64_t *ret)
{
	PyObject *timeout = Py_None;

	if (!PyArg_ParseTuple(args, "|O", &timeout))
		return -1;
	return tp_timeout_ns(1, timeout, ret);
}

/* The settled outcome: the value, or NULL with the task's exception raised. */
static PyObject *task_outcome(TaskObject *t)
{
	if (t->state == 1)
		return Py_NewRef(t->value);
	raise_exc(t->value);
	return NULL;
}

static PyObject *Task_get(TaskObject *t, PyObject *args)
{
	int64_t ns;
	int r;

	if (timeout_arg(args, &ns) < 0)
		return NULL;
	r = task_wait(t, ns);
	if (r < 0)
		return NULL;
	if (r == 0) {
		PyErr_SetNone(tp_exc_timeout);
		return NULL;
	}
	return task_outcome(t);
}

static PyObject *Task_wait(TaskObject *t, PyObject *args)
{
	int64_t ns;
	int r;

	if (timeout_arg(args, &ns) < 0)
		return NULL;
	r = task_wait(t, ns);
	if (r < 0)
		return NULL;
	return PyBool_FromLong(r);
}

static PyObject *Task_ready(TaskObject *t, PyObject *Py_UNUSED(ignored))
{
	int r = task_wait(t, TEND_NOWAIT);

	if (r < 0)
		return NULL;
	return PyBool_FromLong(r);
}

static PyObject *Task_successful(TaskObject *t, PyObject *Py_UNUSED(ignored))
{
	if (!t->state) {
		PyErr_SetString(PyExc_ValueError, "result is not ready");
		return NULL;
	}
	return PyBool_FromLong(t->state == 1);
}

static void Task_dealloc(TaskObject *t)
{
	if (t->fut) {
		/* an unfinished task still runs; its result is dropped (a spilled
		 * one is swept when the pool ends) */
		core_lock(t->core);
		tend_future_free(t->fut);
		core_unlock(t->core);
	}
	Py_XDECREF(t->value);
	Py_XDECREF(t->core);
	PyObject_Free(t);
}

/*
 * collect(tasks, timeout=None): wait for every task in order and return the
 * concatenation of their results (lists), or raise the first task's
 * exception in order (multiprocessing.TimeoutError when the time is up).
 */
static PyObject *Core_collect(CoreObject *self, PyObject *args)
{
	PyObject *tasks, *timeout = Py_None, *out;
	int64_t t, deadline = 0, left;
	Py_ssize_t i, n;

	if (!PyArg_ParseTuple(args, "O!|O:collect", &PyList_Type, &tasks, &timeout) ||
	    tp_timeout_ns(1, timeout, &t) < 0)
		return NULL;
	if (t > 0)
		deadline = tp_now_ns() + t;
	n = PyList_GET_SIZE(tasks);
	for (i = 0; i < n; i++) {
		PyObject *o = PyList_GET_ITEM(tasks, i);
		int r;

		if (!PyObject_TypeCheck(o, &Task_Type)) {
			PyErr_SetString(PyExc_TypeError, "collect() takes a list of tasks");
			return NULL;
		}
		left = t;
		if (t > 0) {
			left = deadline - tp_now_ns();
			if (left <= 0)
				left = TEND_NOWAIT;
		}
		r = task_wait((TaskObject *)o, left);
		if (r < 0)
			return NULL;
		if (r == 0) {
			PyErr_SetNone(tp_exc_timeout);
			return NULL;
		}
		if (((TaskObject *)o)->state == 2)
			return task_outcome((TaskObject *)o);
	}
	out = PyList_New(0);
	for (i = 0; out && i < n; i++) {
		PyObject *v = ((TaskObject *)PyList_GET_ITEM(tasks, i))->value;

		Py_ssize_t at = PyList_GET_SIZE(out);

		if (!PyList_Check(v)) {
			PyErr_SetString(PyExc_TypeError, "collect(): a task's result is not a list");
			Py_CLEAR(out);
		} else if (PyList_SetSlice(out, at, at, v) < 0) {
			Py_CLEAR(out);
		}
	}
	(void)self;
	return out;
}

/*
 * Wait for fut (holding the mutex and the GIL; releases the GIL while it
 * waits): its tend_future_wait result, or -EINTR with an exception set (a
 * signal handler raised), or -ETIMEDOUT past deadline_ns (0: none).
 */
static int fut_wait(CoreObject *self, tend_future *fut, int64_t deadline_ns)
{
	int64_t left;
	int r;

	tp_fork_guard_begin();
	r = tend_future_wait(fut, self->buf, self->max_msg, TEND_NOWAIT);
	while (r == -EAGAIN || r == -ETIMEDOUT) {
		left = WAIT_SLICE_NS;
		if (deadline_ns) {
			left = deadline_ns - tp_now_ns();
			if (left <= 0) {
				r = -ETIMEDOUT;
				break;
			}
			if (left > WAIT_SLICE_NS)
				left = WAIT_SLICE_NS;
		}
		tp_fork_allow_threads();
		r = tend_future_wait(fut, self->buf, self->max_msg, left);
		tp_fork_end_allow_threads();
		if (r == -ETIMEDOUT && PyErr_CheckSignals() < 0) {
			r = -EINTR;
			break;
		}
		if (r == -ETIMEDOUT && !deadline_ns)
			r = -EAGAIN;
	}
	tp_fork_guard_end();
	return r;
}

/*
 * map_run(kind, func, items, chunksize, timeout=None): Pool.map and
 * starmap in one call: chunks go out a window at a time (every worker's
 * channel full, nothing waiting in the caller's memory), results come back
 * in order into one list.  The first failed chunk's exception is raised
 * once the chunks already out are accounted for; no chunk is started after
 * it.  multiprocessing.TimeoutError past the timeout.
 */
static PyObject *Core_map_run(CoreObject *self, PyObject *args)
{
	PyObject *kind_o, *func, *items, *timeout = Py_None, *fb, *out = NULL, *err = NULL;
	Py_ssize_t cs, n, next = 0;
	size_t window, head = 0, inflight = 0, i;
	tend_future **futs;
	char (*spills)[SPILL_NAME_MAX];
	int64_t t, deadline = 0;
	int kind, r;

	if (!PyArg_ParseTuple(args, "OOO!n|O:map_run", &kind_o, &func, &PyList_Type, &items, &cs, &timeout) ||
	    kind_arg(kind_o, &kind) < 0 || core_check(self) < 0 || tp_timeout_ns(1, timeout, &t) < 0)
		return NULL;
	if (cs < 1) {
		PyErr_SetString(PyExc_ValueError, "chunksize must be at least 1");
		return NULL;
	}
	if (t > 0)
		deadline = tp_now_ns() + t;
	fb = func_bytes(self, func);
	if (!fb)
		return NULL;
	window = (size_t)self->size * self->depth;
	futs = PyMem_Calloc(window, sizeof(*futs));
	spills = PyMem_Calloc(window, sizeof(*spills));
	out = PyList_New(0);
	if (!futs || !spills || !out) {
		PyErr_NoMemory();
		goto out_free;
	}
	n = PyList_GET_SIZE(items);
	core_lock(self);
	while (next < n || inflight > 0) {
		/* fill the window, unless a chunk failed */
		while (!err && next < n && inflight < window) {
			PyObject *chunk = PyList_GetSlice(items, next, next + cs), *pb;
			size_t k = (head + inflight) % window;

			pb = chunk ? tp_pickle(chunk) : NULL;
			Py_XDECREF(chunk);
			if (!pb || queue_task(self, kind, fb, pb, &futs[k], spills[k]) < 0) {
				Py_XDECREF(pb);
				err = take_exc();
				break;
			}
			Py_DECREF(pb);
			inflight++;
			next += cs;
		}
		if (inflight == 0)
			break;
		r = fut_wait(self, futs[head], err ? 0 : deadline);
		if (r == -EINTR || (r == -ETIMEDOUT && !err)) {
			/* Ctrl-C or the timeout: raise now; the chunks out still
			 * run, their results are dropped */
			if (r == -ETIMEDOUT)
				PyErr_SetNone(tp_exc_timeout);
			Py_XSETREF(err, take_exc());
			break;
		}
		if (!err) {
			PyObject *v;

			if (decode_outcome(self, r, spills[head], &v) == 1 && PyList_Check(v)) {
				Py_ssize_t at = PyList_GET_SIZE(out);

				if (PyList_SetSlice(out, at, at, v) < 0)
					err = take_exc();
				Py_DECREF(v);
			} else {
				err = v;
			}
		} else if (r <= 0 && spills[head][0]) {
			shm_unlink(spills[head]);
		}
		tend_future_free(futs[head]);
		futs[head] = NULL;
		head = (head + 1) % window;
		inflight--;
	}
	for (i = 0; i < window; i++)
		if (futs[i])
			tend_future_free(futs[i]);
	core_unlock(self);
out_free:
	PyMem_Free(futs);
	PyMem_Free(spills);
	Py_DECREF(fb);
	if (err) {
		Py_XDECREF(out);
		raise_exc(err);
		Py_DECREF(err);
		return NULL;
	}
	return out;
}

/* first_ready(tasks): the index of a settled task in the list (looking
 * without waiting), or -1. */
static PyObject *Core_first_ready(CoreObject *self, PyObject *tasks)
{
	Py_ssize_t i, n;

	(void)self;
	if (!PyList_Check(tasks)) {
		PyErr_SetString(PyExc_TypeError, "first_ready() takes a list of tasks");
		return NULL;
	}
	n = PyList_GET_SIZE(tasks);
	for (i = 0; i < n; i++) {
		PyObject *o = PyList_GET_ITEM(tasks, i);
		int r;

		if (!PyObject_TypeCheck(o, &Task_Type)) {
			PyErr_SetString(PyExc_TypeError, "first_ready() takes a list of tasks");
			return NULL;
		}
		r = task_wait((TaskObject *)o, TEND_NOWAIT);
		if (r < 0)
			return NULL;
		if (r)
			return PyLong_FromSsize_t(i);
	}
	return PyLong_FromLong(-1);
}

#define M(f) ((PyCFunction)(void (*)(void))(f))

static PyMethodDef Core_methods[] = {
	{"submit", M(Core_submit), METH_VARARGS, "submit(kind, func, payload) -> _Task"},
	{"submit_chunks", M(Core_submit_chunks), METH_VARARGS,
	 "submit_chunks(kind, func, items, chunksize) -> [_Task]"},
	{"collect", M(Core_collect), METH_VARARGS, "collect(tasks, timeout=None) -> list"},
	{"map_run", M(Core_map_run), METH_VARARGS, "map_run(kind, func, items, chunksize, timeout=None) -> list"},
	{"first_ready", M(Core_first_ready), METH_O, "first_ready(tasks) -> index or -1"},
	{"close", M(Core_close), METH_NOARGS, "Refuse new tasks; queued ones still run."},
	{"join", M(Core_join), METH_VARARGS, "join(timeout=None) -> bool, after close or terminate."},
	{"terminate", M(Core_terminate), METH_NOARGS, "Kill the workers now; unfinished tasks are cancelled."},
	{"pids", M(Core_pids), METH_NOARGS, "The pids of the live workers."},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef Core_getset[] = {
	{"size", (getter)Core_get_size, NULL, "Number of worker slots.", NULL},
	{"max_msg", (getter)Core_get_max_msg, NULL, "Longest task or result kept in shared memory.", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject Core_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "tend._tend._PoolCore",
	.tp_basicsize = sizeof(CoreObject),
	.tp_dealloc = (destructor)Core_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "The C core of tend.Pool (use tend.Pool).",
	.tp_methods = Core_methods,
	.tp_getset = Core_getset,
	.tp_new = Core_new,
};

static PyMethodDef Task_methods[] = {
	{"get", M(Task_get), METH_VARARGS, "get(timeout=None): the result, or the task's exception."},
	{"wait", M(Task_wait), METH_VARARGS, "wait(timeout=None) -> bool: settled within the timeout."},
	{"ready", M(Task_ready), METH_NOARGS, "True once settled."},
	{"successful", M(Task_successful), METH_NOARGS, "True if it returned (ValueError if not ready)."},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject Task_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "tend._tend._Task",
	.tp_basicsize = sizeof(TaskObject),
	.tp_dealloc = (destructor)Task_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "One task of a tend.Pool (the C side of AsyncResult).",
	.tp_methods = Task_methods,
};

int tp_pool_init(PyObject *m)
{
	if (PyType_Ready(&Core_Type) < 0 || PyType_Ready(&Task_Type) < 0)
		return -1;
	if (PyModule_AddObjectRef(m, "_PoolCore", (PyObject *)&Core_Type) < 0 ||
	    PyModule_AddObjectRef(m, "_Task", (PyObject *)&Task_Type) < 0)
		return -1;
	return 0;
}
