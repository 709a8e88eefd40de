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

/* Whether the quote at s[end] is escaped: an odd run of backslashes before it (not before start). */
static bool odd_backslashes(const char *s, size_t start, size_t end)
{
	size_t k = end;

	while (k > start && s[k - 1] == '\\')
		k--;
	return (end - k) % 2 == 1;
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

static void indent(struct sbuf *out, const char *s, size_t n, FILE *f)
{
	int depth = 0;

	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (f && out->len >= FLUSH_AT) {
			fwrite(out->s, 1, out->len, f);
			sbuf_reset(out);
		}

		switch (ch) {
		case '"': {
			/* a string, escapes and all, copied as one run */
			size_t j = i + 1;

			for (;;) {
				const char *q = memchr(s + j, '"', n - j);

				j = q ? (size_t)(q - s) : n;
				if (j >= n || !odd_backslashes(s, i + 1, j))
					break;
				j++; /* an escaped quote: the string goes on */
			}
			if (j >= n)
				j = n - 1;
			sbuf_add(out, s + i, j - i + 1);
			i = j;
			break;
		}
		case '{':
		case '[': {
			size_t j = i + 1;

			while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r'))
				j++;
			sbuf_addc(out, ch);
			if (j < n && s[j] == (ch == '{' ? '}' : ']')) {
				sbuf_addc(out, s[j]); /* {} and [] stay on one line */
				i = j;
			} else {
				newline(out, ++depth);
			}
			break;
		}
		case '}':
		case ']':
			newline(out, --depth);
			sbuf_addc(out, ch);
			break;
		case ',':
			sbuf_addc(out, ',');
			newline(out, depth);
			break;
		case ':':
			sbuf_add(out, ": ", 2);
			break;
		case ' ':
		case '\t':
		case '\n':
		case '\r':
			break;
		default: {
			/* a number, true, false or null: up to the next delimiter */
			size_t j = i;

			while (j < n && !ends_scalar(s[j]))
				j++;
			sbuf_add(out, s + i, j - i);
			i = j - 1;
			break;
		}
		}
	}
	sbuf_addc(out, '\n');
}

void json_indent(struct sbuf *out, const char *s, size_t n)
{
	/* the indented text is about 1.6 times the compact one */
	sbuf_grow(out, n + n * 2 / 3 + 64);
	indent(out, s, n, NULL);
}

int json_indent_to(FILE *f, const char *s, size_t n)
{
	struct sbuf b = SBUF_INIT;

	sbuf_grow(&b, FLUSH_AT + 4096);
	indent(&b, s, n, f);
	fwrite(b.s, 1, b.len, f);
	sbuf_done(&b);
	return ferror(f) ? -1 : 0;
}
