/*
 * tend.Map: a dict-like map in shared memory over libtend's tend_map, for
 * the workers of a service (sessions, feature flags, caches, counters).
 *
 * Keys: str (stored as UTF-8) or bytes, 1..250 bytes; "a" and b"a" are the
 * same key.  Values, as stored (so that C programs can share a map):
 *   - an int in -2**63..2**63-1: 8 bytes, signed, host byte order: the
 *     format of tend_map_incr, so m[k] = 0; m.incr(k) works;
 *   - bytes: 0x00 then the bytes (a 7-byte bytes object, which would make
 *     8 bytes, is 0x01, the bytes, then one pad byte);
 *   - anything else: its pickle (protocol 5, starts with 0x80; one pad
 *     byte after a pickle of 8 bytes, which pickle.loads ignores).
 * A stored value of 8 bytes is always an int; any other value that does not
 * start with 0x00, 0x01 or 0x80 is refused with ValueError.
 *
 * Every call holds the GIL: a read takes no lock at all (tend_map's
 * seqlocks) and a write holds a stripe lock for a few hundred ns, so
 * releasing the GIL would cost more than it lets others do.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "tend/map.h"
#ifdef TENDPY_LIBTEND_INTERNALS /* built with libtend's sources (make, setup.py in the repository) */
#include "lib/map-internal.h"
#endif
#include "tendpy.h"

#define TAG_BYTES 0x00
#define TAG_BYTES_PAD 0x01
#define TAG_PICKLE 0x80
#define SMALL 2048 /* values up to this size go through the stack */

#define DEFAULT_SIZE 1024
#define DEFAULT_MAX_VALUE 4096

typedef struct {
	PyObject_HEAD
	tend_map *m;
	PyObject *name; /* "/x", or NULL: anonymous */
	size_t max_value;
} MapObject;

static PyTypeObject Map_Type;

static PyObject *map_raise(MapObject *self, int r, const char *op)
{
	return tp_raise(r, &tp_kind_map, self->name, op);
}

/* ---- keys and values ---------------------------------------------------- */

/* The bytes of key k: *ret points into k (kept alive by the caller). */
static int key_arg(PyObject *k, const char **ret, size_t *ret_len)
{
	Py_ssize_t n;

	if (PyUnicode_Check(k)) {
		*ret = PyUnicode_AsUTF8AndSize(k, &n);
		if (!*ret)
			return -1;
	} else if (PyBytes_Check(k)) {
		*ret = PyBytes_AS_STRING(k);
		n = PyBytes_GET_SIZE(k);
	} else {
		PyErr_Format(PyExc_TypeError, "tend.Map keys are str or bytes, not %.100s", Py_TYPE(k)->tp_name);
		return -1;
	}
	if (n < 1 || (size_t)n > TEND_MAP_KEY_MAX) {
		PyErr_Format(PyExc_ValueError, "tend.Map keys are 1..%u bytes long (UTF-8 for a str), not %zd",
			     TEND_MAP_KEY_MAX, n);
		return -1;
	}
	*ret_len = (size_t)n;
	return 0;
}

