/*
 * tend.Value, tend.Array, tend.Lock, tend.RLock: multiprocessing's
 * synchronized shared values over tend_shm and its robust lock.
 *
 * Lock state per handle.  The lock word in shared memory names the thread
 * that holds it; the handle remembers, for this process, which thread holds
 * it through this handle and how many times (RLock, and a Value's or an
 * Array's own lock, which is reentrant like multiprocessing's default
 * RLock).  So `with v.get_lock(): v.value += 1` takes the lock once: the
 * accesses inside see that this thread holds it and touch memory directly.
 * Reentrancy is counted per handle object: acquire and release through the
 * same object (as `with` does).
 *
 * A holder that dies (SIGKILL included) does not block the others: the next
 * acquire takes the lock over, returns True and sets owner_died on that
 * handle; the data the dead holder was changing may be half-written.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <wchar.h>

#include "tend/shm.h"
#include "tendpy.h"

#define SLICE_NS 100000000 /* a blocked acquire checks for signals this often */

struct lockstate {
	tend_shm *s;          /* borrowed from the object that owns the segment */
	unsigned long holder; /* PyThread ident holding it through this handle */
	unsigned gen;         /* tp_fork_gen when holder was set */
	long count;           /* times held through this handle */
	bool owner_died;      /* the last acquire took it over from a dead owner */
};

typedef struct {
	PyObject_HEAD
	tend_shm *s;
	PyObject *name;
	char code;           /* typecode */
	size_t esize, n;     /* element size and count */
	bool is_array;
	bool locked;         /* lock=True */
	struct lockstate ls;
	Py_ssize_t exports;  /* buffers handed out (get_obj) */
} ShmObject;

typedef struct {
	PyObject_HEAD
	struct lockstate *ls; /* &own, or the parent's */
	struct lockstate own;
	tend_shm *s;          /* owned when parent is NULL */
	PyObject *parent;     /* the Value/Array whose lock this is, or NULL */
	PyObject *name;
	bool recursive;
} LockObject;

static PyTypeObject Value_Type, Array_Type, Lock_Type, RLock_Type;

/* ---- the lock ------------------------------------------------------------ */

static bool held_here(struct lockstate *ls)
{
	return ls->count > 0 && ls->gen == tp_fork_gen && ls->holder == PyThread_get_thread_ident();
}

/*
 * Acquire through a handle: 1 (acquired), 0 (not within the timeout), -1
 * (exception set).  recursive: a holder may acquire again (counted).
 */
static int lock_acquire(struct lockstate *ls, bool recursive, int block, int64_t timeout_ns, const struct tp_kind *k,
			PyObject *name)
{
	int64_t deadline = 0, left;
	int r;

	if (ls->count > 0 && ls->gen != tp_fork_gen)
		ls->count = 0; /* inherited over fork: the parent's thread holds it */
	if (held_here(ls)) {
		if (recursive) {
			ls->count++;
			return 1;
		}
		if (!block || timeout_ns != TEND_FOREVER)
			return 0;
		PyErr_Format(PyExc_RuntimeError,
			     "%s %R: this thread holds it already (acquiring it again would wait forever; "
			     "use tend.RLock for a reentrant lock)",
			     k->type_name, name ? name : Py_None);
		return -1;
	}
	if (!block || timeout_ns == TEND_NOWAIT) {
		r = tend_shm_timedlock(ls->s, TEND_NOWAIT);
	} else {
		if (timeout_ns > 0)
			deadline = tp_now_ns() + timeout_ns;
		for (;;) {
			left = SLICE_NS;
			if (timeout_ns > 0) {
				left = deadline - tp_now_ns();
				if (left <= 0) {
					r = -ETIMEDOUT;
					break;
				}
				if (left > SLICE_NS)
					left = SLICE_NS;
			}
			Py_BEGIN_ALLOW_THREADS
			r = tend_shm_timedlock(ls->s, left);
			Py_END_ALLOW_THREADS
			if (r != -ETIMEDOUT)
				break;
			if (PyErr_CheckSignals() < 0)
				return -1;
		}
	}
	if (r == -EAGAIN || r == -ETIMEDOUT)
		return 0;
	if (r == -EDEADLK) {
		PyErr_Format(PyExc_RuntimeError, "%s %R: this thread holds it already through another handle",
			     k->type_name, name ? name : Py_None);
		return -1;
	}
	if (r < 0) {
		tp_raise(r, k, name, "acquire");
		return -1;
	}
	ls->holder = PyThread_get_thread_ident();
	ls->gen = tp_fork_gen;
	ls->count = 1;
	ls->owner_died = r == 1;
	return 1;
}

static int lock_release(struct lockstate *ls, const struct tp_kind *k, PyObject *name)
{
	int r;

	if (!held_here(ls)) {
		PyErr_Format(PyExc_RuntimeError, "%s %R: cannot release un-acquired lock", k->type_name,
			     name ? name : Py_None);
		return -1;
	}
	if (--ls->count > 0)
		return 0;
	ls->holder = 0;
	r = tend_shm_unlock(ls->s);
	if (r < 0) {
		tp_raise(r, k, name, "release");
		return -1;
	}
	return 0;
}

/* ---- typecodes ----------------------------------------------------------- */

struct tcode {
	char code;
	unsigned char size;
};

