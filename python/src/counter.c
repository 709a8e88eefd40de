/*
 * tend.Counter: tend_counter's partitioned counter.  Each writer process
 * adds to its own cache line (claimed on its first add, also in a child that
 * inherited the handle over fork), so many writers never contend; value sums
 * every slot.  A killed writer's adds stay in the sum.
 */
#include <errno.h>
#include <string.h>

#include "tend/counter.h"
#include "tendpy.h"

#define DEFAULT_SLOTS 128

typedef struct {
	PyObject_HEAD
	tend_counter *c;
	PyObject *name;
} CounterObject;

static PyTypeObject Counter_Type;

static const char *const kind_names[] = {"partitioned", "atomic", "locked"};

static PyObject *Counter_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
	static char *kw[] = {"name", "slots", "kind", "create", "mode", NULL};
	PyObject *name_arg = Py_None, *name = NULL;
	int slots = DEFAULT_SLOTS, create = 1, mode = 0600, r, tries = 0;
	const char *kind_s = "partitioned", *cname = NULL;
	enum tend_counter_kind kind;
	CounterObject *self;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O$ispi:Counter", kw, &name_arg, &slots, &kind_s, &create, &mode))
		return NULL;
	if (tp_name_arg(name_arg, &name) < 0)
		return NULL;
	for (kind = 0; kind < 3; kind++)
		if (strcmp(kind_s, kind_names[kind]) == 0)
			break;
	if (kind == 3) {
		PyErr_Format(PyExc_ValueError, "kind must be 'partitioned', 'atomic' or 'locked', not '%s'", kind_s);
		goto out_name;
	}
	if (kind == TEND_COUNTER_PARTITIONED && (slots < 1 || (unsigned)slots > TEND_COUNTER_SLOTS_MAX)) {
		PyErr_Format(PyExc_ValueError, "slots must be in 1..%u (at least the number of writer processes)",
			     TEND_COUNTER_SLOTS_MAX);
		goto out_name;
	}
	if (!create && !name) {
		PyErr_SetString(PyExc_ValueError, "create=False opens an existing counter: give its name");
		goto out_name;
	}
	if (name && !(cname = PyUnicode_AsUTF8(name)))
		goto out_name;
	self = (CounterObject *)type->tp_alloc(type, 0);
	if (!self)
		goto out_name;
	if (create) {
		r = tend_counter_create(&self->c, cname, kind,
					kind == TEND_COUNTER_PARTITIONED ? (unsigned)slots : 0, (unsigned)mode);
	} else {
		do
			r = tend_counter_open(&self->c, cname);
		while (tp_open_again(r, &tries));
	}
	if (r < 0) {
		tp_raise(r, &tp_kind_counter, name, create ? "create" : "open");
		Py_DECREF(self);
		goto out_name;
	}
	self->name = name;
	return (PyObject *)self;

out_name:
	Py_XDECREF(name);
	return NULL;
}

static PyObject *Counter_open(PyObject *cls, PyObject *name)
{
	return tp_open_by_name(cls, name);
}

