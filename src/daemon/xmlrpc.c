#include "daemon/xmlrpc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

/* ---- values --------------------------------------------------------------- */

static struct xv *xv_new(enum xv_type t)
{
	struct xv *v = xcalloc(1, sizeof(*v));

	v->type = t;
	return v;
}

struct xv *xv_nil(void)
{
	return xv_new(XV_NIL);
}

struct xv *xv_int(long long i)
{
	struct xv *v = xv_new(XV_INT);

	v->i = i;
	return v;
}

struct xv *xv_bool(bool b)
{
	struct xv *v = xv_new(XV_BOOL);

	v->i = b;
	return v;
}

struct xv *xv_double(double d)
{
	struct xv *v = xv_new(XV_DOUBLE);

	v->d = d;
	return v;
}

struct xv *xv_strn(const char *s, size_t len)
{
	struct xv *v = xv_new(XV_STRING);

	v->s = xstrndup(s ? s : "", s ? len : 0);
	v->len = s ? len : 0;
	return v;
}

struct xv *xv_str(const char *s)
{
	return xv_strn(s, s ? strlen(s) : 0);
}

struct xv *xv_array(void)
{
	return xv_new(XV_ARRAY);
}

struct xv *xv_struct(void)
{
	return xv_new(XV_STRUCT);
}

static void xv_append(struct xv *c, struct xv *item, const char *key)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		c->item = xrealloc(c->item, c->cap * sizeof(*c->item));
		if (c->type == XV_STRUCT)
			c->key = xrealloc(c->key, c->cap * sizeof(*c->key));
	}
	if (c->type == XV_STRUCT)
		c->key[c->n] = xstrdup(key);
	c->item[c->n++] = item;
}

struct xv *xv_push(struct xv *arr, struct xv *item)
{
	xv_append(arr, item, NULL);
	return arr;
}

struct xv *xv_set(struct xv *st, const char *key, struct xv *item)
{
	xv_append(st, item, key);
	return st;
}

const struct xv *xv_get(const struct xv *st, const char *key)
{
	if (!st || st->type != XV_STRUCT)
		return NULL;
	for (size_t i = 0; i < st->n; i++)
		if (strcmp(st->key[i], key) == 0)
			return st->item[i];
	return NULL;
}

void xv_free(struct xv *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		xv_free(v->item[i]);
		if (v->key)
			free(v->key[i]);
	}
	free(v->item);
	free(v->key);
	free(v->s);
	free(v);
}

/* ---- parsing ----------------------------------------------------------------- */

enum el {
	EL_NONE,
	EL_CALL,
	EL_METHODNAME,
	EL_PARAMS,
	EL_PARAM,
	EL_VALUE,
	EL_INT,
	EL_BOOLEAN,
	EL_STRING,
	EL_DOUBLE,
	EL_BASE64,
	EL_DATETIME,
	EL_NILTYPE,
	EL_ARRAY,
	EL_DATA,
	EL_STRUCT,
	EL_MEMBER,
	EL_NAME,
};

static const struct {
	const char *name;
	enum el el;
	enum el parent;
} grammar[] = {
	{ "methodCall", EL_CALL, EL_NONE },	  { "methodName", EL_METHODNAME, EL_CALL },
	{ "params", EL_PARAMS, EL_CALL },	  { "param", EL_PARAM, EL_PARAMS },
	{ "value", EL_VALUE, EL_NONE },		  /* parent: param, data or member (checked apart) */
	{ "int", EL_INT, EL_VALUE },		  { "i4", EL_INT, EL_VALUE },
	{ "i8", EL_INT, EL_VALUE },		  { "boolean", EL_BOOLEAN, EL_VALUE },
	{ "string", EL_STRING, EL_VALUE },	  { "double", EL_DOUBLE, EL_VALUE },
	{ "base64", EL_BASE64, EL_VALUE },	  { "dateTime.iso8601", EL_DATETIME, EL_VALUE },
	{ "nil", EL_NILTYPE, EL_VALUE },	  { "array", EL_ARRAY, EL_VALUE },
	{ "data", EL_DATA, EL_ARRAY },		  { "struct", EL_STRUCT, EL_VALUE },
	{ "member", EL_MEMBER, EL_STRUCT },	  { "name", EL_NAME, EL_MEMBER },
};

