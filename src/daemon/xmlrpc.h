/*
 * XML-RPC values: parse a <methodCall> (with expat) into a tree of struct xv,
 * and write values, responses and faults back as XML.
 *
 * Parsing is bounded and refuses what XML-RPC never needs: a DOCTYPE (so no
 * entity can be declared or expanded), values nested deeper than
 * XV_MAX_DEPTH, more than XV_MAX_NODES values, elements outside the grammar.
 * Every refusal is -EINVAL with a message for the fault string; the parser
 * never trusts a length it did not count itself.
 */
#ifndef TEND_XMLRPC_H
#define TEND_XMLRPC_H

#include <stdbool.h>
#include <stddef.h>

#include "common/util.h"

#define XV_MAX_DEPTH 32
#define XV_MAX_NODES 100000

enum xv_type {
	XV_NIL,
	XV_INT,
	XV_BOOL,
	XV_DOUBLE,
	XV_STRING,
	XV_BASE64,   /* kept encoded, as received */
	XV_DATETIME, /* kept as text */
	XV_ARRAY,
	XV_STRUCT,
};

struct xv {
	enum xv_type type;
	long long i;      /* XV_INT, XV_BOOL */
	double d;         /* XV_DOUBLE */
	char *s;          /* XV_STRING, XV_BASE64, XV_DATETIME (NUL-terminated) */
	size_t len;
	struct xv **item; /* XV_ARRAY, XV_STRUCT */
	char **key;       /* XV_STRUCT: key[i] names item[i] */
	size_t n, cap;
};

/* Constructors (never fail; xv_free releases a whole tree). */
struct xv *xv_nil(void);
struct xv *xv_int(long long i);
struct xv *xv_bool(bool b);
struct xv *xv_double(double d);
struct xv *xv_str(const char *s);
struct xv *xv_strn(const char *s, size_t len);
struct xv *xv_array(void);
struct xv *xv_struct(void);
/* Append to an array; returns v.  Takes ownership of item. */
struct xv *xv_push(struct xv *arr, struct xv *item);
/* Add key to a struct; returns st.  Takes ownership of item. */
struct xv *xv_set(struct xv *st, const char *key, struct xv *item);
/* Member of a struct, or NULL. */
const struct xv *xv_get(const struct xv *st, const char *key);
void xv_free(struct xv *v);

struct xml_call {
	char *method;
	struct xv *params; /* an XV_ARRAY */
};

/*
 * Parse a <methodCall>.  Returns 0 and fills *call, or -EINVAL with a
 * description in err (errlen bytes).  Release with xml_call_done().
 */
int xml_call_parse(const char *body, size_t len, struct xml_call *call, char *err, size_t errlen);
void xml_call_done(struct xml_call *call);

/* Append a value as <value>...</value>. */
void xv_write(struct sbuf *b, const struct xv *v);
/* A whole <methodResponse> with one value / with a fault. */
void xml_response(struct sbuf *b, const struct xv *v);
void xml_fault(struct sbuf *b, int code, const char *msg);
/* Append text with &, <, > escaped and bytes that XML 1.0 forbids dropped. */
void xml_escape(struct sbuf *b, const char *s, size_t len);

#endif
