/*
 * tend._tend: module set-up and what every type shares (see tendpy.h).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "tendpy.h"

PyObject *tp_exc_full, *tp_exc_empty, *tp_exc_shutdown, *tp_exc_timeout;
PyObject *tp_exc_worker_died, *tp_exc_init_failed, *tp_exc_cancelled;
PyObject *tp_dumps, *tp_loads, *tp_protocol;

const struct tp_kind tp_kind_queue = {"tend.Queue", "queue"};
const struct tp_kind tp_kind_value = {"tend.Value", "shared array"};
const struct tp_kind tp_kind_array = {"tend.Array", "shared array"};
const struct tp_kind tp_kind_lock = {"tend.Lock", "shared array (a lock)"};
const struct tp_kind tp_kind_rlock = {"tend.RLock", "shared array (a lock)"};
const struct tp_kind tp_kind_counter = {"tend.Counter", "counter"};
const struct tp_kind tp_kind_map = {"tend.Map", "map"};

/* ---- errors ------------------------------------------------------------- */

PyObject *tp_raise(int r, const struct tp_kind *kind, PyObject *name, const char *op)
{
	int e = -r;
	PyObject *who = name ? name : Py_None;
	PyObject *args;

	if (e == EBADMSG) {
		PyErr_Format(PyExc_ValueError, "%s %R: cannot %s: not a tend %s, or a damaged one (%s)",
			     kind->type_name, who, op, kind->what, strerror(e));
		return NULL;
	}
	if (e == EPROTO) {
		PyErr_Format(PyExc_ValueError, "%s %R: cannot %s: made by an incompatible libtend version (%s)",
			     kind->type_name, who, op, strerror(e));
		return NULL;
	}
	if (e == EINVAL) {
		PyErr_Format(PyExc_ValueError, "%s %R: cannot %s: invalid argument (%s)", kind->type_name, who, op,
			     strerror(e));
		return NULL;
	}
	args = Py_BuildValue("(isO)", e, strerror(e), who);
	if (args) {
		PyObject *exc = PyObject_Call(PyExc_OSError, args, NULL);

		Py_DECREF(args);
		if (exc) {
			/* "[Errno 2] No such file or directory: '/x'" plus who and what */
			PyObject *note = PyUnicode_FromFormat("%s: cannot %s", kind->type_name, op);

			if (note) {
				PyObject *s = PyUnicode_FromFormat("%s (%U)", strerror(e), note);

				if (s) {
					(void)PyObject_SetAttrString(exc, "strerror", s);
					Py_DECREF(s);
				}
				Py_DECREF(note);
			}
			PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
			Py_DECREF(exc);
		}
	}
	return NULL;
}

PyObject *tp_anonymous_pickle_error(const struct tp_kind *kind)
{
	PyErr_Format(PyExc_RuntimeError,
		     "an anonymous %s is shared only through inheritance by fork(); create it with "
		     "name='/some-name' to pickle it or to pass it to a process started with spawn or forkserver",
		     kind->type_name);
	return NULL;
}

/* ---- arguments ---------------------------------------------------------- */

int64_t tp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int tp_timeout_ns(int block, PyObject *timeout, int64_t *ret_ns)
{
	double t;

	if (!block) {
		*ret_ns = TEND_NOWAIT;
		return 0;
	}
	if (!timeout || timeout == Py_None) {
		*ret_ns = TEND_FOREVER;
		return 0;
	}
	t = PyFloat_AsDouble(timeout);
	if (t == -1.0 && PyErr_Occurred())
		return -1;
	if (isnan(t) || t < 0) {
		PyErr_SetString(PyExc_ValueError, "'timeout' must be a non-negative number");
		return -1;
	}
	if (t == 0) {
		*ret_ns = TEND_NOWAIT;
		return 0;
	}
	if (t > 1e9) /* 31 years: as good as forever */
		*ret_ns = TEND_FOREVER;
	else
		*ret_ns = t * 1e9 < 1 ? 1 : (int64_t)(t * 1e9);
	return 0;
}