#define MAX_FRAMES (3 * XV_MAX_DEPTH + 8)

struct frame {
	enum el el;
	struct xv *val;  /* EL_VALUE: its value once known; EL_ARRAY/EL_STRUCT: the container */
	char *key;       /* EL_MEMBER: its name */
	bool typed;      /* EL_VALUE: a type element was seen */
	int depth;       /* values enclosing this frame */
};

struct parse {
	XML_Parser p;
	struct xml_call *call;
	struct frame stack[MAX_FRAMES];
	int top;         /* frames in use */
	struct sbuf text;
	size_t nodes;
	bool have_name;
	char *err;
	size_t errlen;
	bool failed;
};

__attribute__((format(printf, 2, 3))) static void fail(struct parse *ps, const char *fmt, ...)
{
	va_list ap;

	if (ps->failed)
		return;
	ps->failed = true;
	va_start(ap, fmt);
	vsnprintf(ps->err, ps->errlen, fmt, ap);
	va_end(ap);
	XML_StopParser(ps->p, XML_FALSE);
}

static struct frame *top(struct parse *ps)
{
	return ps->top ? &ps->stack[ps->top - 1] : NULL;
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct parse *ps = ud;
	struct frame *parent = top(ps), *f;
	enum el el = EL_NONE, want = EL_NONE;

	(void)attrs;
	if (ps->failed)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(grammar); i++) {
		if (strcmp(grammar[i].name, name) == 0) {
			el = grammar[i].el;
			want = grammar[i].parent;
			break;
		}
	}
	if (el == EL_NONE) {
		fail(ps, "unexpected element <%.64s>", name);
		return;
	}
	if (el == EL_VALUE) {
		if (!parent || (parent->el != EL_PARAM && parent->el != EL_DATA && parent->el != EL_MEMBER)) {
			fail(ps, "<value> outside <param>, <data> or <member>");
			return;
		}
		if (parent->el == EL_PARAM && parent->val) {
			fail(ps, "a <param> holds one <value>");
			return;
		}
		if (parent->el == EL_MEMBER && parent->val) {
			fail(ps, "a <member> holds one <value>");
			return;
		}
	} else if ((parent ? parent->el : EL_NONE) != want) {
		fail(ps, "<%.64s> is not allowed here", name);
		return;
	} else if (want == EL_VALUE && parent->typed) {
		fail(ps, "a <value> holds one typed element");
		return;
	}
	if (ps->top == MAX_FRAMES || (el == EL_VALUE && parent->depth >= XV_MAX_DEPTH)) {
		fail(ps, "values nested deeper than %d", XV_MAX_DEPTH);
		return;
	}
	if (++ps->nodes > XV_MAX_NODES) {
		fail(ps, "more than %d elements", XV_MAX_NODES);
		return;
	}
	if (want == EL_VALUE)
		parent->typed = true;
	f = &ps->stack[ps->top++];
	memset(f, 0, sizeof(*f));
	f->el = el;
	f->depth = (parent ? parent->depth : 0) + (el == EL_VALUE);
	if (el == EL_ARRAY)
		f->val = xv_array();
	else if (el == EL_STRUCT)
		f->val = xv_struct();
	else if (el == EL_METHODNAME && ps->have_name)
		fail(ps, "two <methodName>");
	else if (el == EL_PARAMS && ps->call->params)
		fail(ps, "two <params>");
	else if (el == EL_PARAMS)
		ps->call->params = xv_array();
	sbuf_reset(&ps->text);
}

static void on_text(void *ud, const XML_Char *s, int len)
{
	struct parse *ps = ud;

	if (!ps->failed && len > 0)
		sbuf_add(&ps->text, s, (size_t)len);
}

static const char *text(struct parse *ps)
{
	return ps->text.s ? ps->text.s : "";
}

/* A scalar element's text as a value, or NULL after fail(). */
static struct xv *scalar(struct parse *ps, enum el el)
{
	const char *t = text(ps);
	char *end;
	struct xv *v;