/* A key as returned by keys(): str when it is valid UTF-8, else bytes. */
static PyObject *key_obj(const char *k, size_t n)
{
	PyObject *o = PyUnicode_DecodeUTF8(k, (Py_ssize_t)n, NULL);

	if (o || !PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
		return o;
	PyErr_Clear();
	return PyBytes_FromStringAndSize(k, (Py_ssize_t)n);
}

/* What encode() made: msg/len, backed by small, *heap (PyMem) or *keep. */
struct enc {
	const char *msg;
	size_t len;
	void *heap;
	PyObject *keep;
};

static void enc_done(struct enc *e)
{
	PyMem_Free(e->heap);
	Py_XDECREF(e->keep);
}

static int too_big(MapObject *self, PyObject *obj, size_t n)
{
	PyErr_Format(PyExc_ValueError,
		     "tend.Map %R: a %.100s value needs %zu bytes, more than the map's max_value of %zu; "
		     "create the map with a larger max_value=",
		     self->name ? self->name : Py_None, Py_TYPE(obj)->tp_name, n, self->max_value);
	return -1;
}

/* Two pieces (a, na then b, nb) as one message in small or on the heap. */
static int enc_join(struct enc *e, char *small, const void *a, size_t na, const void *b, size_t nb, size_t pad)
{
	size_t n = na + nb + pad;
	char *p = small;

	if (n > SMALL) {
		p = e->heap = PyMem_Malloc(n);
		if (!p) {
			PyErr_NoMemory();
			return -1;
		}
	}
	memcpy(p, a, na);
	if (nb)
		memcpy(p + na, b, nb);
	if (pad)
		memset(p + na + nb, 0, pad);
	e->msg = p;
	e->len = n;
	return 0;
}

static int encode(MapObject *self, PyObject *obj, char *small, struct enc *e)
{
	e->heap = NULL;
	e->keep = NULL;
	if (PyLong_CheckExact(obj)) {
		int overflow;
		long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);

		if (v == -1 && PyErr_Occurred())
			return -1;
		if (!overflow) {
			int64_t w = v;

			memcpy(small, &w, 8);
			e->msg = small;
			e->len = 8;
			return 0;
		}
	} else if (PyBytes_CheckExact(obj)) {
		size_t n = (size_t)PyBytes_GET_SIZE(obj);
		unsigned char tag = n == 7 ? TAG_BYTES_PAD : TAG_BYTES;

		if (n + 1 + (n == 7) > self->max_value)
			return too_big(self, obj, n + 1);
		return enc_join(e, small, &tag, 1, PyBytes_AS_STRING(obj), n, n == 7);
	}
	e->keep = tp_pickle(obj);
	if (!e->keep)
		return -1;
	e->msg = PyBytes_AS_STRING(e->keep);
	e->len = (size_t)PyBytes_GET_SIZE(e->keep);
	if (e->len > self->max_value) {
		int r = too_big(self, obj, e->len);

		Py_CLEAR(e->keep);
		return r;
	}
	if (e->len == 8) /* never made by CPython's pickler, but would read as an int */
		return enc_join(e, small, e->msg, 8, NULL, 0, 1);
	return 0;
}

static PyObject *decode(MapObject *self, const char *v, size_t n)
{
	if (n == 8) {
		int64_t w;

		memcpy(&w, v, 8);
		return PyLong_FromLongLong(w);
	}
	if (n >= 1 && (unsigned char)v[0] == TAG_BYTES)
		return PyBytes_FromStringAndSize(v + 1, (Py_ssize_t)n - 1);
	if (n >= 2 && (unsigned char)v[0] == TAG_BYTES_PAD)
		return PyBytes_FromStringAndSize(v + 1, (Py_ssize_t)n - 2);
	if (n >= 1 && (unsigned char)v[0] == TAG_PICKLE) {
		/* pickle.loads of a bytes is ~90 ns faster than of a memoryview
		 * (the buffer protocol); the copy costs less for small values */
		PyObject *b, *o;

		if (n > SMALL)
			return tp_unpickle(v, n);
		b = PyBytes_FromStringAndSize(v, (Py_ssize_t)n);
		if (!b)
			return NULL;
		o = PyObject_CallOneArg(tp_loads, b);
		Py_DECREF(b);
		return o;
	}
	PyErr_Format(PyExc_ValueError,
		     "tend.Map %R: a value of %zu bytes that tend.Map did not write (it starts with neither 0x00, "
		     "0x01 nor 0x80 and is not an 8-byte integer); read it with get_raw()",
		     self->name ? self->name : Py_None, n);
	return NULL;
}

/* ttl= in seconds (None or 0: never) into milliseconds. */
static int ttl_arg(PyObject *ttl, int64_t *ret_ms)
{
	double t;

	*ret_ms = 0;
	if (!ttl || ttl == Py_None)
		return 0;
	t = PyFloat_AsDouble(ttl);
	if (t == -1.0 && PyErr_Occurred())
		return -1;
	if (isnan(t) || t < 0) {
		PyErr_SetString(PyExc_ValueError, "ttl must be a non-negative number of seconds (0 or None: never)");
		return -1;
	}
	if (t > 9e15 / 1000)
		t = 9e15 / 1000;
	*ret_ms = (int64_t)ceil(t * 1000);
	return 0;
}

/*
 * Read key: 0 with *ret (a new reference) and *ret_ver, 1 when absent, -1
 * with an exception.  raw: the stored bytes, undecoded.
 */