int tp_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
	    const char *const *names, int n, int npos, int nreq, PyObject **out)
{
	Py_ssize_t i, nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
	int j;

	if (nargs > npos) {
		PyErr_Format(PyExc_TypeError, "%s() takes at most %d positional arguments (%zd given)", fname, npos,
			     nargs);
		return -1;
	}
	for (j = 0; j < n; j++)
		out[j] = j < nargs ? args[j] : NULL;
	for (i = 0; i < nkw; i++) {
		PyObject *k = PyTuple_GET_ITEM(kwnames, i);

		for (j = 0; j < n; j++)
			if (PyUnicode_CompareWithASCIIString(k, names[j]) == 0)
				break;
		if (j == n) {
			PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fname, k);
			return -1;
		}
		if (out[j]) {
			PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname, names[j]);
			return -1;
		}
		out[j] = args[nargs + i];
	}
	for (j = 0; j < nreq; j++)
		if (!out[j]) {
			PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname, names[j]);
			return -1;
		}
	return 0;
}

int tp_name_arg(PyObject *name, PyObject **ret)
{
	if (!name || name == Py_None) {
		*ret = NULL;
		return 0;
	}
	if (!PyUnicode_Check(name)) {
		PyErr_Format(PyExc_TypeError, "name must be a str or None, not %.100s", Py_TYPE(name)->tp_name);
		return -1;
	}
	if (PyUnicode_READY(name) < 0)
		return -1;
	if (PyUnicode_GET_LENGTH(name) > 0 && PyUnicode_READ_CHAR(name, 0) == '/') {
		Py_INCREF(name);
		*ret = name;
	} else {
		*ret = PyUnicode_FromFormat("/%U", name);
		if (!*ret)
			return -1;
	}
	return 0;
}

int tp_open_again(int r, int *tries)
{
	if (r != -EAGAIN || ++*tries > 1000)
		return 0;
	Py_BEGIN_ALLOW_THREADS
	nanosleep(&(struct timespec){0, 2000000}, NULL);
	Py_END_ALLOW_THREADS
	return 1;
}

PyObject *tp_open_by_name(PyObject *cls, PyObject *name)
{
	PyObject *args = PyTuple_New(0), *kw, *o = NULL;

	if (!args)
		return NULL;
	kw = Py_BuildValue("{sOsO}", "name", name, "create", Py_False);
	if (kw) {
		o = PyObject_Call(cls, args, kw);
		Py_DECREF(kw);
	}
	Py_DECREF(args);
	return o;
}

PyObject *tp_unlink(const struct tp_kind *kind, PyObject *name, int (*fn)(const char *))
{
	const char *c;
	int r;

	if (!name) {
		PyErr_Format(PyExc_ValueError, "an anonymous %s has no name to unlink", kind->type_name);
		return NULL;
	}
	c = PyUnicode_AsUTF8(name);
	if (!c)
		return NULL;
	r = fn(c);
	if (r < 0)
		return tp_raise(r, kind, name, "unlink");
	Py_RETURN_NONE;
}

PyObject *tp_name_or_none(PyObject *name)
{
	return Py_NewRef(name ? name : Py_None);
}

int tp_block_timeout(PyObject *block, PyObject *timeout, int64_t *ret_ns)
{
	int b = 1;

	if (block && (b = PyObject_IsTrue(block)) < 0)
		return -1;
	return tp_timeout_ns(b, timeout, ret_ns);
}

/* ---- pickling ----------------------------------------------------------- */

PyObject *tp_pickle(PyObject *obj)
{
	PyObject *args[2] = {obj, tp_protocol};

	return PyObject_Vectorcall(tp_dumps, args, 2, NULL);
}

PyObject *tp_unpickle(const void *buf, size_t len)
{
	PyObject *mv, *obj;

	mv = PyMemoryView_FromMemory((char *)buf, (Py_ssize_t)len, PyBUF_READ);
	if (!mv)
		return NULL;
	obj = PyObject_CallOneArg(tp_loads, mv);
	Py_DECREF(mv);
	return obj;
}

/* ---- the fork protocol -------------------------------------------------- */

/*
 * Per thread: inside a guard, and the thread state saved while the GIL is
 * released.  Only the thread that runs a tend_pool call has active set, so
 * forks elsewhere (os.fork, subprocess) are untouched.
 */
static _Thread_local struct {
	bool active;
	PyThreadState *saved;
} fork_state;

static void fork_prepare(void)
{
	if (!fork_state.active)
		return;
	if (fork_state.saved)
		PyEval_RestoreThread(fork_state.saved);
	PyOS_BeforeFork();
}

static void fork_parent(void)
{
	if (!fork_state.active)
		return;
	PyOS_AfterFork_Parent();
	if (fork_state.saved)
		fork_state.saved = PyEval_SaveThread();
}