	switch (el) {
	case EL_INT: {
		long long i;

		errno = 0;
		i = strtoll(t, &end, 10);
		while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
			end++;
		if (errno || end == t || *end) {
			fail(ps, "bad <int> '%.32s'", t);
			return NULL;
		}
		return xv_int(i);
	}
	case EL_BOOLEAN:
		if (strcmp(t, "0") && strcmp(t, "1")) {
			fail(ps, "bad <boolean> '%.32s'", t);
			return NULL;
		}
		return xv_bool(t[0] == '1');
	case EL_DOUBLE: {
		double d;

		errno = 0;
		d = strtod(t, &end);
		if (errno || end == t || *end || !isfinite(d)) {
			fail(ps, "bad <double> '%.32s'", t);
			return NULL;
		}
		return xv_double(d);
	}
	case EL_NILTYPE:
		return xv_nil();
	default:
		v = xv_strn(t, ps->text.len);
		if (el == EL_BASE64)
			v->type = XV_BASE64;
		else if (el == EL_DATETIME)
			v->type = XV_DATETIME;
		return v;
	}
}

static void on_end(void *ud, const XML_Char *name)
{
	struct parse *ps = ud;
	struct frame *f, *parent;
	struct xv *v;

	(void)name;
	if (ps->failed || ps->top == 0)
		return;
	f = &ps->stack[--ps->top];
	parent = top(ps);
	switch (f->el) {
	case EL_METHODNAME:
		ps->call->method = xstrdup(text(ps));
		ps->have_name = true;
		break;
	case EL_NAME:
		if (parent->key)
			fail(ps, "a <member> holds one <name>");
		else
			parent->key = xstrdup(text(ps));
		break;
	case EL_VALUE:
		v = f->typed ? f->val : xv_strn(text(ps), ps->text.len);
		if (!v) {
			fail(ps, "empty typed <value>");
			break;
		}
		if (parent->el == EL_PARAM || parent->el == EL_MEMBER)
			parent->val = v;
		else /* EL_DATA: the frame below it is the array's, which holds the container */
			xv_push(ps->stack[ps->top - 2].val, v);
		break;
	case EL_ARRAY:
	case EL_STRUCT:
		parent->val = f->val;
		break;
	case EL_DATA:
		break;
	case EL_MEMBER:
		if (!f->key || !f->val) {
			fail(ps, "a <member> needs a <name> and a <value>");
			xv_free(f->val);
		} else {
			xv_set(parent->val, f->key, f->val);
		}
		free(f->key);
		break;
	case EL_PARAM:
		if (!f->val)
			fail(ps, "a <param> without a <value>");
		else
			xv_push(ps->call->params, f->val);
		break;
	case EL_CALL:
	case EL_PARAMS:
	case EL_NONE:
		break;
	default: /* a scalar */
		parent->val = scalar(ps, f->el);
		break;
	}
	sbuf_reset(&ps->text);
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
		       int internal)
{
	(void)name, (void)sysid, (void)pubid, (void)internal;
	fail(ud, "a DOCTYPE is not allowed");
}

/* Free what a failed parse left on the stack. */
static void unwind(struct parse *ps)
{
	while (ps->top > 0) {
		struct frame *f = &ps->stack[--ps->top];

		if (f->el == EL_VALUE || f->el == EL_ARRAY || f->el == EL_STRUCT || f->el == EL_MEMBER ||
		    f->el == EL_PARAM) {
			/* an array/struct frame's container is also its value frame's val once ended:
			 * containers are owned by the innermost frame that still holds them */
			xv_free(f->val);
		}
		free(f->key);
	}
}

