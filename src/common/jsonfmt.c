#include "common/jsonfmt.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void newline(struct sbuf *out, int depth)
{
	static const char spaces[] = "                                                                ";
	size_t want = 2 * (size_t)(depth > 0 ? depth : 0);

	sbuf_addc(out, '\n');
	while (want > 0) {
		size_t n = want < sizeof(spaces) - 1 ? want : sizeof(spaces) - 1;

		sbuf_add(out, spaces, n);
		want -= n;
	}
}

/* a delimiter of a number, true, false or null */
static bool ends_scalar(char c)
{
	switch (c) {
	case ',': case ':': case '{': case '}': case '[': case ']': case '"':
	case ' ': case '\t': case '\n': case '\r': case '\0':
		return true;
	default:
		return false;
	}
}

/* Written out (to f) whenever this much is buffered: the output never grows past it. */
#define FLUSH_AT (64 * 1024)

void json_indent_init(struct json_indenter *ji, FILE *f)
{
	*ji = (struct json_indenter){ .out = SBUF_INIT, .f = f };
	if (f)
		sbuf_grow(&ji->out, FLUSH_AT + 4096);
}

/*
 * The rest of a string from s[i], up to and with its closing quote (or to
 * the end of the piece: the string goes on in the next).  Runs without a
 * backslash are found with memchr and copied whole.  Returns the index
 * after what it took.
 */
static size_t string_rest(struct json_indenter *ji, const char *s, size_t i, size_t n)
{
	size_t from = i;

	while (i < n) {
		const char *q, *bs;

		if (ji->escaped) { /* the character after a backslash, whatever it is */
			ji->escaped = false;
			i++;
			continue;
		}
		q = memchr(s + i, '"', n - i);
		bs = memchr(s + i, '\\', (size_t)((q ? q : s + n) - (s + i)));
		if (bs) {
			ji->escaped = true;
			i = (size_t)(bs - s) + 1;
			continue;
		}
		if (!q) {
			i = n;
			break;
		}
		i = (size_t)(q - s) + 1;
		ji->in_string = false;
		break;
	}
	sbuf_add(&ji->out, s + from, i - from);
	return i;
}

void json_indent_feed(struct json_indenter *ji, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		char ch;

		if (ji->f && ji->out.len >= FLUSH_AT) {
			if (fwrite(ji->out.s, 1, ji->out.len, ji->f) != ji->out.len)
				ji->failed = true;
			sbuf_reset(&ji->out);
		}
		if (ji->in_string) {
			i = string_rest(ji, s, i, n);
			continue;
		}
		ch = s[i];
		if (ji->open) {
			/* after { or [: {} and [] stay on one line, else a new line in */
			if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
				i++;
				continue;
			}
			if (ch == (ji->open == '{' ? '}' : ']')) {
				sbuf_addc(&ji->out, ch);
				ji->open = 0;
				i++;
				continue;
			}
			ji->open = 0;
			newline(&ji->out, ++ji->depth);
		}
		switch (ch) {
		case '"':
			sbuf_addc(&ji->out, '"');
			ji->in_string = true;
			i++;
			continue;
		case '{':
		case '[':
			sbuf_addc(&ji->out, ch);
			ji->open = ch;
			break;
		case '}':
		case ']':
			newline(&ji->out, --ji->depth);
			sbuf_addc(&ji->out, ch);
			break;
		case ',':
			sbuf_addc(&ji->out, ',');
			newline(&ji->out, ji->depth);
			break;
		case ':':
			sbuf_add(&ji->out, ": ", 2);
			break;
		case ' ':
		case '\t':
		case '\n':
		case '\r':
			break;
		default: {
			/* a number, true, false or null: up to the next delimiter (or
			 * the end of the piece; the next goes on with it) */
			size_t j = i;

			while (j < n && !ends_scalar(s[j]))
				j++;
			if (j == i)
				j++; /* not JSON (a NUL): copied, never stuck on */
			sbuf_add(&ji->out, s + i, j - i);
			i = j;
			continue;
		}
		}
		i++;
	}
}

int json_indent_end(struct json_indenter *ji)
{
	int r;

	sbuf_addc(&ji->out, '\n');
	if (!ji->f)
		return 0;
	if (fwrite(ji->out.s, 1, ji->out.len, ji->f) != ji->out.len)
		ji->failed = true;
	sbuf_done(&ji->out);
	r = ji->failed || fflush(ji->f) != 0 || ferror(ji->f) ? -1 : 0;
	return r;
}

void json_indent(struct sbuf *out, const char *s, size_t n)
{
	struct json_indenter ji;

	json_indent_init(&ji, NULL);
	ji.out = *out;
	/* the indented text is about 1.6 times the compact one */
	sbuf_grow(&ji.out, n + n * 2 / 3 + 64);
	json_indent_feed(&ji, s, n);
	json_indent_end(&ji);
	*out = ji.out;
}

int json_indent_to(FILE *f, const char *s, size_t n)
{
	struct json_indenter ji;

	json_indent_init(&ji, f);
	json_indent_feed(&ji, s, n);
	return json_indent_end(&ji);
}