unsigned tp_fork_gen;

static void fork_child(void)
{
	tp_fork_gen++;
	if (!fork_state.active)
		return;
	/* This thread holds the GIL (taken in fork_prepare) and is now the
	 * only one: CPython re-initialises itself around it. */
	fork_state.active = false;
	fork_state.saved = NULL;
	PyOS_AfterFork_Child();
}

void tp_fork_guard_begin(void)
{
	fork_state.active = true;
	fork_state.saved = NULL;
}

void tp_fork_guard_end(void)
{
	fork_state.active = false;
}

void tp_fork_allow_threads(void)
{
	fork_state.saved = PyEval_SaveThread();
}

void tp_fork_end_allow_threads(void)
{
	PyThreadState *ts = fork_state.saved;

	fork_state.saved = NULL;
	PyEval_RestoreThread(ts);
}

int tp_fork_hooks_install(void)
{
	static bool done;
	int r;

	if (done)
		return 0;
	r = pthread_atfork(fork_prepare, fork_parent, fork_child);
	if (r) {
		errno = r;
		PyErr_SetFromErrno(PyExc_OSError);
		return -1;
	}
	done = true;
	return 0;
}

/* ---- the module --------------------------------------------------------- */

static PyObject *new_exc(PyObject *m, const char *name, PyObject *base, const char *doc)
{
	char full[64];
	PyObject *e;

	snprintf(full, sizeof(full), "tend.%s", name);
	e = PyErr_NewExceptionWithDoc(full, doc, base, NULL);
	if (!e)
		return NULL;
	if (PyModule_AddObjectRef(m, name, e) < 0) {
		Py_DECREF(e);
		return NULL;
	}
	return e;
}

static PyObject *borrow_attr(const char *module, const char *attr)
{
	PyObject *mod = PyImport_ImportModule(module), *a;

	if (!mod)
		return NULL;
	a = PyObject_GetAttrString(mod, attr);
	Py_DECREF(mod);
	return a;
}

static struct PyModuleDef tend_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "tend._tend",
	.m_doc = "libtend's shared-memory IPC for Python (the C core of the tend package).",
	.m_size = -1,
};

PyMODINIT_FUNC PyInit__tend(void);

PyMODINIT_FUNC PyInit__tend(void)
{
	PyObject *m = PyModule_Create(&tend_module);

	if (!m)
		return NULL;
	if (!(tp_dumps = borrow_attr("pickle", "dumps")) || !(tp_loads = borrow_attr("pickle", "loads")))
		goto out_fail;
	if (!(tp_protocol = PyLong_FromLong(5)))
		goto out_fail;
	if (!(tp_exc_full = borrow_attr("queue", "Full")) || !(tp_exc_empty = borrow_attr("queue", "Empty")) ||
	    !(tp_exc_timeout = borrow_attr("multiprocessing", "TimeoutError")))
		goto out_fail;
	if (!(tp_exc_shutdown = new_exc(m, "ShutDown", PyExc_Exception,
					"The queue was shut down (Queue.shutdown()) and, for get, is empty.")))
		goto out_fail;
	if (!(tp_exc_worker_died =
		      new_exc(m, "WorkerDied", PyExc_OSError,
			      "The pool worker that ran this task died (killed, crashed or exited) before it "
			      "returned the result; the task may have run in part or in full.  errno EOWNERDEAD.")))
		goto out_fail;
	if (!(tp_exc_init_failed = new_exc(m, "InitializerFailed", PyExc_ChildProcessError,
					   "Three pool workers in a row died in the initializer (or fork failed): "
					   "the task never ran.  errno ECHILD.")))
		goto out_fail;
	if (!(tp_exc_cancelled = new_exc(m, "TaskCancelled", PyExc_OSError,
					 "Pool.terminate() ended the pool before the task finished.  errno "
					 "ECANCELED.")))
		goto out_fail;
	if (PyModule_AddIntConstant(m, "FOREVER", -1) < 0)
		goto out_fail;
	if (tp_queue_init(m) < 0 || tp_shm_init(m) < 0 || tp_counter_init(m) < 0 || tp_pool_init(m) < 0 ||
	    tp_map_init(m) < 0)
		goto out_fail;
	if (tp_fork_hooks_install() < 0)
		goto out_fail;
	return m;

out_fail:
	Py_DECREF(m);
	return NULL;
}