static int map_read(MapObject *self, const char *k, size_t kl, bool raw, PyObject **ret, uint64_t *ret_ver)
{
	char small[SMALL];
	char *heap = NULL, *buf = small;
	uint64_t ver = 0;
	int r;

	r = tend_map_get(self->m, k, kl, small, sizeof(small), &ver);
	if (r == -EMSGSIZE) {
		buf = heap = PyMem_Malloc(self->max_value);
		if (!heap) {
			PyErr_NoMemory();
			return -1;
		}
		r = tend_map_get(self->m, k, kl, heap, self->max_value, &ver);
	}
	if (r == -ENOENT) {
		PyMem_Free(heap);
		return 1;
	}
	if (r < 0) {
		PyMem_Free(heap);
		map_raise(self, r, "get");
		return -1;
	}
	*ret = raw ? PyBytes_FromStringAndSize(buf, r) : decode(self, buf, (size_t)r);
	PyMem_Free(heap);
	if (!*ret)
		return -1;
	if (ret_ver)
		*ret_ver = ver;
	return 0;
}

enum { W_SET, W_ADD, W_CAS };

/* Store value under key: the libtend result (0 or -errno), or -1000 with an
 * exception set (encoding failed). */
static int map_write(MapObject *self, int kind, const char *k, size_t kl, PyObject *value, int64_t ttl_ms,
		     uint64_t cas_version)
{
	char small[SMALL];
	struct enc e;
	int r;

	if (encode(self, value, small, &e) < 0)
		return -1000;
	switch (kind) {
	case W_ADD:
		r = tend_map_add(self->m, k, kl, e.msg, e.len, ttl_ms, NULL);
		break;
	case W_CAS:
		r = tend_map_cas(self->m, k, kl, e.msg, e.len, ttl_ms, cas_version, NULL);
		break;
	default:
		r = tend_map_set(self->m, k, kl, e.msg, e.len, ttl_ms, NULL);
	}
	enc_done(&e);
	return r;
}

static PyObject *write_error(MapObject *self, int r, const char *op)
{
	if (r == -1000)
		return NULL;
	return map_raise(self, r, op);
}

/* ---- the mapping protocol ----------------------------------------------- */

static PyObject *Map_subscript(MapObject *self, PyObject *key)
{
	const char *k;
	size_t kl;
	PyObject *v;
	int r;

	if (key_arg(key, &k, &kl) < 0)
		return NULL;
	r = map_read(self, k, kl, false, &v, NULL);
	if (r == 1) {
		PyErr_SetObject(PyExc_KeyError, key);
		return NULL;
	}
	return r < 0 ? NULL : v;
}

static int Map_ass_subscript(MapObject *self, PyObject *key, PyObject *value)
{
	const char *k;
	size_t kl;
	int r;

	if (key_arg(key, &k, &kl) < 0)
		return -1;
	if (!value) {
		r = tend_map_delete(self->m, k, kl);
		if (r == -ENOENT) {
			PyErr_SetObject(PyExc_KeyError, key);
			return -1;
		}
		if (r < 0) {
			map_raise(self, r, "delete");
			return -1;
		}
		return 0;
	}
	r = map_write(self, W_SET, k, kl, value, 0, 0);
	if (r < 0) {
		write_error(self, r, "set");
		return -1;
	}
	return 0;
}

static int Map_contains(MapObject *self, PyObject *key)
{
	const char *k;
	size_t kl;
	int r;

	if (key_arg(key, &k, &kl) < 0)
		return -1;
	r = tend_map_get(self->m, k, kl, NULL, 0, NULL);
	if (r == -ENOENT)
		return 0;
	if (r >= 0 || r == -EMSGSIZE)
		return 1;
	map_raise(self, r, "get");
	return -1;
}

static Py_ssize_t Map_length(MapObject *self)
{
	struct tend_map_stats st;
	int r = tend_map_sweep(self->m);

	if (r >= 0)
		r = tend_map_stats(self->m, &st);
	if (r < 0) {
		map_raise(self, r, "count");
		return -1;
	}
	return (Py_ssize_t)st.items;
}

/* ---- methods ------------------------------------------------------------ */

static PyObject *Map_get(MapObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	const char *k;
	size_t kl;
	PyObject *v;
	int r;

	if (nargs < 1 || nargs > 2) {
		PyErr_SetString(PyExc_TypeError, "get(key, default=None)");
		return NULL;
	}
	if (key_arg(args[0], &k, &kl) < 0)
		return NULL;
	r = map_read(self, k, kl, false, &v, NULL);
	if (r == 1)
		return Py_NewRef(nargs == 2 ? args[1] : Py_None);
	return r < 0 ? NULL : v;
}

static PyObject *Map_get_raw(MapObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	const char *k;
	size_t kl;
	PyObject *v;
	int r;

	if (nargs < 1 || nargs > 2) {
		PyErr_SetString(PyExc_TypeError, "get_raw(key, default=None)");
		return NULL;
	}
	if (key_arg(args[0], &k, &kl) < 0)
		return NULL;
	r = map_read(self, k, kl, true, &v, NULL);
	if (r == 1)
		return Py_NewRef(nargs == 2 ? args[1] : Py_None);
	return r < 0 ? NULL : v;
}