static const struct tcode tcodes[] = {
	{'c', 1}, {'u', sizeof(wchar_t)}, {'?', 1}, {'b', 1}, {'B', 1}, {'h', 2}, {'H', 2}, {'i', 4},
	{'I', 4}, {'l', 8}, {'L', 8},     {'q', 8}, {'Q', 8}, {'f', 4}, {'d', 8},
};

/* The typecode of a str ('i') or of a ctypes type (c_int), or -1 with
 * TypeError set. */
static int typecode_arg(PyObject *t, char *ret_code, size_t *ret_size)
{
	PyObject *s = NULL;
	const char *c;
	size_t i;

	if (PyUnicode_Check(t)) {
		s = t;
		Py_INCREF(s);
	} else if (PyType_Check(t)) {
		s = PyObject_GetAttrString(t, "_type_");
		if (!s)
			PyErr_Clear();
	}
	if (!s || !PyUnicode_Check(s) || !(c = PyUnicode_AsUTF8(s)) || strlen(c) != 1)
		goto out_bad;
	for (i = 0; i < sizeof(tcodes) / sizeof(tcodes[0]); i++)
		if (tcodes[i].code == c[0]) {
			*ret_code = c[0];
			*ret_size = tcodes[i].size;
			Py_DECREF(s);
			return 0;
		}
out_bad:
	Py_XDECREF(s);
	PyErr_Clear();
	PyErr_Format(PyExc_TypeError,
		     "bad typecode %R (must be one of 'c', 'u', '?', 'b', 'B', 'h', 'H', 'i', 'I', 'l', 'L', 'q', "
		     "'Q', 'f', 'd' or a ctypes simple type)",
		     t);
	return -1;
}

static PyObject *elem_get(char code, const void *p)
{
	switch (code) {
	case 'c': return PyBytes_FromStringAndSize(p, 1);
	case 'u': return PyUnicode_FromWideChar(p, 1);
	case '?': return PyBool_FromLong(*(const unsigned char *)p);
	case 'b': return PyLong_FromLong(*(const signed char *)p);
	case 'B': return PyLong_FromLong(*(const unsigned char *)p);
	case 'h': { int16_t v; memcpy(&v, p, 2); return PyLong_FromLong(v); }
	case 'H': { uint16_t v; memcpy(&v, p, 2); return PyLong_FromLong(v); }
	case 'i': { int32_t v; memcpy(&v, p, 4); return PyLong_FromLong(v); }
	case 'I': { uint32_t v; memcpy(&v, p, 4); return PyLong_FromUnsignedLong(v); }
	case 'l':
	case 'q': { int64_t v; memcpy(&v, p, 8); return PyLong_FromLongLong(v); }
	case 'L':
	case 'Q': { uint64_t v; memcpy(&v, p, 8); return PyLong_FromUnsignedLongLong(v); }
	case 'f': { float v; memcpy(&v, p, 4); return PyFloat_FromDouble(v); }
	default: { double v; memcpy(&v, p, 8); return PyFloat_FromDouble(v); }
	}
}

/* Convert obj for typecode code into out (esize bytes): 0, or -1 with
 * TypeError/OverflowError set.  Nothing is written on failure. */
static int elem_conv(char code, PyObject *obj, unsigned char *out)
{
	long long v = 0;
	unsigned long long u = 0;
	long long lo = 0, hi = 0;

	switch (code) {
	case 'c':
		if (PyBytes_Check(obj) && PyBytes_GET_SIZE(obj) == 1) {
			out[0] = (unsigned char)PyBytes_AS_STRING(obj)[0];
			return 0;
		}
		if (PyLong_Check(obj)) {
			v = PyLong_AsLongLong(obj);
			if (v == -1 && PyErr_Occurred())
				return -1;
			if (v < 0 || v > 255)
				goto out_range;
			out[0] = (unsigned char)v;
			return 0;
		}
		PyErr_Format(PyExc_TypeError, "typecode 'c' takes a bytes of length 1, not %.100s",
			     Py_TYPE(obj)->tp_name);
		return -1;
	case 'u': {
		wchar_t w;

		if (!PyUnicode_Check(obj) || PyUnicode_GetLength(obj) != 1) {
			PyErr_Format(PyExc_TypeError, "typecode 'u' takes a str of length 1, not %R", obj);
			return -1;
		}
		if (PyUnicode_AsWideChar(obj, &w, 1) != 1)
			return -1;
		memcpy(out, &w, sizeof(w));
		return 0;
	}
	case '?': {
		int t = PyObject_IsTrue(obj);

		if (t < 0)
			return -1;
		out[0] = (unsigned char)t;
		return 0;
	}
	case 'f':
	case 'd': {
		double d = PyFloat_AsDouble(obj);

		if (d == -1.0 && PyErr_Occurred())
			return -1;
		if (code == 'f') {
			float f = (float)d;

			memcpy(out, &f, 4);
		} else {
			memcpy(out, &d, 8);
		}
		return 0;
	}
	case 'B': case 'H': case 'I': case 'L': case 'Q':
		if (!PyLong_Check(obj)) {
			PyErr_Format(PyExc_TypeError, "typecode '%c' takes an int, not %.100s", code, Py_TYPE(obj)->tp_name);
			return -1;
		}
		u = PyLong_AsUnsignedLongLong(obj);
		if (u == (unsigned long long)-1 && PyErr_Occurred()) {
			if (!PyErr_ExceptionMatches(PyExc_OverflowError))
				return -1;
			PyErr_Clear();
			goto out_range;
		}
		if ((code == 'B' && u > UINT8_MAX) || (code == 'H' && u > UINT16_MAX) || (code == 'I' && u > UINT32_MAX))
			goto out_range;
		switch (code) {
		case 'B': out[0] = (uint8_t)u; break;
		case 'H': { uint16_t x = (uint16_t)u; memcpy(out, &x, 2); break; }
		case 'I': { uint32_t x = (uint32_t)u; memcpy(out, &x, 4); break; }
		default: { uint64_t x = u; memcpy(out, &x, 8); break; }
		}
		return 0;
	default: /* b h i l q */
		if (!PyLong_Check(obj)) {
			PyErr_Format(PyExc_TypeError, "typecode '%c' takes an int, not %.100s", code, Py_TYPE(obj)->tp_name);
			return -1;
		}
		v = PyLong_AsLongLong(obj);
		if (v == -1 && PyErr_Occurred()) {
			if (!PyErr_ExceptionMatches(PyExc_OverflowError))
				return -1;
			PyErr_Clear();
			goto out_range;
		}
		switch (code) {
		case 'b': lo = INT8_MIN; hi = INT8_MAX; break;
		case 'h': lo = INT16_MIN; hi = INT16_MAX; break;
		case 'i': lo = INT32_MIN; hi = INT32_MAX; break;
		default: lo = LLONG_MIN; hi = LLONG_MAX; break;
		}
		if (v < lo || v > hi)
			goto out_range;
		switch (code) {
		case 'b': out[0] = (unsigned char)(int8_t)v; break;
		case 'h': { int16_t x = (int16_t)v; memcpy(out, &x, 2); break; }
		case 'i': { int32_t x = (int32_t)v; memcpy(out, &x, 4); break; }
		default: { int64_t x = v; memcpy(out, &x, 8); break; }
		}
		return 0;
	}

out_range:
	PyErr_Format(PyExc_OverflowError, "%R does not fit in typecode '%c'", obj, code);
	return -1;
}

