#include "common/jsonfmt.h"

#include <stdbool.h>
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

void json_indent(struct sbuf *out, const char *s, size_t n)
{
	int depth = 0;

	sbuf_grow(out, n + n / 4 + 64);
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		switch (ch) {
		case '"': {
			/* a string, escapes and all, copied as one run */
			size_t j = i + 1;

			while (j < n && s[j] != '"')
				j += s[j] == '\\' ? 2 : 1;
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