static PyObject *Map_set(MapObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = {"key", "value", "ttl"};
	PyObject *a[3];
	const char *k;
	size_t kl;
	int64_t ttl;
	int r;

	if (tp_args("set", args, nargs, kwnames, names, 3, 3, 2, a) < 0 || key_arg(a[0], &k, &kl) < 0 ||
	    ttl_arg(a[2], &ttl) < 0)
		return NULL;
	r = map_write(self, W_SET, k, kl, a[1], ttl, 0);
	if (r < 0)
		return write_error(self, r, "set");
	Py_RETURN_NONE;
}

static PyObject *Map_set_raw(MapObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = {"key", "data", "ttl"};
	PyObject *a[3];
	Py_buffer view;
	const char *k;
	size_t kl;
	int64_t ttl;
	int r;

	if (tp_args("set_raw", args, nargs, kwnames, names, 3, 3, 2, a) < 0 || key_arg(a[0], &k, &kl) < 0 ||
	    ttl_arg(a[2], &ttl) < 0)
		return NULL;
	if (PyObject_GetBuffer(a[1], &view, PyBUF_SIMPLE) < 0)
		return NULL;
	if ((size_t)view.len > self->max_value) {
		too_big(self, a[1], (size_t)view.len);
		PyBuffer_Release(&view);
		return NULL;
	}
	r = tend_map_set(self->m, k, kl, view.buf, (size_t)view.len, ttl, NULL);
	PyBuffer_Release(&view);
	if (r < 0)
		return map_raise(self, r, "set");
	Py_RETURN_NONE;
}

static PyObject *Map_add(MapObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = {"key", "value", "ttl"};
	PyObject *a[3];
	const char *k;
	size_t kl;
	int64_t ttl;
	int r;

	if (tp_args("add", args, nargs, kwnames, names, 3, 3, 2, a) < 0 || key_arg(a[0], &k, &kl) < 0 ||
	    ttl_arg(a[2], &ttl) < 0)
		return NULL;
	r = map_write(self, W_ADD, k, kl, a[1], ttl, 0);
	if (r == -EEXIST)
		Py_RETURN_FALSE;
	if (r < 0)
		return write_error(self, r, "add");
	Py_RETURN_TRUE;
}

static PyObject *Map_setdefault(MapObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = {"key", "default", "ttl"};
	PyObject *a[3], *dflt, *v;
	const char *k;
	size_t kl;
	int64_t ttl;
	int r;

	if (tp_args("setdefault", args, nargs, kwnames, names, 3, 2, 1, a) < 0 || key_arg(a[0], &k, &kl) < 0 ||
	    ttl_arg(a[2], &ttl) < 0)
		return NULL;
	dflt = a[1] ? a[1] : Py_None;
	for (;;) {
		r = map_read(self, k, kl, false, &v, NULL);
		if (r <= 0)
			return r < 0 ? NULL : v;
		r = map_write(self, W_ADD, k, kl, dflt, ttl, 0);
		if (r == 0)
			return Py_NewRef(dflt);
		if (r != -EEXIST) /* else another process added it: read it */
			return write_error(self, r, "add");
	}
}

static PyObject *Map_pop(MapObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	const char *k;
	size_t kl;
	PyObject *v;
	uint64_t ver;
	int r;

	if (nargs < 1 || nargs > 2) {
		PyErr_SetString(PyExc_TypeError, "pop(key[, default])");
		return NULL;
	}
	if (key_arg(args[0], &k, &kl) < 0)
		return NULL;
	for (;;) {
		r = map_read(self, k, kl, false, &v, &ver);
		if (r < 0)
			return NULL;
		if (r == 1) {
			if (nargs == 2)
				return Py_NewRef(args[1]);
			PyErr_SetObject(PyExc_KeyError, args[0]);
			return NULL;
		}
		/* removed only if nobody wrote it since: exactly one pop wins */
		r = tend_map_delete_cas(self->m, k, kl, ver);
		if (r == 0)
			return v;
		Py_DECREF(v);
		if (r != -ESTALE && r != -ENOENT)
			return map_raise(self, r, "delete");
	}
}