/* ---- Value and Array: shared plumbing ------------------------------------ */

static const struct tp_kind *shm_kind(ShmObject *self)
{
	return self->is_array ? &tp_kind_array : &tp_kind_value;
}

/* Take the object's lock for an access: 1 when this call took it (release
 * with access_end), 0 when no lock is needed (lock=False, or this thread
 * holds it already), -1 on error. */
static int access_begin(ShmObject *self)
{
	int r;

	if (!self->locked || held_here(&self->ls))
		return 0;
	r = lock_acquire(&self->ls, true, 1, TEND_FOREVER, shm_kind(self), self->name);
	return r < 0 ? -1 : 1;
}

static int access_end(ShmObject *self, int took)
{
	return took == 1 ? lock_release(&self->ls, shm_kind(self), self->name) : 0;
}

static unsigned char *at(ShmObject *self, size_t i)
{
	return tend_shm_at(self->s, 0) + i * self->esize;
}

static PyObject *shm_new(PyTypeObject *type, bool is_array, PyObject *code_arg, PyObject *init, PyObject *name_arg,
			 int locked, int create, int mode)
{
	ShmObject *self;
	PyObject *name = NULL, *seq = NULL;
	const char *cname = NULL;
	char code;
	size_t esize, n = 1, i;
	int r, tries = 0;

	if (typecode_arg(code_arg, &code, &esize) < 0)
		return NULL;
	if (tp_name_arg(name_arg, &name) < 0)
		return NULL;
	if (!create && !name) {
		PyErr_Format(PyExc_ValueError, "create=False opens an existing %s: give its name",
			     is_array ? "tend.Array" : "tend.Value");
		goto out_name;
	}
	if (create && is_array) {
		if (PyLong_Check(init)) {
			Py_ssize_t k = PyLong_AsSsize_t(init);

			if (k == -1 && PyErr_Occurred())
				goto out_name;
			if (k < 1) {
				PyErr_SetString(PyExc_ValueError, "an Array needs at least 1 element");
				goto out_name;
			}
			n = (size_t)k;
		} else {
			seq = PySequence_Fast(init, "Array() needs a size or a sequence of initial values");
			if (!seq)
				goto out_name;
			n = (size_t)PySequence_Fast_GET_SIZE(seq);
			if (n < 1) {
				PyErr_SetString(PyExc_ValueError, "an Array needs at least 1 element");
				goto out_seq;
			}
		}
	}
	self = (ShmObject *)type->tp_alloc(type, 0);
	if (!self)
		goto out_seq;
	self->code = code;
	self->esize = esize;
	self->is_array = is_array;
	self->locked = locked;
	if (name && !(cname = PyUnicode_AsUTF8(name)))
		goto out_self;
	if (create) {
		r = tend_shm_create(&self->s, cname, n, esize, (unsigned)mode);
	} else {
		do
			r = tend_shm_open(&self->s, cname);
		while (tp_open_again(r, &tries));
	}
	if (r < 0) {
		tp_raise(r, is_array ? &tp_kind_array : &tp_kind_value, name, create ? "create" : "open");
		goto out_self;
	}
	self->n = tend_shm_nelem(self->s);
	if (tend_shm_elem_size(self->s) != esize || (!is_array && self->n != 1)) {
		PyErr_Format(PyExc_ValueError,
			     "%s %R holds %zu elements of %zu bytes: it does not match typecode '%c' (%zu bytes)%s",
			     is_array ? "tend.Array" : "tend.Value", name ? name : Py_None, self->n,
			     tend_shm_elem_size(self->s), code, esize, is_array ? "" : " for one value");
		goto out_self;
	}
	self->ls.s = self->s;
	self->name = name;
	name = NULL;
	/* initial values: written before anyone else can know the object */
	if (create && (seq || (!is_array && init))) {
		for (i = 0; i < n; i++)
			if (elem_conv(code, seq ? PySequence_Fast_GET_ITEM(seq, i) : init, at(self, i)) < 0)
				goto out_unlink;
	}
	Py_XDECREF(seq);
	return (PyObject *)self;

out_unlink:
	if (cname)
		tend_shm_unlink(cname);
out_self:
	Py_DECREF(self);
out_seq:
	Py_XDECREF(seq);
out_name:
	Py_XDECREF(name);
	return NULL;
}

