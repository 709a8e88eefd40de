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
 *   struct msg_hdr  kind ('A' apply, 'M' map batch, 'S' starmap batch),
 *                   flags (SPILLED), flen, the pool's spill id; a batch:
 *                   items per chunk, its tag, the progress slots' address
 *   flen bytes      the pickled callable (cached: the same bytes for every
 *                   task of a map, so the worker unpickles it once)
 *   the rest        the pickled arguments: (args, kwargs) or a list of items
 *
 *   1 byte status   0: a pickled result (a batch: every item's); 1: a
 *                   pickled exception; 2: a batch with failed chunks, a
 *                   list of one entry per chunk (its results, or its
 *                   exception's pickle); | SPILLED: the rest is the name
 *                   of a spill file
 *   the rest        the pickle
 *
 * A batch carries several of multiprocessing's chunks in one tend_pool task
 * (the per-task cost paid once for many items); each chunk succeeds or
 * fails on its own, and the progress slot tells the parent which chunk a
 * worker that died was running (batch_settle; docs/python.md, "Batches").
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
#define ST_PART 2      /* a batch with failed chunks: a list of outcomes per chunk */
#define PROG_SLOTS 65536
#define WAIT_SLICE_NS 10000000 /* a waiting call checks signals this often */
#define DEFAULT_MAX_MSG 65536
#define DEFAULT_DEPTH 32
#define MAX_MSG_MAX (TEND_QUEUE_MSG_MAX - 64)

struct msg_hdr {
	uint8_t kind;
	uint8_t flags;
	uint16_t reserved;
	uint32_t flen;
	uint64_t spill_id;
	uint32_t cs;   /* a batch: items per chunk */
	uint32_t tag;  /* a batch: its tag, and its progress slot prog[tag % PROG_SLOTS] */
	uint64_t prog; /* the address of the pool's progress slots (the same in its forks), or 0 */
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
	uint64_t *prog;           /* PROG_SLOTS progress slots, shared with the workers */
	uint32_t tag_seq;         /* the last batch's tag; under mutex */
	unsigned maxtasks;        /* maxtasksperchild, or 0 */
} CoreObject;

/*
 * A task of the parent: an apply (cs 0), or a batch of n items in chunks of
 * cs, sent as one tend_pool task.  When the worker running a batch dies,
 * the chunks it had not started are queued again (items kept) and the
 * batch stays pending: from is the first chunk of the attempt out, acc the
 * outcomes of the chunks before it.
 */
struct batch {
	tend_future *fut;           /* the attempt out, or NULL */
	PyObject *fb;               /* the callable's pickle */
	PyObject *items;            /* the items, to re-queue; or NULL: not re-queued */
	PyObject *acc;              /* an entry per chunk before from, or NULL */
	Py_ssize_t n, cs, from;
	int64_t sent;               /* map_run: when it was queued */
	uint32_t tag;
	int kind;
	char spill[TP_SPILL_NAME_MAX]; /* the argument's spill file, or "" */
};

typedef struct {
	PyObject_HEAD
	CoreObject *core;
	struct batch b;
	int state;                    /* 0 pending, 1 value, 2 exception, 3 per chunk */
	PyObject *value;              /* the result, the exception, or the entries */
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

/* apply: func(*args, **kwargs) from the payload (args, kwargs); the result,
 * or NULL with the exception set. */
static PyObject *run_apply(PyObject *func, PyObject *payload)
{
	PyObject *args, *kwargs;

	if (!PyTuple_Check(payload) || PyTuple_GET_SIZE(payload) != 2 ||
	    !PyTuple_Check(args = PyTuple_GET_ITEM(payload, 0)) || !PyDict_Check(kwargs = PyTuple_GET_ITEM(payload, 1))) {
		PyErr_SetString(PyExc_TypeError, "tend.Pool: malformed task");
		return NULL;
	}
	return PyObject_Call(func, args, PyDict_GET_SIZE(kwargs) ? kwargs : NULL);
}

/* One item of a map ('M': func(x)) or starmap ('S': func(*x)). */
static PyObject *call_item(int kind, PyObject *func, PyObject *x)
{
	PyObject *t, *r;

	if (kind != 'S')
		return PyObject_CallOneArg(func, x);
	t = PySequence_Tuple(x);
	r = t ? PyObject_Call(func, t, NULL) : NULL;
	Py_XDECREF(t);
	return r;
}

/* The pickle of the exception being raised (as multiprocessing sends it),
 * or NULL with an exception set. */
static PyObject *encode_exc(void)
{
	PyObject *exc = take_exc(), *f, *b;

	f = helper("_encode_exception");
	b = f ? PyObject_CallFunctionObjArgs(f, exc ? exc : Py_None, Py_None, NULL) : NULL;
	Py_XDECREF(f);
	Py_XDECREF(exc);
	if (b && !PyBytes_Check(b)) {
		Py_DECREF(b);
		PyErr_SetString(PyExc_TypeError, "tend.Pool: _encode_exception returned no bytes");
		return NULL;
	}
	return b;
}

/*
 * Run a batch: the items of payload (a list) in chunks of h->cs, each chunk
 * on its own (a chunk that raises fails alone, the next one runs).  Before a
 * chunk starts its index goes to the batch's progress slot, which tells the
 * parent where a worker that died in the batch was.  Returns the pickled
 * outcome: ST_OK and the list of every item's result, or ST_PART and a list
 * with one entry per chunk (its list of results, or the pickle of its
 * exception as bytes); NULL with an exception set when the batch could not
 * run at all.
 */
static PyObject *run_batch(const struct msg_hdr *h, PyObject *func, PyObject *payload, int *status)
{
	uint64_t *slot = h->prog ? (uint64_t *)(uintptr_t)h->prog + h->tag % PROG_SLOTS : NULL;
	Py_ssize_t n, cs = h->cs ? (Py_ssize_t)h->cs : 1, a, e, i, j;
	PyObject *flat, *errs = NULL, *b = NULL, *f;

	if (!PyList_Check(payload)) {
		PyErr_SetString(PyExc_TypeError, "tend.Pool: malformed batch");
		return NULL;
	}
	n = PyList_GET_SIZE(payload);
	flat = PyList_New(n);
	if (!flat)
		return NULL;
	for (j = 0, a = 0; a < n; j++, a += cs) {
		e = a + cs < n ? a + cs : n;
		if (slot)
			__atomic_store_n(slot, ((uint64_t)h->tag << 32) | (uint32_t)j, __ATOMIC_RELAXED);
		for (i = a; i < e; i++) {
			PyObject *r = call_item(h->kind, func, PyList_GET_ITEM(payload, i));

			if (!r)
				break;
			PyList_SET_ITEM(flat, i, r);
		}
		if (i < e) {
			PyObject *eb = encode_exc(), *key;
			int rr;

			for (i = a; i < e; i++) {
				Py_XDECREF(PyList_GET_ITEM(flat, i));
				PyList_SET_ITEM(flat, i, Py_NewRef(Py_None));
			}
			if (!eb)
				goto out;
			if (!errs && !(errs = PyDict_New())) {
				Py_DECREF(eb);
				goto out;
			}
			key = PyLong_FromSsize_t(j);
			rr = key ? PyDict_SetItem(errs, key, eb) : -1;
			Py_XDECREF(key);
			Py_DECREF(eb);
			if (rr < 0)
				goto out;
		}
	}
	if (!errs) {
		b = tp_pickle(flat);
		if (b) {
			*status = ST_OK;
			goto out;
		}
		PyErr_Clear(); /* a result does not pickle: find which chunk */
	}
	f = helper("_encode_batch");
	b = f ? PyObject_CallFunction(f, "OnO", flat, cs, errs ? errs : Py_None) : NULL;
	Py_XDECREF(f);
	if (b && !PyBytes_Check(b)) {
		Py_CLEAR(b);
		PyErr_SetString(PyExc_TypeError, "tend.Pool: _encode_batch returned no bytes");
	}
	*status = ST_PART;
out:
	Py_DECREF(flat);
	Py_XDECREF(errs);
	return b;
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
		char name[TP_SPILL_NAME_MAX];

		if (blen >= sizeof(name))
			return -EBADMSG;
		memcpy(name, body, blen);
		name[blen] = 0;
		spilled = tp_spill_take(name);
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
	if (h.kind == 'A') {
		out = payload ? run_apply(func, payload) : NULL;
		b = encode_outcome(out, &status);
		Py_XDECREF(out);
	} else {
		b = payload ? run_batch(&h, func, payload, &status) : NULL;
		if (!b)
			b = encode_outcome(NULL, &status);
	}
	Py_XDECREF(payload);
	Py_XDECREF(func);
	Py_XDECREF(spilled);
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
		char name[TP_SPILL_NAME_MAX];
		const void *parts[1] = {PyBytes_AS_STRING(b)};
		size_t lens[1] = {(size_t)PyBytes_GET_SIZE(b)};

		tp_spill_name(name, h.spill_id, 'r', (long)getpid(), seq++);
		r = tp_spill_write(name, parts, lens, 1);
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
	self->maxtasks = maxtasks;
	self->mutex = PyThread_allocate_lock();
	self->buf = PyMem_Malloc(self->max_msg);
	if (!self->mutex || !self->buf) {
		PyErr_NoMemory();
		goto out_self;
	}
	/* before the workers are forked: they inherit it (pages on first touch) */
	self->prog = mmap(NULL, PROG_SLOTS * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (self->prog == MAP_FAILED) {
		self->prog = NULL;
		PyErr_SetFromErrno(PyExc_OSError);
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
			tp_spill_sweep(self->spill_id);
	}
	if (self->mutex)
		PyThread_free_lock(self->mutex);
	if (self->prog)
		munmap(self->prog, PROG_SLOTS * sizeof(uint64_t));
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
		tp_spill_sweep(self->spill_id);
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
	tp_spill_sweep(self->spill_id);
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
 * Put one task (callable pickle fb, argument pickle pb; a batch: cs items
 * per chunk and its tag) in the pool: its future in *ret_fut and, when the
 * message went through a spill file, that file's name in spill (else "").
 * Call holding the mutex and the GIL.  Returns 0, or -1 with an exception
 * set (nothing left behind).
 */
static int queue_task(CoreObject *self, int kind, PyObject *fb, PyObject *pb, uint32_t cs, uint32_t tag,
		      tend_future **ret_fut, char *spill)
{
	struct msg_hdr h = {.kind = (uint8_t)kind, .spill_id = self->spill_id, .cs = cs, .tag = tag};
	size_t flen = (size_t)PyBytes_GET_SIZE(fb), plen = (size_t)PyBytes_GET_SIZE(pb), len;
	int r;

	h.flen = (uint32_t)flen;
	if (kind != 'A')
		h.prog = (uint64_t)(uintptr_t)self->prog;
	spill[0] = 0;
	if (sizeof(h) + flen + plen <= self->max_msg) {
		memcpy(self->buf, &h, sizeof(h));
		memcpy(self->buf + sizeof(h), PyBytes_AS_STRING(fb), flen);
		memcpy(self->buf + sizeof(h) + flen, PyBytes_AS_STRING(pb), plen);
		len = sizeof(h) + flen + plen;
	} else {
		const void *parts[2] = {PyBytes_AS_STRING(fb), PyBytes_AS_STRING(pb)};
		size_t lens[2] = {flen, plen};

		tp_spill_name(spill, self->spill_id, 'a', 0, self->spill_seq++);
		r = tp_spill_write(spill, parts, lens, 2);
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

/*
 * The outcome of a finished task, from tend_future_wait's r and the result
 * bytes in core->buf: 1 and its value, 2 and an exception instance (the
 * task's own, or the pool's: WorkerDied...), or 3 and a batch's list of
 * entries per chunk as the worker sent it, in *ret_value (a new
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
		char name[TP_SPILL_NAME_MAX];
		size_t n = (size_t)r - 1;

		if (n >= sizeof(name))
			n = sizeof(name) - 1;
		memcpy(name, res + 1, n);
		name[n] = 0;
		spilled = tp_spill_take(name);
		if (!spilled)
			goto out_exc;
		v = tp_unpickle(PyBytes_AS_STRING(spilled), (size_t)PyBytes_GET_SIZE(spilled));
		Py_DECREF(spilled);
	} else {
		v = tp_unpickle(res + 1, (size_t)r - 1);
	}
	if (!v)
		goto out_exc;
	status &= ~SPILLED;
	if (status == ST_PART && !PyList_Check(v)) {
		Py_DECREF(v);
		PyErr_SetString(PyExc_TypeError, "tend.Pool: malformed batch outcome");
		goto out_exc;
	}
	*ret_value = v;
	return status == ST_OK ? 1 : status == ST_PART ? 3 : 2;

out_exc:
	*ret_value = take_exc();
	return 2;
}

/* A tend.WorkerDied instance with this message. */
static PyObject *worker_died(const char *msg)
{
	raise_oserror(tp_exc_worker_died, EOWNERDEAD, msg);
	return take_exc();
}

/* Append count references to v to the list l: 0 or -1 (an exception set). */
static int append_n(PyObject *l, PyObject *v, Py_ssize_t count)
{
	for (; count > 0; count--)
		if (PyList_Append(l, v) < 0)
			return -1;
	return 0;
}

/* The first exception among a batch's entries (borrowed), or NULL. */
static PyObject *first_exc(PyObject *entries)
{
	Py_ssize_t i;

	for (i = 0; i < PyList_GET_SIZE(entries); i++)
		if (!PyList_Check(PyList_GET_ITEM(entries, i)))
			return PyList_GET_ITEM(entries, i);
	return NULL;
}

/* Pickle and queue the items payload as the next attempt of batch b, under
 * a new tag.  0, or -1 with an exception set.  Holding the mutex. */
static int batch_queue(CoreObject *self, struct batch *b, PyObject *payload)
{
	PyObject *pb = tp_pickle(payload);
	int r;

	if (!pb)
		return -1;
	b->tag = ++self->tag_seq;
	/* a worker that dies before it starts the first chunk died in it */
	__atomic_store_n(&self->prog[b->tag % PROG_SLOTS], (uint64_t)b->tag << 32, __ATOMIC_RELAXED);
	r = queue_task(self, b->kind, b->fb, pb, (uint32_t)b->cs, b->tag, &b->fut, b->spill);
	Py_DECREF(pb);
	return r;
}

static void batch_clear(struct batch *b)
{
	if (b->fut)
		tend_future_free(b->fut);
	b->fut = NULL;
	Py_CLEAR(b->fb);
	Py_CLEAR(b->items);
	Py_CLEAR(b->acc);
}

/*
 * Start batch b: the list items (kind 'M' or 'S', cs items per chunk; cs 0:
 * an apply whose payload is items), queued now.  keep: hold the items to
 * re-queue the chunks a dead worker never started.  0, or -1 with an
 * exception set (b cleared).  Holding the mutex.
 */
static int batch_start(CoreObject *self, struct batch *b, int kind, PyObject *fb, PyObject *items, Py_ssize_t cs,
		       bool keep)
{
	memset(b, 0, sizeof(*b));
	b->kind = kind;
	b->cs = cs;
	b->n = cs ? PyList_GET_SIZE(items) : 0;
	b->fb = Py_NewRef(fb);
	if (keep && cs)
		b->items = Py_NewRef(items);
	if (batch_queue(self, b, items) < 0) {
		batch_clear(b);
		return -1;
	}
	return 0;
}

/* Batch entries from the worker: each chunk's exception pickle (bytes)
 * unpickled in place.  0, or -1 with an exception set. */
static int entries_decode(PyObject *entries)
{
	Py_ssize_t i;

	for (i = 0; i < PyList_GET_SIZE(entries); i++) {
		PyObject *e = PyList_GET_ITEM(entries, i), *x;

		if (PyList_Check(e))
			continue;
		x = PyBytes_Check(e) ? tp_unpickle(PyBytes_AS_STRING(e), (size_t)PyBytes_GET_SIZE(e)) : NULL;
		if (!x) {
			if (!PyErr_Occurred())
				PyErr_SetString(PyExc_TypeError, "tend.Pool: malformed batch entry");
			x = take_exc();
			if (!x)
				return -1;
		}
		if (PyList_SetItem(entries, i, x) < 0)
			return -1;
	}
	return 0;
}

/* Append to b->acc the outcome of left chunks: st 1 the list of their
 * items' results (v), 2 one exception (v) for all, 3 their entries (v). */
static int acc_add(struct batch *b, int st, PyObject *v, Py_ssize_t left)
{
	Py_ssize_t a, i;

	if (st == 2)
		return append_n(b->acc, v, left);
	if (st == 3)
		return PyList_SetSlice(b->acc, PyList_GET_SIZE(b->acc), PyList_GET_SIZE(b->acc), v);
	for (a = 0, i = 0; i < left; i++, a += b->cs) {
		PyObject *c = PyList_GetSlice(v, a, a + b->cs);
		int r = c ? PyList_Append(b->acc, c) : -1;

		Py_XDECREF(c);
		if (r < 0)
			return -1;
	}
	return 0;
}

/*
 * Account for the attempt of batch b that finished with r (tend_future_wait's
 * result; the outcome bytes in self->buf).  Returns 0 when chunks were
 * queued again (b is pending again), else the outcome in *ret (a new
 * reference): 1 the list of every item's result, 2 one exception for the
 * whole task, 3 a list with one entry per chunk (its list of results, or
 * its exception).  A worker that died in a batch: the chunk it was running
 * and the ones it had finished (their results died with it) get
 * WorkerDied, the ones it had not started are queued again (b->items), or
 * get WorkerDied too when b keeps no items.  Holding the mutex and the GIL;
 * never fails (an error is the outcome).
 */
static int batch_settle(CoreObject *self, struct batch *b, int r, PyObject **ret)
{
	Py_ssize_t nch = b->cs ? (b->n + b->cs - 1) / b->cs : 1, left = nch - b->from, j = -1;
	PyObject *v = NULL, *exc;
	int st;

	if (b->fut)
		tend_future_free(b->fut);
	b->fut = NULL;
	if (r == -EOWNERDEAD && b->cs && (left > 1 || b->acc)) {
		uint64_t p = __atomic_load_n(&self->prog[b->tag % PROG_SLOTS], __ATOMIC_RELAXED);

		/* another tag there: a collision of slots, where is unknown */
		if ((uint32_t)(p >> 32) == b->tag && (Py_ssize_t)(uint32_t)p < left)
			j = (Py_ssize_t)(uint32_t)p;
	}
	if (!b->acc && (j >= 0 || (b->cs && left > 1 && r <= 0)) && !(b->acc = PyList_New(0)))
		goto out_exc;
	if (j >= 0) {
		if (b->spill[0])
			shm_unlink(b->spill);
		b->spill[0] = 0;
		exc = j ? worker_died("this map chunk (with chunksize=1, this item) ran in full in a pool worker that "
				      "died later in the same batch; its result was lost with the worker")
			: NULL;
		st = exc ? append_n(b->acc, exc, j) : 0;
		Py_XDECREF(exc);
		exc = st == 0 ? worker_died("the pool worker running this map chunk (with chunksize=1, this item) died "
					    "(killed, crashed or exited) before it returned the result; it may have run "
					    "in part or in full")
			      : NULL;
		st = exc ? PyList_Append(b->acc, exc) : -1;
		Py_XDECREF(exc);
		if (st < 0)
			goto out_exc;
		b->from += j + 1;
		if (b->from < nch) {
			if (b->items) {
				PyObject *rest = PyList_GetSlice(b->items, b->from * b->cs, b->n);

				if (rest && batch_queue(self, b, rest) == 0) {
					Py_DECREF(rest);
					return 0;
				}
				Py_XDECREF(rest);
				PyErr_Clear();
				exc = worker_died("this map chunk never ran: a pool worker died earlier in its batch and the "
						  "pool did not take it again (closed or terminated)");
			} else {
				exc = worker_died("this map chunk never ran: a pool worker died earlier in its batch");
			}
			st = exc ? append_n(b->acc, exc, nch - b->from) : -1;
			Py_XDECREF(exc);
			if (st < 0)
				goto out_exc;
		}
		goto out_acc;
	}
	st = decode_outcome(self, r, b->spill, &v);
	if (st == 3 && entries_decode(v) < 0) {
		Py_DECREF(v);
		goto out_exc;
	}
	if (!b->acc && (st == 1 || st == 3 || !b->cs || left <= 1)) {
		*ret = v;
		return st;
	}
	if (!b->acc && !(b->acc = PyList_New(0))) {
		Py_DECREF(v);
		goto out_exc;
	}
	st = acc_add(b, st, v, left);
	Py_DECREF(v);
	if (st < 0)
		goto out_exc;
out_acc:
	b->from = nch;
	*ret = b->acc;
	b->acc = NULL;
	return 3;

out_exc:
	b->from = nch;
	Py_CLEAR(b->acc);
	*ret = take_exc();
	if (!*ret)
		*ret = Py_NewRef(PyExc_MemoryError); /* not reached: an exception is set */
	return 2;
}

/*
 * How many chunks the next batch of a map carries, left chunks of cs items
 * to go: guided self-scheduling, an eighth of what is left per worker
 * (several batches for every worker, shrinking to one chunk at the end for
 * balance), at most BATCH_ITEMS items.  With maxtasksperchild one chunk per
 * task, as multiprocessing counts them.
 */
#define BATCH_ITEMS 4096
static Py_ssize_t batch_chunks(CoreObject *self, Py_ssize_t left, Py_ssize_t cs)
{
	Py_ssize_t k, cap = BATCH_ITEMS / cs;

	if (self->maxtasks)
		return 1;
	k = (left + 4 * (Py_ssize_t)self->size - 1) / (4 * (Py_ssize_t)self->size);
	if (cap < 1)
		cap = 1;
	return k < 1 ? 1 : k < cap ? k : cap;
}

/* A new _Task for a started batch (stolen), or NULL with an exception set. */
static PyObject *task_new(CoreObject *self, struct batch *b)
{
	TaskObject *t = PyObject_New(TaskObject, &Task_Type);

	if (!t) {
		core_lock(self);
		tend_future_free(b->fut);
		b->fut = NULL;
		core_unlock(self);
		batch_clear(b);
		return NULL;
	}
	t->core = (CoreObject *)Py_NewRef(self);
	t->b = *b;
	t->state = 0;
	t->value = NULL;
	return (PyObject *)t;
}

/* Queue one task: cs 0, an apply of payload (args, kwargs); else the list
 * payload in chunks of cs.  A new _Task, or NULL with an exception set.
 * Call with the GIL; takes the mutex itself. */
static PyObject *submit(CoreObject *self, int kind, PyObject *fb, PyObject *payload, Py_ssize_t cs, bool keep)
{
	struct batch b;
	int r;

	core_lock(self);
	r = batch_start(self, &b, kind, fb, payload, cs, keep);
	core_unlock(self);
	if (r < 0)
		return NULL;
	return task_new(self, &b);
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

/* submit(kind, func, payload): 'A' an apply of (args, kwargs); 'M', 'S' a
 * list of items as one chunk. */
static PyObject *Core_submit(CoreObject *self, PyObject *args)
{
	PyObject *kind_o, *func, *payload, *fb, *t;
	Py_ssize_t cs = 0;
	int kind;

	if (!PyArg_ParseTuple(args, "OOO:submit", &kind_o, &func, &payload) || kind_arg(kind_o, &kind) < 0 ||
	    core_check(self) < 0)
		return NULL;
	if (kind != 'A') {
		if (!PyList_Check(payload)) {
			PyErr_SetString(PyExc_TypeError, "submit: a chunk must be a list");
			return NULL;
		}
		cs = PyList_GET_SIZE(payload) ? PyList_GET_SIZE(payload) : 1;
	}
	fb = func_bytes(self, func);
	if (!fb)
		return NULL;
	t = submit(self, kind, fb, payload, cs, false);
	Py_DECREF(fb);
	return t;
}

/* submit_batch(kind, func, items, chunksize): one task for the list items
 * in chunks (imap): an item's failure is its chunk's alone, and the chunks
 * a dead worker never started run again on another. */
static PyObject *Core_submit_batch(CoreObject *self, PyObject *args)
{
	PyObject *kind_o, *func, *items, *fb, *t;
	Py_ssize_t cs;
	int kind;

	if (!PyArg_ParseTuple(args, "OOO!n:submit_batch", &kind_o, &func, &PyList_Type, &items, &cs) ||
	    kind_arg(kind_o, &kind) < 0 || core_check(self) < 0)
		return NULL;
	if (cs < 1 || cs > UINT32_MAX || kind == 'A') {
		PyErr_SetString(PyExc_ValueError, "submit_batch: a map or starmap, chunksize at least 1");
		return NULL;
	}
	fb = func_bytes(self, func);
	if (!fb)
		return NULL;
	t = submit(self, kind, fb, items, cs, true);
	Py_DECREF(fb);
	return t;
}

/* submit_chunks(kind, func, items, chunksize): the list items in chunks,
 * several chunks per task (batch_chunks); returns the list of tasks. */
static PyObject *Core_submit_chunks(CoreObject *self, PyObject *args)
{
	PyObject *kind_o, *func, *items, *fb, *tasks, *chunk, *t;
	Py_ssize_t cs, i, n, k;
	int kind;

	if (!PyArg_ParseTuple(args, "OOO!n:submit_chunks", &kind_o, &func, &PyList_Type, &items, &cs) ||
	    kind_arg(kind_o, &kind) < 0 || core_check(self) < 0)
		return NULL;
	if (cs < 1 || cs > UINT32_MAX || kind == 'A') {
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
	for (i = 0; i < n; i += k * cs) {
		k = batch_chunks(self, (n - i + cs - 1) / cs, cs);
		chunk = PyList_GetSlice(items, i, i + k * cs);
		if (!chunk)
			goto out_tasks;
		t = submit(self, kind, fb, chunk, cs, false);
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

/*
 * Wait for a task at most timeout_ns (TEND_FOREVER, TEND_NOWAIT, > 0):
 * 1 when it is settled, 0 when not yet, -1 with an exception set (a signal
 * handler raised).  In slices, holding the mutex only during each slice.
 */
static int task_wait(TaskObject *t, int64_t timeout_ns)
{
	int64_t deadline = 0, left;
	int r, st;

	if (t->state)
		return 1;
	if (!t->b.fut) {
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
		r = tend_future_wait(t->b.fut, t->core->buf, t->core->max_msg, TEND_NOWAIT);
		if (r == -EAGAIN && left != TEND_NOWAIT) {
			tp_fork_allow_threads();
			r = tend_future_wait(t->b.fut, t->core->buf, t->core->max_msg, left);
			tp_fork_end_allow_threads();
		}
		tp_fork_guard_end();
		if (r != -EAGAIN && r != -ETIMEDOUT) {
			st = batch_settle(t->core, &t->b, r, &t->value);
			core_unlock(t->core);
			if (st) {
				t->state = st;
				return 1;
			}
			continue; /* chunks queued again */
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

/* The settled outcome: the value, or NULL with the task's exception (a
 * batch's first) raised. */
static PyObject *task_outcome(TaskObject *t)
{
	if (t->state == 1)
		return Py_NewRef(t->value);
	raise_exc(t->state == 3 ? first_exc(t->value) : t->value);
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

/* chunks(): a settled batch's outcome: (True, every item's result) or
 * (False, [a chunk's list of results, or its exception, ...]); raises the
 * exception of a task that failed as a whole. */
static PyObject *Task_chunks(TaskObject *t, PyObject *Py_UNUSED(ignored))
{
	int r = task_wait(t, TEND_FOREVER);

	if (r < 0)
		return NULL;
	if (t->state == 2) {
		raise_exc(t->value);
		return NULL;
	}
	return Py_BuildValue("(OO)", t->state == 1 ? Py_True : Py_False, t->value);
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
	/* an unfinished task still runs; its result is dropped (a spilled
	 * one is swept when the pool ends) */
	if (t->b.fut) {
		core_lock(t->core);
		tend_future_free(t->b.fut);
		t->b.fut = NULL;
		core_unlock(t->core);
	}
	batch_clear(&t->b); /* outside the mutex: items may have a __del__ */
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
		if (((TaskObject *)o)->state != 1)
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

#define QUICK_NS 10000000 /* map_run: a batch back within this doubles the next */
#define SLOW_NS 20000000  /* ... one back after this halves it */

/*
 * map_run(kind, func, items, chunksize, timeout=None): Pool.map and
 * starmap in one call: batches of chunks go out two per worker at a time
 * (nothing waiting in the caller's memory), results come back in order into
 * one list.  A batch's size is batch_chunks' (guided self-scheduling) but
 * at most grow chunks: one at first, twice as many after a batch that came
 * back within QUICK_NS of being sent, half after one slower than SLOW_NS:
 * slow items (whose cost may differ from one to the next) go out a few at a
 * time, fast ones by thousands.  The first failed chunk's exception (in
 * order) is raised once the batches already out are accounted for; no
 * batch is started after it.  multiprocessing.TimeoutError past the
 * timeout.
 */
static PyObject *Core_map_run(CoreObject *self, PyObject *args)
{
	PyObject *kind_o, *func, *items, *timeout = Py_None, *fb, *out = NULL, *err = NULL;
	Py_ssize_t cs, n, next = 0, k, grow = 1, cap;
	size_t window, head = 0, inflight = 0, i;
	struct batch *bs;
	int64_t t, deadline = 0;
	int kind, r, st;

	if (!PyArg_ParseTuple(args, "OOO!n|O:map_run", &kind_o, &func, &PyList_Type, &items, &cs, &timeout) ||
	    kind_arg(kind_o, &kind) < 0 || core_check(self) < 0 || tp_timeout_ns(1, timeout, &t) < 0)
		return NULL;
	if (cs < 1 || cs > UINT32_MAX || kind == 'A') {
		PyErr_SetString(PyExc_ValueError, "chunksize must be at least 1");
		return NULL;
	}
	if (t > 0)
		deadline = tp_now_ns() + t;
	fb = func_bytes(self, func);
	if (!fb)
		return NULL;
	/* one chunk per task (maxtasksperchild): every worker's channel full */
	window = self->maxtasks ? (size_t)self->size * self->depth : 2 * (size_t)self->size;
	bs = PyMem_Calloc(window, sizeof(*bs));
	out = PyList_New(0);
	if (!bs || !out) {
		PyErr_NoMemory();
		goto out_free;
	}
	n = PyList_GET_SIZE(items);
	cap = BATCH_ITEMS / cs > 1 ? BATCH_ITEMS / cs : 1;
	core_lock(self);
	while (next < n || inflight > 0) {
		/* fill the window, unless a chunk failed */
		while (!err && next < n && inflight < window) {
			PyObject *chunk;
			size_t at = (head + inflight) % window;

			k = batch_chunks(self, (n - next + cs - 1) / cs, cs);
			k = (k < grow ? k : grow) * cs;
			chunk = PyList_GetSlice(items, next, next + k);
			if (!chunk || batch_start(self, &bs[at], kind, fb, chunk, cs, false) < 0) {
				Py_XDECREF(chunk);
				err = take_exc();
				break;
			}
			Py_DECREF(chunk);
			bs[at].sent = tp_now_ns();
			inflight++;
			next += k;
		}
		if (inflight == 0)
			break;
		r = fut_wait(self, bs[head].fut, err ? 0 : deadline);
		if (r == -EINTR || (r == -ETIMEDOUT && !err)) {
			/* Ctrl-C or the timeout: raise now; the batches out still
			 * run, their results are dropped */
			if (r == -ETIMEDOUT)
				PyErr_SetNone(tp_exc_timeout);
			Py_XSETREF(err, take_exc());
			break;
		}
		if (!err) {
			PyObject *v;
			int64_t took = tp_now_ns() - bs[head].sent;

			if (took < QUICK_NS)
				grow = grow < cap / 2 ? 2 * grow : cap;
			else if (took > SLOW_NS && grow > 1)
				grow /= 2;
			st = batch_settle(self, &bs[head], r, &v);
			if (st == 0)
				continue; /* not reached: map batches are not queued again */
			if (st == 1 && PyList_Check(v)) {
				Py_ssize_t at = PyList_GET_SIZE(out);

				if (PyList_SetSlice(out, at, at, v) < 0)
					err = take_exc();
				Py_DECREF(v);
			} else if (st == 3) {
				err = Py_NewRef(first_exc(v));
				Py_DECREF(v);
			} else {
				err = v;
			}
		} else if (r <= 0 && bs[head].spill[0]) {
			shm_unlink(bs[head].spill);
		}
		batch_clear(&bs[head]);
		head = (head + 1) % window;
		inflight--;
	}
	for (i = 0; i < window; i++)
		batch_clear(&bs[i]);
	core_unlock(self);
out_free:
	PyMem_Free(bs);
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
	{"submit_batch", M(Core_submit_batch), METH_VARARGS,
	 "submit_batch(kind, func, items, chunksize) -> _Task (chunks fail alone)"},
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
	{"chunks", M(Task_chunks), METH_NOARGS, "chunks() -> (True, results) or (False, [results or exception per chunk])"},
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