static PyObject *Map_incr(MapObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = {"key", "delta", "ttl"};
	PyObject *a[3];
	const char *k;
	size_t kl;
	long long d = 1;
	int64_t ttl, w;
	uint64_t nv;
	int r;

	if (tp_args("incr", args, nargs, kwnames, names, 3, 2, 1, a) < 0 || key_arg(a[0], &k, &kl) < 0 ||
	    ttl_arg(a[2], &ttl) < 0)
		return NULL;
	if (a[1]) {
		d = PyLong_AsLongLong(a[1]);
		if (d == -1 && PyErr_Occurred())
			return NULL;
	}
	for (;;) {
		r = tend_map_incr(self->m, k, kl, (int64_t)d, &nv);
		if (r == 0) {
			w = (int64_t)nv;
			return PyLong_FromLongLong(w);
		}
		if (r == -EDOM) {
			PyErr_Format(PyExc_TypeError, "tend.Map %R: incr(%R): the value is not an integer",
				     self->name ? self->name : Py_None, a[0]);
			return NULL;
		}
		if (r != -ENOENT)
			return map_raise(self, r, "incr");
		/* absent: it starts from 0 (created with delta and ttl) */
		w = d;
		r = tend_map_add(self->m, k, kl, &w, 8, ttl, NULL);
		if (r == 0)
			return PyLong_FromLongLong(w);
		if (r != -EEXIST)
			return map_raise(self, r, "incr");
	}
}

static PyObject *Map_cas(MapObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = {"key", "expected", "new", "ttl"};
	PyObject *a[4], *cur;
	const char *k;
	size_t kl;
	int64_t ttl;
	uint64_t ver;
	int r, eq;

	if (tp_args("cas", args, nargs, kwnames, names, 4, 4, 3, a) < 0 || key_arg(a[0], &k, &kl) < 0 ||
	    ttl_arg(a[3], &ttl) < 0)
		return NULL;
	for (;;) {
		r = map_read(self, k, kl, false, &cur, &ver);
		if (r < 0)
			return NULL;
		if (r == 1)
			Py_RETURN_FALSE;
		eq = PyObject_RichCompareBool(cur, a[1], Py_EQ);
		Py_DECREF(cur);
		if (eq < 0)
			return NULL;
		if (!eq)
			Py_RETURN_FALSE;
		r = map_write(self, W_CAS, k, kl, a[2], ttl, ver);
		if (r == 0)
			Py_RETURN_TRUE;
		if (r == -ENOENT)
			Py_RETURN_FALSE;
		if (r != -ESTALE) /* written meanwhile: compare again */
			return write_error(self, r, "cas");
	}
}

/* Every key (kind 0), value (1) or (key, value) (2), in the map's order. */
static PyObject *walk(MapObject *self, int kind)
{
	char key[TEND_MAP_KEY_MAX];
	uint64_t cursor = 0;
	size_t kl;
	PyObject *list = PyList_New(0), *ko = NULL, *v = NULL, *item;
	int r;

	if (!list)
		return NULL;
	while ((r = tend_map_next(self->m, &cursor, key, sizeof(key), &kl)) == 1) {
		if (kind != 1 && !(ko = key_obj(key, kl)))
			goto out_fail;
		if (kind != 0) {
			r = map_read(self, key, kl, false, &v, NULL);
			if (r < 0)
				goto out_fail;
			if (r == 1) { /* removed since the walk saw it */
				Py_CLEAR(ko);
				continue;
			}
		}
		item = kind == 0 ? ko : kind == 1 ? v : PyTuple_Pack(2, ko, v);
		if (kind == 2) {
			Py_CLEAR(ko);
			Py_CLEAR(v);
		}
		ko = v = NULL;
		if (!item)
			goto out_fail;
		r = PyList_Append(list, item);
		Py_DECREF(item);
		if (r < 0)
			goto out_fail;
	}
	if (r < 0) {
		map_raise(self, r, "walk");
		goto out_fail;
	}
	return list;

out_fail:
	Py_XDECREF(ko);
	Py_XDECREF(v);
	Py_DECREF(list);
	return NULL;
}

static PyObject *Map_keys(MapObject *self, PyObject *Py_UNUSED(ignored))
{
	return walk(self, 0);
}

static PyObject *Map_values(MapObject *self, PyObject *Py_UNUSED(ignored))
{
	return walk(self, 1);
}

static PyObject *Map_items(MapObject *self, PyObject *Py_UNUSED(ignored))
{
	return walk(self, 2);
}

static PyObject *Map_iter(MapObject *self)
{
	PyObject *keys = walk(self, 0), *it;

	if (!keys)
		return NULL;
	it = PyObject_GetIter(keys);
	Py_DECREF(keys);
	return it;
}