static void Shm_dealloc(ShmObject *self)
{
	tend_shm_free(self->s);
	Py_XDECREF(self->name);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Shm_get_lock(ShmObject *self, PyObject *Py_UNUSED(ignored))
{
	LockObject *l;

	if (!self->locked) {
		PyErr_Format(PyExc_AttributeError, "%s created with lock=False has no lock", shm_kind(self)->type_name);
		return NULL;
	}
	/* a view of this object's lock: same lock state, so accesses inside
	 * `with v.get_lock():` see that this thread holds it */
	l = PyObject_New(LockObject, &RLock_Type);
	if (!l)
		return NULL;
	memset(&l->own, 0, sizeof(l->own));
	l->ls = &self->ls;
	l->s = NULL;
	l->parent = (PyObject *)self;
	Py_INCREF(self);
	l->name = self->name;
	Py_XINCREF(l->name);
	l->recursive = true;
	return (PyObject *)l;
}

static PyObject *Shm_get_obj(ShmObject *self, PyObject *Py_UNUSED(ignored))
{
	return PyMemoryView_FromObject((PyObject *)self);
}

static PyObject *Shm_unlink(ShmObject *self, PyObject *Py_UNUSED(ignored))
{
	return tp_unlink(shm_kind(self), self->name, tend_shm_unlink);
}

static PyObject *Shm_reduce(ShmObject *self, PyObject *Py_UNUSED(ignored))
{
	if (!self->name)
		return tp_anonymous_pickle_error(shm_kind(self));
	return Py_BuildValue("(N(OCO))", PyObject_GetAttrString((PyObject *)Py_TYPE(self), "open"), self->name,
			     self->code, self->locked ? Py_True : Py_False);
}

static PyObject *Shm_get_name(ShmObject *self, void *Py_UNUSED(c))
{
	return tp_name_or_none(self->name);
}

static PyObject *Shm_get_typecode(ShmObject *self, void *Py_UNUSED(c))
{
	return PyUnicode_FromStringAndSize(&self->code, 1);
}

static PyObject *Shm_get_owner_died(ShmObject *self, void *Py_UNUSED(c))
{
	return PyBool_FromLong(self->ls.owner_died);
}

/* The struct-module format of a typecode's elements. */
static const char *buffer_format(char code)
{
	switch (code) {
	case 'c': return "c";
	case 'u': return sizeof(wchar_t) == 4 ? "w" : "u";
	case '?': return "?";
	case 'b': return "b";
	case 'B': return "B";
	case 'h': return "h";
	case 'H': return "H";
	case 'i': return "i";
	case 'I': return "I";
	case 'l':
	case 'q': return "q";
	case 'L':
	case 'Q': return "Q";
	case 'f': return "f";
	default: return "d";
	}
}

static int Shm_getbuffer(ShmObject *self, Py_buffer *view, int flags)
{
	if (PyBuffer_FillInfo(view, (PyObject *)self, at(self, 0), (Py_ssize_t)(self->n * self->esize), 0, flags) < 0)
		return -1;
	if (flags & PyBUF_FORMAT)
		view->format = (char *)buffer_format(self->code);
	view->itemsize = (Py_ssize_t)self->esize;
	if (flags & PyBUF_ND) {
		view->ndim = 1;
		view->shape = (Py_ssize_t *)(void *)&self->n; /* size_t and Py_ssize_t: same size */
	}
	self->exports++;
	return 0;
}

static void Shm_releasebuffer(ShmObject *self, Py_buffer *Py_UNUSED(view))
{
	self->exports--;
}

static PyBufferProcs Shm_as_buffer = {(getbufferproc)Shm_getbuffer, (releasebufferproc)Shm_releasebuffer};

/* ---- Value ---------------------------------------------------------------- */

static PyObject *Value_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	static char *kw[] = {"typecode", "value", "lock", "name", "create", "mode", NULL};
	PyObject *code, *value = NULL, *name = Py_None;
	int lock = 1, create = 1, mode = 0600;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O$pOpi:Value", kw, &code, &value, &lock, &name, &create,
					 &mode))
		return NULL;
	return shm_new(type, false, code, value, name, lock, create, mode);
}