int xml_call_parse(const char *body, size_t len, struct xml_call *call, char *err, size_t errlen)
{
	struct parse ps = { .call = call, .err = err, .errlen = errlen };
	enum XML_Status st;

	memset(call, 0, sizeof(*call));
	ps.p = XML_ParserCreate("UTF-8");
	if (!ps.p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	XML_SetUserData(ps.p, &ps);
	XML_SetElementHandler(ps.p, on_start, on_end);
	XML_SetCharacterDataHandler(ps.p, on_text);
	XML_SetStartDoctypeDeclHandler(ps.p, on_doctype);
	st = len > (size_t)INT32_MAX ? XML_STATUS_ERROR : XML_Parse(ps.p, body, (int)len, 1);
	if (!ps.failed && st != XML_STATUS_OK)
		snprintf(err, errlen, "not well-formed XML (line %lu: %s)",
			 (unsigned long)XML_GetCurrentLineNumber(ps.p), XML_ErrorString(XML_GetErrorCode(ps.p)));
	else if (!ps.failed && !ps.have_name)
		snprintf(err, errlen, "no <methodName>");
	else if (!ps.failed) {
		XML_ParserFree(ps.p);
		sbuf_done(&ps.text);
		if (!call->params)
			call->params = xv_array();
		return 0;
	}
	unwind(&ps);
	XML_ParserFree(ps.p);
	sbuf_done(&ps.text);
	xml_call_done(call);
	return -EINVAL;
}

void xml_call_done(struct xml_call *call)
{
	free(call->method);
	xv_free(call->params);
	memset(call, 0, sizeof(*call));
}

/* ---- writing ------------------------------------------------------------------ */

void xml_escape(struct sbuf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned char c = *p;
		size_t need;

		if (c == '&') {
			sbuf_adds(b, "&amp;");
		} else if (c == '<') {
			sbuf_adds(b, "&lt;");
		} else if (c == '>') {
			sbuf_adds(b, "&gt;");
		} else if (c == '\r') {
			sbuf_adds(b, "&#13;"); /* a raw CR would be read back as LF */
		} else if (c < 0x20 && c != '\t' && c != '\n') {
			/* not allowed in XML 1.0, even as a reference: dropped */
		} else if (c < 0x80) {
			sbuf_addc(b, (char)c);
		} else {
			need = utf8_seq_len(p, (size_t)(end - p));
			if (need) {
				sbuf_add(b, p, need);
				p += need;
				continue;
			}
			sbuf_adds(b, "\xEF\xBF\xBD"); /* U+FFFD for a byte that is not UTF-8 */
		}
		p++;
	}
}

void xv_write(struct sbuf *b, const struct xv *v)
{
	sbuf_adds(b, "<value>");
	switch (v->type) {
	case XV_NIL:
		sbuf_adds(b, "<nil/>");
		break;
	case XV_INT:
		sbuf_printf(b, "<int>%lld</int>", v->i);
		break;
	case XV_BOOL:
		sbuf_printf(b, "<boolean>%d</boolean>", v->i ? 1 : 0);
		break;
	case XV_DOUBLE:
		sbuf_printf(b, "<double>%.17g</double>", isfinite(v->d) ? v->d : 0.0);
		break;
	case XV_STRING:
		sbuf_adds(b, "<string>");
		xml_escape(b, v->s, v->len);
		sbuf_adds(b, "</string>");
		break;
	case XV_BASE64:
		sbuf_adds(b, "<base64>");
		xml_escape(b, v->s, v->len);
		sbuf_adds(b, "</base64>");
		break;
	case XV_DATETIME:
		sbuf_adds(b, "<dateTime.iso8601>");
		xml_escape(b, v->s, v->len);
		sbuf_adds(b, "</dateTime.iso8601>");
		break;
	case XV_ARRAY:
		sbuf_adds(b, "<array><data>\n");
		for (size_t i = 0; i < v->n; i++)
			xv_write(b, v->item[i]);
		sbuf_adds(b, "</data></array>");
		break;
	case XV_STRUCT:
		sbuf_adds(b, "<struct>\n");
		for (size_t i = 0; i < v->n; i++) {
			sbuf_adds(b, "<member><name>");
			xml_escape(b, v->key[i], strlen(v->key[i]));
			sbuf_adds(b, "</name>");
			xv_write(b, v->item[i]);
			sbuf_adds(b, "</member>\n");
		}
		sbuf_adds(b, "</struct>");
		break;
	}
	sbuf_adds(b, "</value>\n");
}

void xml_response(struct sbuf *b, const struct xv *v)
{
	sbuf_adds(b, "<?xml version=\"1.0\"?>\n<methodResponse>\n<params>\n<param>\n");
	xv_write(b, v);
	sbuf_adds(b, "</param>\n</params>\n</methodResponse>\n");
}

void xml_fault(struct sbuf *b, int code, const char *msg)
{
	struct xv *f = xv_struct();

	xv_set(f, "faultCode", xv_int(code));
	xv_set(f, "faultString", xv_str(msg));
	sbuf_adds(b, "<?xml version=\"1.0\"?>\n<methodResponse>\n<fault>\n");
	xv_write(b, f);
	sbuf_adds(b, "</fault>\n</methodResponse>\n");
	xv_free(f);
}