static PyObject *Map_clear(MapObject *self, PyObject *Py_UNUSED(ignored))
{
	char key[TEND_MAP_KEY_MAX];
	uint64_t cursor = 0;
	size_t kl;
	int r;

	while ((r = tend_map_next(self->m, &cursor, key, sizeof(key), &kl)) == 1) {
		r = tend_map_delete(self->m, key, kl);
		if (r < 0 && r != -ENOENT)
			return map_raise(self, r, "delete");
	}
	if (r < 0)
		return map_raise(self, r, "walk");
	Py_RETURN_NONE;
}

static PyObject *Map_sweep(MapObject *self, PyObject *Py_UNUSED(ignored))
{
	int r = tend_map_sweep(self->m);

	return r < 0 ? map_raise(self, r, "sweep") : PyLong_FromLong(r);
}

static PyObject *Map_stats(MapObject *self, PyObject *Py_UNUSED(ignored))
{
	struct tend_map_stats st;
	int r = tend_map_stats(self->m, &st);

	if (r < 0)
		return map_raise(self, r, "read stats");
	return Py_BuildValue("{sKsKsKsKsKsKsKsKsKsKsK}", "items", (unsigned long long)st.items, "bytes",
			     (unsigned long long)st.bytes, "mem_used", (unsigned long long)st.mem_used, "mem_total",
			     (unsigned long long)st.mem_total, "capacity", (unsigned long long)st.capacity, "hits",
			     (unsigned long long)st.hits, "misses", (unsigned long long)st.misses, "evictions",
			     (unsigned long long)st.evictions, "expirations", (unsigned long long)st.expirations,
			     "index_bytes", (unsigned long long)st.index_bytes, "read_retries",
			     (unsigned long long)st.read_retries);
}

#ifdef TENDPY_LIBTEND_INTERNALS
static PyObject *Map_check(MapObject *self, PyObject *Py_UNUSED(ignored))
{
	char why[256];
	int r = tend__map_check(self->m, why, sizeof(why));

	if (r == -EBADMSG) {
		PyErr_Format(PyExc_AssertionError, "tend.Map %R inconsistent: %s", self->name ? self->name : Py_None,
			     why);
		return NULL;
	}
	return r < 0 ? map_raise(self, r, "check") : Py_NewRef(Py_None);
}
#endif

static PyObject *Map_unlink(MapObject *self, PyObject *Py_UNUSED(ignored))
{
	return tp_unlink(&tp_kind_map, self->name, tend_map_unlink);
}

static PyObject *Map_reduce(MapObject *self, PyObject *Py_UNUSED(ignored))
{
	if (!self->name)
		return tp_anonymous_pickle_error(&tp_kind_map);
	return Py_BuildValue("(N(O))", PyObject_GetAttrString((PyObject *)Py_TYPE(self), "open"), self->name);
}

static PyObject *Map_open(PyObject *cls, PyObject *name)
{
	return tp_open_by_name(cls, name);
}

static PyObject *Map_from_env(PyObject *cls, PyObject *map)
{
	PyObject *os, *environ, *var, *name, *o = NULL;

	if (!PyUnicode_Check(map)) {
		PyErr_SetString(PyExc_TypeError, "from_env(name): name is a str, the map's name in tend's maps=");
		return NULL;
	}
	var = PyObject_CallMethod(map, "upper", NULL);
	if (!var)
		return NULL;
	Py_SETREF(var, PyUnicode_FromFormat("TEND_MAP_%U", var));
	if (!var)
		return NULL;
	os = PyImport_ImportModule("os");
	if (!os)
		goto out_var;
	environ = PyObject_GetAttrString(os, "environ");
	Py_DECREF(os);
	if (!environ)
		goto out_var;
	name = PyObject_CallMethod(environ, "get", "O", var);
	Py_DECREF(environ);
	if (!name)
		goto out_var;
	if (name == Py_None)
		PyErr_Format(PyExc_KeyError,
			     "%U is not set: run under tend with maps = %U:SIZE in the program's section (tend "
			     "creates the map and passes its name in %U)",
			     var, map, var);
	else
		o = tp_open_by_name(cls, name);
	Py_DECREF(name);
out_var:
	Py_DECREF(var);
	return o;
}

/* ---- the object --------------------------------------------------------- */