static PyObject *Value_open(PyObject *cls, PyObject *args)
{
	PyObject *name, *code;
	int lock = 1;

	if (!PyArg_ParseTuple(args, "OO|p:open", &name, &code, &lock))
		return NULL;
	return shm_new((PyTypeObject *)cls, false, code, NULL, name, lock, 0, 0);
}

static PyObject *Value_get_value(ShmObject *self, void *Py_UNUSED(c))
{
	PyObject *v;
	int took = access_begin(self);

	if (took < 0)
		return NULL;
	v = elem_get(self->code, at(self, 0));
	if (access_end(self, took) < 0)
		Py_CLEAR(v);
	return v;
}

static int Value_set_value(ShmObject *self, PyObject *v, void *Py_UNUSED(c))
{
	unsigned char tmp[16];
	int took;

	if (!v) {
		PyErr_SetString(PyExc_AttributeError, "cannot delete a tend.Value's value");
		return -1;
	}
	if (elem_conv(self->code, v, tmp) < 0)
		return -1;
	took = access_begin(self);
	if (took < 0)
		return -1;
	memcpy(at(self, 0), tmp, self->esize);
	return access_end(self, took);
}

static PyObject *Value_repr(ShmObject *self)
{
	PyObject *v = Value_get_value(self, NULL), *r;

	if (!v)
		return NULL;
	r = PyUnicode_FromFormat("<tend.Value %R '%c' %R>", self->name ? self->name : Py_None, self->code, v);
	Py_DECREF(v);
	return r;
}

#define NOARGS(f) ((PyCFunction)(void (*)(void))(f))