static void Counter_dealloc(CounterObject *self)
{
	tend_counter_free(self->c);
	Py_XDECREF(self->name);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Counter_add(CounterObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	long long d = 1;
	int r;

	if (nargs > 1) {
		PyErr_SetString(PyExc_TypeError, "add() takes at most 1 argument (delta)");
		return NULL;
	}
	if (nargs == 1) {
		d = PyLong_AsLongLong(args[0]);
		if (d == -1 && PyErr_Occurred())
			return NULL;
	}
	r = tend_counter_add(self->c, (int64_t)d);
	if (r < 0)
		return tp_raise(r, &tp_kind_counter, self->name, "add");
	Py_RETURN_NONE;
}

static PyObject *Counter_get_value(CounterObject *self, void *Py_UNUSED(c))
{
	int64_t v;
	int r = tend_counter_sum(self->c, &v);

	if (r < 0)
		return tp_raise(r, &tp_kind_counter, self->name, "sum");
	return PyLong_FromLongLong(v);
}

static PyObject *Counter_int(CounterObject *self)
{
	return Counter_get_value(self, NULL);
}

static PyObject *Counter_release(CounterObject *self, PyObject *Py_UNUSED(ignored))
{
	int r = tend_counter_release(self->c);

	if (r < 0)
		return tp_raise(r, &tp_kind_counter, self->name, "release");
	Py_RETURN_NONE;
}

static PyObject *Counter_unlink(CounterObject *self, PyObject *Py_UNUSED(ignored))
{
	return tp_unlink(&tp_kind_counter, self->name, tend_counter_unlink);
}

static PyObject *Counter_reduce(CounterObject *self, PyObject *Py_UNUSED(ignored))
{
	if (!self->name)
		return tp_anonymous_pickle_error(&tp_kind_counter);
	return Py_BuildValue("(N(O))", PyObject_GetAttrString((PyObject *)Py_TYPE(self), "open"), self->name);
}

static PyObject *Counter_get_name(CounterObject *self, void *Py_UNUSED(c))
{
	return tp_name_or_none(self->name);
}

static PyObject *Counter_get_kind(CounterObject *self, void *Py_UNUSED(c))
{
	return PyUnicode_FromString(kind_names[tend_counter_kind(self->c)]);
}

static PyObject *Counter_get_slots(CounterObject *self, void *Py_UNUSED(c))
{
	return PyLong_FromUnsignedLong(tend_counter_nslots(self->c));
}

static PyObject *Counter_repr(CounterObject *self)
{
	PyObject *v = Counter_get_value(self, NULL), *r;

	if (!v)
		return NULL;
	r = PyUnicode_FromFormat("<tend.Counter %R value=%R>", self->name ? self->name : Py_None, v);
	Py_DECREF(v);
	return r;
}

static PyNumberMethods Counter_as_number = {
	.nb_int = (unaryfunc)Counter_int,
	.nb_index = (unaryfunc)Counter_int,
};

static PyMethodDef Counter_methods[] = {
	{"add", (PyCFunction)(void (*)(void))Counter_add, METH_FASTCALL,
	 "add(delta=1): add delta (negative to subtract); one atomic add on this process's own slot."},
	{"release", (PyCFunction)Counter_release, METH_NOARGS,
	 "Give this process's slot back (its value stays in the sum); the next add claims one again."},
	{"unlink", (PyCFunction)Counter_unlink, METH_NOARGS, "Remove the name; open handles keep working."},
	{"open", (PyCFunction)Counter_open, METH_O | METH_CLASS, "Counter.open(name): open an existing counter."},
	{"__reduce__", (PyCFunction)Counter_reduce, METH_NOARGS, "Pickled by name (anonymous counters refuse)."},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef Counter_getset[] = {
	{"value", (getter)Counter_get_value, NULL, "The sum of every writer's adds (a snapshot).", NULL},
	{"name", (getter)Counter_get_name, NULL, "The name, or None (anonymous).", NULL},
	{"kind", (getter)Counter_get_kind, NULL, "'partitioned', 'atomic' or 'locked'.", NULL},
	{"slots", (getter)Counter_get_slots, NULL, "Writer slots (partitioned; 0 for the others).", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject Counter_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "tend.Counter",
	.tp_basicsize = sizeof(CounterObject),
	.tp_dealloc = (destructor)Counter_dealloc,
	.tp_repr = (reprfunc)Counter_repr,
	.tp_as_number = &Counter_as_number,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Counter(name=None, *, slots=128, kind='partitioned', create=True, mode=0o600)\n\n"
		  "A 64-bit counter in shared memory that many processes add to without contending:\n"
		  "each writer process adds to its own slot; value sums them.  slots: at least the number\n"
		  "of writer processes alive at once (beyond that, adds go to one shared word: correct, slower).",
	.tp_methods = Counter_methods,
	.tp_getset = Counter_getset,
	.tp_new = Counter_new,
};

int tp_counter_init(PyObject *m)
{
	if (PyType_Ready(&Counter_Type) < 0)
		return -1;
	return PyModule_AddObjectRef(m, "Counter", (PyObject *)&Counter_Type);
}
