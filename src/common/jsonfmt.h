/*
 * JSON text indented as jansson's JSON_INDENT(2) prints it, without
 * building a tree: `tend status --json` with 1000 programs printed 500 KB
 * of the daemon's answer through json_loadb + json_dumps (three quarters of
 * the command's instructions); this copies it in one pass.  The input must
 * be JSON (the daemon's answer); the output is the same document, strings
 * and numbers exactly as given, whitespace as jansson's indent.
 */
#ifndef TEND_JSONFMT_H
#define TEND_JSONFMT_H

#include <stddef.h>
#include <stdio.h>

#include "common/util.h"

/* Append the n bytes of JSON text s to out, indented by 2, ending in a newline. */
void json_indent(struct sbuf *out, const char *s, size_t n);

/* The same, written to f as it goes (64 KB at a time: no copy of the whole).  0, or -1 on a write error. */
int json_indent_to(FILE *f, const char *s, size_t n);

/*
 * The same over a document that comes in pieces (a socket's reads): feed
 * each piece as it comes, in order, then end.  With f, the output is
 * written to f whenever 64 KB is buffered, so neither the document nor its
 * indented text is ever held whole; without, it is all in ji->out.
 */
struct json_indenter {
	struct sbuf out;
	FILE *f;
	int depth;
	char open;	  /* a '{' or '[' whose line break waits for the next token */
	bool in_string;	  /* inside a string (it goes on in the next piece) */
	bool escaped;	  /* the string's last character was an escaping backslash */
	bool failed;	  /* a write to f failed */
};

void json_indent_init(struct json_indenter *ji, FILE *f);
void json_indent_feed(struct json_indenter *ji, const char *s, size_t n);
/* The final newline, and with f: the rest written and flushed, the buffer freed.  0, or -1 on a write error. */
int json_indent_end(struct json_indenter *ji);

#endif
