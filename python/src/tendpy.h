/*
 * tend._tend: the CPython extension over libtend (internal header).
 *
 * One module, one file per type family: queue.c (Queue), shm.c (Value,
 * Array, Lock, RLock), counter.c (Counter), map.c (Map), pool.c (the pool
 * core and its tasks).  module.c holds what they share: errno -> exception mapping,
 * timeouts, pickling, the fork protocol for pool workers and the named-object
 * plumbing (names, pickling by name).  A new shared-memory type is one more
 * file with a tp_kind row and a PyTypeObject registered in module.c's init.
 */
#ifndef TENDPY_H
#define TENDPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>
#include <stdint.h>

#include "tend/common.h"

/* What a named-object type tells the shared code about itself. */
struct tp_kind {
	const char *type_name; /* "tend.Queue": used in messages */
	const char *what;      /* "queue": "not a tend queue" */
};

extern const struct tp_kind tp_kind_queue, tp_kind_value, tp_kind_array, tp_kind_lock, tp_kind_rlock,
	tp_kind_counter, tp_kind_map;

/* Exceptions: queue.Full, queue.Empty and multiprocessing.TimeoutError
 * (borrowed at import), and tend's own: ShutDown, WorkerDied (OSError
 * EOWNERDEAD), InitializerFailed (ChildProcessError), TaskCancelled (OSError
 * ECANCELED). */
extern PyObject *tp_exc_full, *tp_exc_empty, *tp_exc_shutdown, *tp_exc_timeout;
extern PyObject *tp_exc_worker_died, *tp_exc_init_failed, *tp_exc_cancelled;

/* pickle.dumps and pickle.loads (the C accelerator), cached at import. */
extern PyObject *tp_dumps, *tp_loads, *tp_protocol;

/*
 * Raise the Python exception for a negative errno r from an operation on the
 * object `kind` named name (a str, or NULL for an anonymous object):
 * -EBADMSG/-EPROTO (a foreign, damaged or incompatible segment) and -EINVAL
 * become ValueError naming the object, anything else OSError with the errno
 * (so FileNotFoundError, FileExistsError, PermissionError...).  Returns NULL
 * so that callers can `return tp_raise(...)`.
 */
PyObject *tp_raise(int r, const struct tp_kind *kind, PyObject *name, const char *op);

/*
 * Turn (block, timeout) in seconds into a libtend timeout in ns: not block
 * or timeout 0 -> TEND_NOWAIT, timeout None -> TEND_FOREVER, else > 0.
 * Returns 0, or -1 with ValueError/TypeError set (negative or NaN timeout).
 */
int tp_timeout_ns(int block, PyObject *timeout, int64_t *ret_ns);

/*
 * Arguments of a METH_FASTCALL|METH_KEYWORDS method: out[i] (borrowed, NULL
 * when absent) for the parameter names[i], from the positional arguments
 * first, then the keywords.  nreq parameters are required, npos may be
 * positional (the rest are keyword-only).  Returns 0, or -1 with TypeError
 * set.  Much cheaper than PyArg_ParseTupleAndKeywords on the hot paths.
 */
int tp_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
	    const char *const *names, int n, int npos, int nreq, PyObject **out);

/* CLOCK_MONOTONIC in ns.  This function can't fail. */
int64_t tp_now_ns(void);

/*
 * Normalise a name for libtend: None -> *ret = NULL (anonymous); "x" or
 * "/x" -> a new reference to "/x".  Returns 0, or -1 with an exception set.
 */
int tp_name_arg(PyObject *name, PyObject **ret);

/*
 * The error raised when an anonymous object is pickled: anonymous objects
 * live in a memfd that only fork() children inherit.  Returns NULL.
 */
PyObject *tp_anonymous_pickle_error(const struct tp_kind *kind);

/*
 * After an open that returned r: 1 when r is -EAGAIN (the creator has not
 * finished initialising the object) and the caller should try again, after
 * sleeping 2 ms with the GIL released (for at most about 2 s in all,
 * counted in *tries); else 0.
 */
int tp_open_again(int r, int *tries);

/* cls(name=name, create=False): the open(name) class method of Queue,
 * Counter, Lock and RLock.  A new reference, or NULL with an exception. */
PyObject *tp_open_by_name(PyObject *cls, PyObject *name);

/* unlink(name) for an object of kind `kind` (name NULL: anonymous, a
 * ValueError): None, or NULL with the exception of fn's -errno. */
PyObject *tp_unlink(const struct tp_kind *kind, PyObject *name, int (*fn)(const char *));

/* name, or None: a new reference.  This function can't fail. */
PyObject *tp_name_or_none(PyObject *name);

/* block= and timeout= of a get-like call (a[0], a[1], either NULL) into a
 * libtend timeout: 0, or -1 with an exception set. */
int tp_block_timeout(PyObject *block, PyObject *timeout, int64_t *ret_ns);

/* pickle.dumps(obj, protocol 5) as bytes, or NULL with an exception set. */
PyObject *tp_pickle(PyObject *obj);

/* pickle.loads over len bytes at buf (copied into a bytes first only when
 * needed), or NULL with an exception set. */
PyObject *tp_unpickle(const void *buf, size_t len);

/*
 * The fork protocol for the pool: libtend forks its workers inside
 * tend_pool_* calls.  Between tp_fork_guard_begin() and _end() (on the
 * calling thread) a fork() runs CPython's own before/after-fork steps
 * (PyOS_BeforeFork, PyOS_AfterFork_Parent/Child, and so os.register_at_fork
 * hooks), exactly as os.fork() would.  tp_fork_allow_threads() releases the
 * GIL inside a guard; a fork then takes it back for the duration of the
 * fork.  The child of such a fork holds the GIL and never returns to the
 * caller (it is a pool worker).
 */
void tp_fork_guard_begin(void);
/* Counts fork()s (any, in the child): per-handle state that names a thread
 * (a lock's holder) is stale once this has moved. */
extern unsigned tp_fork_gen;
void tp_fork_guard_end(void);
void tp_fork_allow_threads(void);
void tp_fork_end_allow_threads(void);
int tp_fork_hooks_install(void);

/* Type objects and their module registration (each file). */
/* spill.c: messages too long for a slot (see there) */
#define TP_SPILL_NAME_MAX 64
void tp_spill_name(char *out, uint64_t id, char who, long a, uint64_t seq);
/* Write the n parts into a new shm file name: 0 or -errno (nothing left). */
int tp_spill_write(const char *name, const void *const *parts, const size_t *lens, int n);
/* Read and remove a spill file: a new bytes object, or NULL with an exception set. */
PyObject *tp_spill_take(const char *name);
/* Remove every spill file of id. */
void tp_spill_sweep(uint64_t id);

int tp_queue_init(PyObject *m);
int tp_shm_init(PyObject *m);
int tp_counter_init(PyObject *m);
int tp_pool_init(PyObject *m);
int tp_map_init(PyObject *m);

#endif