static PyObject *Map_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	static char *kw[] = {"name", "size", "max_value", "mem_bytes", "evict", "create", "mode", NULL};
	Py_ssize_t size = DEFAULT_SIZE, max_value = DEFAULT_MAX_VALUE, mem = 0;
	int evict = 1, create = 1, mode = 0600, r, tries = 0;
	PyObject *name_arg = Py_None, *name = NULL;
	const char *cname = NULL;
	MapObject *self;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|On$nnppi:Map", kw, &name_arg, &size, &max_value, &mem, &evict,
					 &create, &mode))
		return NULL;
	if (tp_name_arg(name_arg, &name) < 0)
		return NULL;
	if (!create && !name) {
		PyErr_SetString(PyExc_ValueError, "create=False opens an existing map: give its name");
		goto out_name;
	}
	if (size < 1 || (size_t)size > TEND_MAP_CAPACITY_MAX || max_value < 9 ||
	    (size_t)max_value > TEND_MAP_VALUE_MAX || mem < 0 || (uint64_t)mem > TEND_MAP_MEM_MAX) {
		PyErr_Format(PyExc_ValueError,
			     "size (items) must be in 1..%u, max_value (bytes) in 9..%u and mem_bytes in 0..%llu",
			     TEND_MAP_CAPACITY_MAX, TEND_MAP_VALUE_MAX, (unsigned long long)TEND_MAP_MEM_MAX);
		goto out_name;
	}
	if (name && !(cname = PyUnicode_AsUTF8(name)))
		goto out_name;
	self = (MapObject *)type->tp_alloc(type, 0);
	if (!self)
		goto out_name;
	if (create) {
		r = tend_map_create(&self->m, cname, (size_t)size, (size_t)max_value, (size_t)mem,
				    evict ? 0 : TEND_MAP_NOEVICT, (unsigned)mode);
	} else {
		do
			r = tend_map_open(&self->m, cname);
		while (tp_open_again(r, &tries));
	}
	if (r < 0) {
		tp_raise(r, &tp_kind_map, name, create ? "create" : "open");
		Py_DECREF(self);
		goto out_name;
	}
	self->name = name;
	self->max_value = tend_map_max_value(self->m);
	return (PyObject *)self;

out_name:
	Py_XDECREF(name);
	return NULL;
}