static PyMethodDef Value_methods[] = {
	{"get_lock", NOARGS(Shm_get_lock), METH_NOARGS, "The value's lock (reentrant, robust)."},
	{"get_obj", NOARGS(Shm_get_obj), METH_NOARGS, "A memoryview of the shared memory (no lock taken)."},
	{"unlink", NOARGS(Shm_unlink), METH_NOARGS, "Remove the name; open handles keep working."},
	{"open", NOARGS(Value_open), METH_VARARGS | METH_CLASS,
	 "Value.open(name, typecode, lock=True): open an existing named value."},
	{"__reduce__", NOARGS(Shm_reduce), METH_NOARGS, "Pickled by name (anonymous values refuse)."},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef Value_getset[] = {
	{"value", (getter)Value_get_value, (setter)Value_set_value, "The value (read and written under the lock).",
	 NULL},
	{"name", (getter)Shm_get_name, NULL, "The name, or None (anonymous).", NULL},
	{"typecode", (getter)Shm_get_typecode, NULL, "The typecode.", NULL},
	{"owner_died", (getter)Shm_get_owner_died, NULL,
	 "True if the last acquire of the lock through this handle took it over from a holder that died.", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject Value_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "tend.Value",
	.tp_basicsize = sizeof(ShmObject),
	.tp_dealloc = (destructor)Shm_dealloc,
	.tp_repr = (reprfunc)Value_repr,
	.tp_as_buffer = &Shm_as_buffer,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Value(typecode, value=0, *, lock=True, name=None, create=True, mode=0o600)\n\n"
		  "One typed value in shared memory with a robust reentrant lock (multiprocessing.Value).\n"
		  "typecode: 'c','u','?','b','B','h','H','i','I','l','L','q','Q','f','d' or a ctypes type.",
	.tp_methods = Value_methods,
	.tp_getset = Value_getset,
	.tp_new = Value_new,
};

/* ---- Array ---------------------------------------------------------------- */

static PyObject *Array_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	static char *kw[] = {"typecode", "size_or_initializer", "lock", "name", "create", "mode", NULL};
	PyObject *code, *init, *name = Py_None;
	int lock = 1, create = 1, mode = 0600;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|$pOpi:Array", kw, &code, &init, &lock, &name, &create, &mode))
		return NULL;
	return shm_new(type, true, code, init, name, lock, create, mode);
}

static PyObject *Array_open(PyObject *cls, PyObject *args)
{
	PyObject *name, *code;
	int lock = 1;

	if (!PyArg_ParseTuple(args, "OO|p:open", &name, &code, &lock))
		return NULL;
	return shm_new((PyTypeObject *)cls, true, code, NULL, name, lock, 0, 0);
}

static Py_ssize_t Array_len(ShmObject *self)
{
	return (Py_ssize_t)self->n;
}

static PyObject *Array_item(ShmObject *self, Py_ssize_t i)
{
	PyObject *v;
	int took;

	if (i < 0 || (size_t)i >= self->n) {
		PyErr_SetString(PyExc_IndexError, "tend.Array index out of range");
		return NULL;
	}
	took = access_begin(self);
	if (took < 0)
		return NULL;
	v = elem_get(self->code, at(self, (size_t)i));
	if (access_end(self, took) < 0)
		Py_CLEAR(v);
	return v;
}

static int Array_ass_item(ShmObject *self, Py_ssize_t i, PyObject *v)
{
	unsigned char tmp[16];
	int took;

	if (!v) {
		PyErr_SetString(PyExc_TypeError, "tend.Array elements cannot be deleted");
		return -1;
	}
	if (i < 0 || (size_t)i >= self->n) {
		PyErr_SetString(PyExc_IndexError, "tend.Array assignment index out of range");
		return -1;
	}
	if (elem_conv(self->code, v, tmp) < 0)
		return -1;
	took = access_begin(self);
	if (took < 0)
		return -1;
	memcpy(at(self, (size_t)i), tmp, self->esize);
	return access_end(self, took);
}

static PyObject *Array_subscript(ShmObject *self, PyObject *key)
{
	Py_ssize_t start, stop, step, len, i, k;
	PyObject *list;
	int took;

	if (PyIndex_Check(key)) {
		i = PyNumber_AsSsize_t(key, PyExc_IndexError);
		if (i == -1 && PyErr_Occurred())
			return NULL;
		if (i < 0)
			i += (Py_ssize_t)self->n;
		return Array_item(self, i);
	}
	if (!PySlice_Check(key)) {
		PyErr_Format(PyExc_TypeError, "tend.Array indices must be integers or slices, not %.100s",
			     Py_TYPE(key)->tp_name);
		return NULL;
	}
	if (PySlice_Unpack(key, &start, &stop, &step) < 0)
		return NULL;
	len = PySlice_AdjustIndices((Py_ssize_t)self->n, &start, &stop, step);
	if (self->code == 'c' && step == 1) {
		took = access_begin(self);
		if (took < 0)
			return NULL;
		list = PyBytes_FromStringAndSize((const char *)at(self, 0) + start, len);
		if (access_end(self, took) < 0)
			Py_CLEAR(list);
		return list;
	}
	list = PyList_New(len);
	if (!list)
		return NULL;
	took = access_begin(self);
	if (took < 0) {
		Py_DECREF(list);
		return NULL;
	}
	for (i = start, k = 0; k < len; i += step, k++) {
		PyObject *v = elem_get(self->code, at(self, (size_t)i));

		if (!v) {
			access_end(self, took);
			Py_DECREF(list);
			return NULL;
		}
		PyList_SET_ITEM(list, k, v);
	}
	if (access_end(self, took) < 0)
		Py_CLEAR(list);
	return list;
}

static int Array_ass_subscript(ShmObject *self, PyObject *key, PyObject *value)
{
	Py_ssize_t start, stop, step, len, i, k;
	PyObject *seq;
	unsigned char *tmp;
	int took, r = -1;

	if (PyIndex_Check(key)) {
		i = PyNumber_AsSsize_t(key, PyExc_IndexError);
		if (i == -1 && PyErr_Occurred())
			return -1;
		if (i < 0)
			i += (Py_ssize_t)self->n;
		return Array_ass_item(self, i, value);
	}
	if (!PySlice_Check(key) || !value) {
		PyErr_SetString(PyExc_TypeError, "tend.Array indices must be integers or slices; elements cannot be deleted");
		return -1;
	}
	if (PySlice_Unpack(key, &start, &stop, &step) < 0)
		return -1;
	len = PySlice_AdjustIndices((Py_ssize_t)self->n, &start, &stop, step);
	seq = PySequence_Fast(value, "can only assign a sequence to a tend.Array slice");
	if (!seq)
		return -1;
	if (PySequence_Fast_GET_SIZE(seq) != len) {
		PyErr_SetString(PyExc_ValueError, "can only assign a sequence of the same size to a tend.Array slice");
		goto out_seq;
	}
	tmp = PyMem_Malloc((size_t)(len ? len : 1) * self->esize);
	if (!tmp) {
		PyErr_NoMemory();
		goto out_seq;
	}
	for (k = 0; k < len; k++) {
		PyObject *o = PySequence_Fast_GET_ITEM(seq, k);

		if (self->code == 'c' && PyLong_Check(o)) {
			if (elem_conv('c', o, tmp + k) < 0)
				goto out_tmp;
		} else if (elem_conv(self->code, o, tmp + (size_t)k * self->esize) < 0) {
			goto out_tmp;
		}
	}
	took = access_begin(self);
	if (took < 0)
		goto out_tmp;
	for (i = start, k = 0; k < len; i += step, k++)
		memcpy(at(self, (size_t)i), tmp + (size_t)k * self->esize, self->esize);
	r = access_end(self, took);
out_tmp:
	PyMem_Free(tmp);
out_seq:
	Py_DECREF(seq);
	return r;
}

static PyObject *Array_get_raw(ShmObject *self, void *c)
{
	PyObject *b;
	size_t len = self->n;
	int took;

	if (self->code != 'c') {
		PyErr_SetString(PyExc_AttributeError, "value and raw exist only for typecode 'c'");
		return NULL;
	}
	took = access_begin(self);
	if (took < 0)
		return NULL;
	if (c) /* value: up to the first NUL, as ctypes */
		len = strnlen((const char *)at(self, 0), self->n);
	b = PyBytes_FromStringAndSize((const char *)at(self, 0), (Py_ssize_t)len);
	if (access_end(self, took) < 0)
		Py_CLEAR(b);
	return b;
}

static int Array_set_raw(ShmObject *self, PyObject *v, void *c)
{
	Py_buffer view;
	int took;

	if (self->code != 'c' || !v) {
		PyErr_SetString(PyExc_AttributeError, "value and raw exist only for typecode 'c' (and cannot be deleted)");
		return -1;
	}
	if (PyObject_GetBuffer(v, &view, PyBUF_SIMPLE) < 0)
		return -1;
	if ((size_t)view.len > self->n) {
		PyErr_Format(PyExc_ValueError, "%zd bytes do not fit in a tend.Array of %zu", view.len, self->n);
		PyBuffer_Release(&view);
		return -1;
	}
	took = access_begin(self);
	if (took < 0) {
		PyBuffer_Release(&view);
		return -1;
	}
	memcpy(at(self, 0), view.buf, (size_t)view.len);
	if (c && (size_t)view.len < self->n)
		at(self, 0)[view.len] = 0;
	PyBuffer_Release(&view);
	return access_end(self, took);
}

static PyObject *Array_repr(ShmObject *self)
{
	return PyUnicode_FromFormat("<tend.Array %R '%c' len=%zu>", self->name ? self->name : Py_None, self->code,
				    self->n);
}

static PySequenceMethods Array_as_sequence = {
	.sq_length = (lenfunc)Array_len,
	.sq_item = (ssizeargfunc)Array_item,
	.sq_ass_item = (ssizeobjargproc)Array_ass_item,
};

static PyMappingMethods Array_as_mapping = {
	.mp_length = (lenfunc)Array_len,
	.mp_subscript = (binaryfunc)Array_subscript,
	.mp_ass_subscript = (objobjargproc)Array_ass_subscript,
};

static PyMethodDef Array_methods[] = {
	{"get_lock", NOARGS(Shm_get_lock), METH_NOARGS, "The array's lock (reentrant, robust)."},
	{"get_obj", NOARGS(Shm_get_obj), METH_NOARGS, "A memoryview of the shared memory (no lock taken)."},
	{"unlink", NOARGS(Shm_unlink), METH_NOARGS, "Remove the name; open handles keep working."},
	{"open", NOARGS(Array_open), METH_VARARGS | METH_CLASS,
	 "Array.open(name, typecode, lock=True): open an existing named array."},
	{"__reduce__", NOARGS(Shm_reduce), METH_NOARGS, "Pickled by name (anonymous arrays refuse)."},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef Array_getset[] = {
	{"value", (getter)Array_get_raw, (setter)Array_set_raw, "typecode 'c': the bytes up to the first NUL.",
	 (void *)1},
	{"raw", (getter)Array_get_raw, (setter)Array_set_raw, "typecode 'c': all the bytes.", NULL},
	{"name", (getter)Shm_get_name, NULL, "The name, or None (anonymous).", NULL},
	{"typecode", (getter)Shm_get_typecode, NULL, "The typecode.", NULL},
	{"owner_died", (getter)Shm_get_owner_died, NULL,
	 "True if the last acquire of the lock through this handle took it over from a holder that died.", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject Array_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "tend.Array",
	.tp_basicsize = sizeof(ShmObject),
	.tp_dealloc = (destructor)Shm_dealloc,
	.tp_repr = (reprfunc)Array_repr,
	.tp_as_sequence = &Array_as_sequence,
	.tp_as_mapping = &Array_as_mapping,
	.tp_as_buffer = &Shm_as_buffer,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Array(typecode, size_or_initializer, *, lock=True, name=None, create=True, mode=0o600)\n\n"
		  "A typed array in shared memory with a robust reentrant lock (multiprocessing.Array).",
	.tp_methods = Array_methods,
	.tp_getset = Array_getset,
	.tp_new = Array_new,
};

/* ---- Lock and RLock -------------------------------------------------------- */

static const struct tp_kind *lock_kind(LockObject *self)
{
	return self->recursive ? &tp_kind_rlock : &tp_kind_lock;
}

static PyObject *lock_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	static char *kw[] = {"name", "create", "mode", NULL};
	PyObject *name_arg = Py_None, *name = NULL;
	int create = 1, mode = 0600, r, tries = 0;
	bool recursive = PyType_IsSubtype(type, &RLock_Type);
	const struct tp_kind *k = recursive ? &tp_kind_rlock : &tp_kind_lock;
	const char *cname = NULL;
	LockObject *self;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$Opi", kw, &name_arg, &create, &mode))
		return NULL;
	if (tp_name_arg(name_arg, &name) < 0)
		return NULL;
	if (!create && !name) {
		PyErr_Format(PyExc_ValueError, "create=False opens an existing %s: give its name", k->type_name);
		goto out_name;
	}
	if (name && !(cname = PyUnicode_AsUTF8(name)))
		goto out_name;
	self = (LockObject *)type->tp_alloc(type, 0);
	if (!self)
		goto out_name;
	self->ls = &self->own;
	self->recursive = recursive;
	if (create) {
		r = tend_shm_create(&self->s, cname, 1, 8, (unsigned)mode);
	} else {
		do
			r = tend_shm_open(&self->s, cname);
		while (tp_open_again(r, &tries));
	}
	if (r < 0) {
		tp_raise(r, k, name, create ? "create" : "open");
		Py_DECREF(self);
		goto out_name;
	}
	self->own.s = self->s;
	self->name = name;
	return (PyObject *)self;

out_name:
	Py_XDECREF(name);
	return NULL;
}

static PyObject *Lock_open(PyObject *cls, PyObject *name)
{
	return tp_open_by_name(cls, name);
}

static void Lock_dealloc(LockObject *self)
{
	if (self->parent) {
		Py_DECREF(self->parent);
	} else {
		tend_shm_free(self->s);
	}
	Py_XDECREF(self->name);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Lock_acquire(LockObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	static const char *const names[] = {"block", "timeout"};
	PyObject *a[2];
	int block = 1, r;
	int64_t t;

	if (nargs == 0 && !kwnames) {
		t = TEND_FOREVER;
	} else {
		if (tp_args("acquire", args, nargs, kwnames, names, 2, 2, 0, a) < 0)
			return NULL;
		if (a[0] && (block = PyObject_IsTrue(a[0])) < 0)
			return NULL;
		if (a[1] && a[1] != Py_None && !block) {
			PyErr_SetString(PyExc_ValueError, "can't specify a timeout for a non-blocking call");
			return NULL;
		}
		if (tp_block_timeout(a[0], a[1], &t) < 0)
			return NULL;
	}
	r = lock_acquire(self->ls, self->recursive, block, t, lock_kind(self), self->name);
	if (r < 0)
		return NULL;
	return PyBool_FromLong(r);
}

static PyObject *Lock_enter(LockObject *self, PyObject *Py_UNUSED(ignored))
{
	int r = lock_acquire(self->ls, self->recursive, 1, TEND_FOREVER, lock_kind(self), self->name);

	if (r < 0)
		return NULL;
	return PyBool_FromLong(r);
}

static PyObject *Lock_release(LockObject *self, PyObject *Py_UNUSED(ignored))
{
	if (lock_release(self->ls, lock_kind(self), self->name) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *Lock_exit(LockObject *self, PyObject *Py_UNUSED(args))
{
	return Lock_release(self, NULL);
}

static PyObject *Lock_unlink(LockObject *self, PyObject *Py_UNUSED(ignored))
{
	return tp_unlink(lock_kind(self), self->name, tend_shm_unlink);
}

static PyObject *Lock_reduce(LockObject *self, PyObject *Py_UNUSED(ignored))
{
	/* a Value's or an Array's lock reopens as an RLock on the same word */
	if (!self->name)
		return tp_anonymous_pickle_error(lock_kind(self));
	return Py_BuildValue("(N(O))", PyObject_GetAttrString((PyObject *)Py_TYPE(self), "open"), self->name);
}

static PyObject *Lock_get_owner_died(LockObject *self, void *Py_UNUSED(c))
{
	return PyBool_FromLong(self->ls->owner_died);
}

static PyObject *Lock_get_name(LockObject *self, void *Py_UNUSED(c))
{
	return tp_name_or_none(self->name);
}

static PyObject *Lock_repr(LockObject *self)
{
	return PyUnicode_FromFormat("<%s %R %s>", lock_kind(self)->type_name, self->name ? self->name : Py_None,
				    held_here(self->ls) ? "held by this thread" : "not held by this thread");
}

static PyMethodDef Lock_methods[] = {
	{"acquire", NOARGS(Lock_acquire), METH_FASTCALL | METH_KEYWORDS,
	 "acquire(block=True, timeout=None): True once held, False if not within the timeout.  A holder that "
	 "died is taken over: True, and owner_died is set."},
	{"release", NOARGS(Lock_release), METH_NOARGS, "Release the lock held by this thread."},
	{"__enter__", NOARGS(Lock_enter), METH_NOARGS, NULL},
	{"__exit__", NOARGS(Lock_exit), METH_VARARGS, NULL},
	{"unlink", NOARGS(Lock_unlink), METH_NOARGS, "Remove the name; open handles keep working."},
	{"open", NOARGS(Lock_open), METH_O | METH_CLASS, "open(name): open an existing named lock."},
	{"__reduce__", NOARGS(Lock_reduce), METH_NOARGS, "Pickled by name (anonymous locks refuse)."},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef Lock_getset[] = {
	{"owner_died", (getter)Lock_get_owner_died, NULL,
	 "True if the last acquire through this handle took the lock over from a holder that died: the data it "
	 "protects may be half-written.",
	 NULL},
	{"name", (getter)Lock_get_name, NULL, "The name, or None (anonymous).", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject Lock_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "tend.Lock",
	.tp_basicsize = sizeof(LockObject),
	.tp_dealloc = (destructor)Lock_dealloc,
	.tp_repr = (reprfunc)Lock_repr,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Lock(*, name=None, create=True, mode=0o600)\n\n"
		  "A robust lock shared by processes (multiprocessing.Lock): a holder killed with SIGKILL does\n"
		  "not block the others; the next acquire takes it over and sets owner_died.",
	.tp_methods = Lock_methods,
	.tp_getset = Lock_getset,
	.tp_new = lock_new,
};

static PyTypeObject RLock_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "tend.RLock",
	.tp_basicsize = sizeof(LockObject),
	.tp_dealloc = (destructor)Lock_dealloc,
	.tp_repr = (reprfunc)Lock_repr,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "RLock(*, name=None, create=True, mode=0o600)\n\n"
		  "A reentrant robust lock shared by processes (multiprocessing.RLock); counted per handle.",
	.tp_methods = Lock_methods,
	.tp_getset = Lock_getset,
	.tp_new = lock_new,
};

int tp_shm_init(PyObject *m)
{
	PyTypeObject *types[] = {&Value_Type, &Array_Type, &Lock_Type, &RLock_Type};
	const char *names[] = {"Value", "Array", "Lock", "RLock"};
	size_t i;

	for (i = 0; i < 4; i++) {
		if (PyType_Ready(types[i]) < 0 || PyModule_AddObjectRef(m, names[i], (PyObject *)types[i]) < 0)
			return -1;
	}
	return 0;
}