static void Map_dealloc(MapObject *self)
{
	tend_map_free(self->m);
	Py_XDECREF(self->name);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Map_repr(MapObject *self)
{
	return PyUnicode_FromFormat("<tend.Map %R size=%zu max_value=%zu>", self->name ? self->name : Py_None,
				    tend_map_capacity(self->m), self->max_value);
}

static PyObject *Map_get_name(MapObject *self, void *Py_UNUSED(c))
{
	return tp_name_or_none(self->name);
}

static PyObject *Map_get_size(MapObject *self, void *Py_UNUSED(c))
{
	return PyLong_FromSize_t(tend_map_capacity(self->m));
}

static PyObject *Map_get_max_value(MapObject *self, void *Py_UNUSED(c))
{
	return PyLong_FromSize_t(self->max_value);
}

static PyObject *Map_get_mem_bytes(MapObject *self, void *Py_UNUSED(c))
{
	return PyLong_FromSize_t(tend_map_mem_bytes(self->m));
}

static PyObject *Map_get_evict(MapObject *self, void *Py_UNUSED(c))
{
	return PyBool_FromLong(!(tend_map_flags(self->m) & TEND_MAP_NOEVICT));
}

static PyMappingMethods Map_as_mapping = {
	.mp_length = (lenfunc)Map_length,
	.mp_subscript = (binaryfunc)Map_subscript,
	.mp_ass_subscript = (objobjargproc)Map_ass_subscript,
};

static PySequenceMethods Map_as_sequence = {
	.sq_contains = (objobjproc)Map_contains,
};

#define FAST(f) (PyCFunction)(void (*)(void))(f)

static PyMethodDef Map_methods[] = {
	{"get", FAST(Map_get), METH_FASTCALL, "get(key, default=None): the value, or default when absent."},
	{"set", FAST(Map_set), METH_FASTCALL | METH_KEYWORDS,
	 "set(key, value, ttl=None): store; ttl in seconds (None or 0: never expires)."},
	{"add", FAST(Map_add), METH_FASTCALL | METH_KEYWORDS,
	 "add(key, value, ttl=None): store only if absent; True if stored, False if the key was present."},
	{"setdefault", FAST(Map_setdefault), METH_FASTCALL | METH_KEYWORDS,
	 "setdefault(key, default=None, ttl=None): the value; if absent, store default (atomically: one "
	 "process wins) and return it."},
	{"pop", FAST(Map_pop), METH_FASTCALL,
	 "pop(key[, default]): remove and return the value (atomic: of racing pops one gets it); KeyError or "
	 "default when absent."},
	{"incr", FAST(Map_incr), METH_FASTCALL | METH_KEYWORDS,
	 "incr(key, delta=1, ttl=None): add delta to the integer value atomically and return the new value; an "
	 "absent key counts from 0 (created with ttl); wraps at 64 bits; TypeError if the value is not an int."},
	{"cas", FAST(Map_cas), METH_FASTCALL | METH_KEYWORDS,
	 "cas(key, expected, new, ttl=None): store new only if the value == expected now; True if stored, "
	 "False if it differs or is absent."},
	{"keys", (PyCFunction)Map_keys, METH_NOARGS,
	 "A list of the keys (str when valid UTF-8, else bytes), for admin use: walks the whole index."},
	{"values", (PyCFunction)Map_values, METH_NOARGS, "A list of the values (walks the whole index)."},
	{"items", (PyCFunction)Map_items, METH_NOARGS, "A list of (key, value) (walks the whole index)."},
	{"clear", (PyCFunction)Map_clear, METH_NOARGS, "Remove every key (one delete per key)."},
	{"get_raw", FAST(Map_get_raw), METH_FASTCALL, "get_raw(key, default=None): the stored bytes, undecoded."},
	{"set_raw", FAST(Map_set_raw), METH_FASTCALL | METH_KEYWORDS,
	 "set_raw(key, data, ttl=None): store the bytes of data as they are (for C programs)."},
	{"sweep", (PyCFunction)Map_sweep, METH_NOARGS, "Reclaim expired items now; returns how many."},
	{"stats", (PyCFunction)Map_stats, METH_NOARGS, "The map's counters (tend_map_stats) as a dict."},
#ifdef TENDPY_LIBTEND_INTERNALS
	{"_check", (PyCFunction)Map_check, METH_NOARGS,
	 "Check the whole map's consistency under every stripe lock (tests); AssertionError if broken."},
#endif
	{"unlink", (PyCFunction)Map_unlink, METH_NOARGS, "Remove the name; open handles keep working."},
	{"open", (PyCFunction)Map_open, METH_O | METH_CLASS, "Map.open(name): open an existing map."},
	{"from_env", (PyCFunction)Map_from_env, METH_O | METH_CLASS,
	 "Map.from_env('sessions'): open the map tend made for maps = sessions:SIZE, named in "
	 "$TEND_MAP_SESSIONS."},
	{"__reduce__", (PyCFunction)Map_reduce, METH_NOARGS, "Pickled by name (anonymous maps refuse)."},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef Map_getset[] = {
	{"name", (getter)Map_get_name, NULL, "The name, or None (anonymous).", NULL},
	{"size", (getter)Map_get_size, NULL, "Items the index is sized for.", NULL},
	{"max_value", (getter)Map_get_max_value, NULL, "The largest stored value in bytes.", NULL},
	{"mem_bytes", (getter)Map_get_mem_bytes, NULL, "Bytes of the value arena.", NULL},
	{"evict", (getter)Map_get_evict, NULL, "False: a full map refuses writes (OSError ENOSPC).", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject Map_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "tend.Map",
	.tp_basicsize = sizeof(MapObject),
	.tp_dealloc = (destructor)Map_dealloc,
	.tp_repr = (reprfunc)Map_repr,
	.tp_as_mapping = &Map_as_mapping,
	.tp_as_sequence = &Map_as_sequence,
	.tp_iter = (getiterfunc)Map_iter,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Map(name=None, size=1024, *, max_value=4096, mem_bytes=0, evict=True, create=True, mode=0o600)\n\n"
		  "A dict in shared memory (libtend's tend_map): str/bytes keys of 1..250 bytes, values pickled\n"
		  "(bytes and 64-bit ints stored as they are), up to max_value bytes each.  size: items the index\n"
		  "is sized for; mem_bytes: the value arena (0: size * 128, at least 1 MiB).  A full map evicts\n"
		  "items not read recently, or with evict=False refuses writes (OSError ENOSPC).",
	.tp_methods = Map_methods,
	.tp_getset = Map_getset,
	.tp_new = Map_new,
};

int tp_map_init(PyObject *m)
{
	if (PyType_Ready(&Map_Type) < 0)
		return -1;
	return PyModule_AddObjectRef(m, "Map", (PyObject *)&Map_Type);
}
