/*
 * Pass 1 of loading: files -> raw sections.
 *
 * libinih parses each file, but through our own line reader, which (a)
 * counts physical lines so every key keeps its file:line, (b) applies
 * supervisord's comment rules (";" and "#" full-line, " ;" and " #" inline,
 * as Python's ConfigParser with inline_comment_prefixes), (c) reports
 * malformed lines itself, so every one is listed, and (d) feeds lines longer
 * than Debian's libinih buffer (INI_MAX_LINE = 200) as a first piece plus
 * continuation pieces marked with a \x01 byte, which the handler joins back
 * without a newline.  Section names longer than inih's 50-byte buffer are
 * fed as short aliases.  The result is a list of raw sections holding raw
 * key/value strings with their lines; [include] files= are read as they come.
 */
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "config/config-internal.h"

#define MAX_INCLUDE_DEPTH 10
/* Longest piece handed to inih; its buffer is 200 bytes with the newline and NUL. */
#define PIECE_MAX 180
#define ALIAS_ABOVE 40
#define CHUNK_MARK '\x01'

const char *cfg_shown_name(const char *name)
{
	size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-*%()");

	return n > 0 && n <= 64 && name[n] == '\0' ? name : "(not shown: not a name)";
}

void cfg_diag_add(struct config_diag *d, bool warning, const char *file, int line, const char *fmt,
		  ...)
{
	struct sbuf b = SBUF_INIT;
	char ***v = warning ? &d->warnings : &d->errors;
	size_t *n = warning ? &d->nwarnings : &d->nerrors;
	va_list ap;

	if (file && line > 0)
		sbuf_printf(&b, "%s:%d: ", file, line);
	else if (file)
		sbuf_printf(&b, "%s: ", file);
	if (warning)
		sbuf_adds(&b, "warning: ");
	va_start(ap, fmt);
	sbuf_vprintf(&b, fmt, ap);
	va_end(ap);
	/* numprocs instances of one section would repeat the same message */
	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*v)[i], b.s) == 0) {
			sbuf_done(&b);
			return;
		}
	}
	*v = xrealloc(*v, (*n + 2) * sizeof(**v));
	(*v)[(*n)++] = sbuf_take(&b);
	(*v)[*n] = NULL;
}

/* The section called name, made when it is new (sections of one name merge, as in supervisord). */
static struct raw_section *section_get(struct loader *L, const char *name)
{
	size_t i;

	if (cfg_index_get(&L->sec_index, name, &i))
		return &L->secs[i];
	if (L->nsecs == L->secs_cap) {
		/* doubling: 10,000 programs are 10,000 sections */
		L->secs_cap = L->secs_cap ? 2 * L->secs_cap : 16;
		L->secs = xrealloc(L->secs, L->secs_cap * sizeof(*L->secs));
	}
	L->secs[L->nsecs] = (struct raw_section){
		.name = xstrdup(name),
		.kind = cfg_section_kind(name),
		.file = (char *)L->st.file,
		.line = L->st.line,
	};
	cfg_index_add(&L->sec_index, L->secs[L->nsecs].name, L->nsecs);
	return &L->secs[L->nsecs++];
}

struct raw_kv *cfg_section_kv(const struct raw_section *s, const char *key)
{
	for (size_t i = 0; i < s->nkv; i++)
		if (s->kv[i].key[0] == key[0] && strcmp(s->kv[i].key, key) == 0)
			return &s->kv[i];
	return NULL;
}

static void pieces_clear(struct loader *L)
{
	for (size_t i = 0; i < L->st.npieces; i++)
		free(L->st.pieces[i]);
	L->st.npieces = L->st.ipiece = 0;
}

/* The end of a file's reading: what the reader kept from line to line goes. */
static void reader_done(struct loader *L)
{
	pieces_clear(L);
	free(L->st.pieces);
	free(L->st.kinds);
	free(L->st.raw);
	L->st.pieces = NULL;
	L->st.kinds = NULL;
	L->st.raw = NULL;
	L->st.cap = L->st.raw_cap = 0;
}

static void piece_push(struct loader *L, char *s, enum line_kind kind)
{
	if (L->st.npieces == L->st.cap) {
		L->st.cap = L->st.cap ? 2 * L->st.cap : 8;
		L->st.pieces = xrealloc(L->st.pieces, L->st.cap * sizeof(*L->st.pieces));
		L->st.kinds = xrealloc(L->st.kinds, L->st.cap * sizeof(*L->st.kinds));
	}
	L->st.pieces[L->st.npieces] = s;
	L->st.kinds[L->st.npieces++] = kind;
}

/*
 * Cut a long line into pieces inih can hold.  A piece never ends in white
 * space (inih strips it), later pieces start with " \x01" so that inih takes
 * them as continuation lines and the handler knows to join them without a
 * newline.
 */
static void push_long(struct loader *L, const char *s, enum line_kind kind)
{
	size_t len = strlen(s), off = 0;
	bool first = true;

	while (off < len) {
		size_t take = len - off;

		if (take > PIECE_MAX) {
			take = PIECE_MAX;
			while (take > 1 && isspace((unsigned char)s[off + take - 1]))
				take--;
			if (take <= 1) {
				ERR(L, L->st.file, L->st.line, "line too long and mostly blank");
				return;
			}
		}
		if (first)
			piece_push(L, xstrndup(s, take), kind);
		else
			piece_push(L, xasprintf(" %c%.*s", CHUNK_MARK, (int)take, s + off), LK_CHUNK);
		first = false;
		off += take;
	}
}

/* Strip an inline comment: ';' or '#' preceded by white space. */
static void strip_inline_comment(char *s)
{
	for (char *p = s + 1; *p; p++) {
		if ((*p == ';' || *p == '#') && isspace((unsigned char)p[-1])) {
			*p = '\0';
			return;
		}
	}
}

void cfg_rstrip(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

/* Whether the n bytes at s name a section config_load_socket reads. */
static bool socket_section_n(const char *s, size_t n)
{
	return (n == 16 && memcmp(s, "unix_http_server", 16) == 0) || (n == 13 && memcmp(s, "supervisorctl", 13) == 0) ||
	       (n == 7 && memcmp(s, "include", 7) == 0);
}

static bool socket_section(const char *name)
{
	return socket_section_n(name, strlen(name));
}

/* Classify one physical line and queue what inih should see of it. */
static void lex_line(struct loader *L, char *raw)
{
	char *p = raw;
	size_t lead;

	if (L->st.line == 1 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
	    (unsigned char)p[2] == 0xBF)
		p += 3;
	for (char *q = p; *q; q++) {
		if ((unsigned char)*q < 0x20 && *q != '\t') {
			ERR(L, L->st.file, L->st.line, "control character (0x%02x) in line",
			    (unsigned char)*q);
			piece_push(L, xstrdup(""), LK_OTHER);
			L->st.in_value = false;
			return;
		}
	}
	cfg_rstrip(p);
	lead = strspn(p, " \t");
	if (p[lead] == '\0' || p[lead] == ';' || p[lead] == '#') {
		/* blank or comment: a multi-line value may go on after it */
		piece_push(L, xstrdup(""), LK_OTHER);
		return;
	}
	strip_inline_comment(p + lead);
	cfg_rstrip(p);

	if (p[lead] == '[') {
		char *end = strchr(p + lead + 1, ']');
		char *name;

		L->st.in_value = false;
		L->st.skim = false;
		if (!end) {
			/* what a line says is never printed: it may come from any file ([include] /etc/shadow) */
			ERR(L, L->st.file, L->st.line, "not a [section] line: no closing ']'");
			L->st.cur_sec = NULL;
			piece_push(L, xstrdup(""), LK_OTHER);
			return;
		}
		name = xstrndup(p + lead + 1, (size_t)(end - p - lead - 1));
		if (!*name) {
			ERR(L, L->st.file, L->st.line, "empty section name");
			free(name);
			L->st.cur_sec = NULL;
			piece_push(L, xstrdup(""), LK_OTHER);
			return;
		}
		if (L->socket_only && !socket_section(name)) {
			L->st.cur_sec = NULL;
			L->st.skim = true;
			free(name); /* inih is not told: nothing of it is read */
			return;
		}
		L->st.cur_sec = section_get(L, name);
		if (strlen(name) > ALIAS_ABOVE) {
			L->aliases = xrealloc(L->aliases, (L->naliases + 1) * sizeof(*L->aliases));
			L->aliases[L->naliases] = name;
			piece_push(L, xasprintf("[%c%zu]", CHUNK_MARK, L->naliases), LK_OTHER);
			L->naliases++;
		} else {
			/* "[name]": name's own buffer, moved over by one (no printf per section) */
			size_t n = strlen(name);

			name = xrealloc(name, n + 3);
			memmove(name + 1, name, n);
			name[0] = '[';
			name[n + 1] = ']';
			name[n + 2] = '\0';
			piece_push(L, name, LK_OTHER);
		}
		return;
	}
	if (lead > 0 && L->st.in_value) {
		push_long(L, p, LK_CONT);
		return;
	}
	if (!strpbrk(p + lead, "=:")) {
		ERR(L, L->st.file, L->st.line, "not a key = value line (nor a [section])");
		L->st.in_value = false;
		piece_push(L, xstrdup(""), LK_OTHER);
		return;
	}
	if (!L->st.cur_sec) {
		ERR(L, L->st.file, L->st.line, "not a key = value line under a [section] (it comes before any)");
		L->st.in_value = false;
		piece_push(L, xstrdup(""), LK_OTHER);
		return;
	}
	L->st.in_value = true;
	push_long(L, p + lead, LK_KEY);
}

/*
 * config_load_socket skims: a section it does not read is not kept, and
 * inside it a line that cannot start a section is not lexed.  Skimming,
 * move to the next line whose first non-blank is '[' (memchr from
 * '[' to '['), passing the header lines of other unread sections as
 * lex_line would (skim stays on): "[name]" with only blanks around it and no
 * control character.  Anything else that may start a section is left to
 * lex_line.  A line at a time, the 50,000 lines of 10,000 programs were 87%
 * of `tend status`'s instructions (issue 18).
 */
static void skim_ahead(struct loader *L)
{
	const char *text = L->st.text, *end = text + L->st.len, *p = text + L->st.pos, *from = p;

	while (p < end) {
		const char *b = memchr(p, '[', (size_t)(end - p)), *ls, *nl, *q, *close;
		bool skip;

		if (!b) {
			p = end;
			break;
		}
		nl = memchr(b, '\n', (size_t)(end - b));
		if (!nl)
			nl = end;
		/* p is the start of b's line or of one before it */
		for (ls = b; ls > p && (ls[-1] == ' ' || ls[-1] == '\t'); ls--)
			;
		if (ls > p && ls[-1] != '\n') {
			p = nl < end ? nl + 1 : end; /* '[' inside a line: the line is passed */
			continue;
		}
		close = memchr(b, ']', (size_t)(nl - b));
		skip = close && close > b + 1 && !socket_section_n(b + 1, (size_t)(close - b - 1));
		if (skip) {
			for (q = b + 1; q < close && ((unsigned char)*q >= 0x20 || *q == '\t'); q++)
				;
			skip = q == close;
		}
		if (skip) {
			for (q = close + 1; q < nl && (*q == ' ' || *q == '\t'); q++)
				;
			skip = q == nl;
		}
		if (!skip) {
			p = ls;
			break;
		}
		p = nl < end ? nl + 1 : end;
	}
	/* the lines passed are counted only if a line is lexed after them
	 * (usually none is: the sections after the socket's are all passed) */
	if (L->st.skimmed == SIZE_MAX)
		L->st.skimmed = (size_t)(from - text);
	L->st.pos = (size_t)(p - text);
}

/* Count the lines skim_ahead passed, before a line after them is lexed. */
static void count_skimmed(struct loader *L)
{
	const char *q = L->st.text + L->st.skimmed, *end = L->st.text + L->st.pos;

	for (; (q = memchr(q, '\n', (size_t)(end - q))) != NULL; q++)
		L->st.line++;
	L->st.skimmed = SIZE_MAX;
}

/* inih's reader: hand out one piece at a time, with a trailing newline. */
static char *cfg_reader(char *str, int num, void *stream)
{
	struct loader *L = stream;
	const char *nl;
	char *raw;
	size_t len;

	while (L->st.ipiece >= L->st.npieces) {
		pieces_clear(L);
		if (L->st.skim)
			skim_ahead(L);
		if (!L->st.text[L->st.pos])
			return NULL;
		if (L->st.skimmed != SIZE_MAX)
			count_skimmed(L);
		nl = strchr(L->st.text + L->st.pos, '\n');
		len = nl ? (size_t)(nl - L->st.text - L->st.pos) : strlen(L->st.text + L->st.pos);
		if (len + 1 > L->st.raw_cap) {
			L->st.raw_cap = MAX(len + 1, 2 * L->st.raw_cap);
			L->st.raw = xrealloc(L->st.raw, L->st.raw_cap);
		}
		raw = memcpy(L->st.raw, L->st.text + L->st.pos, len);
		raw[len] = '\0';
		L->st.pos += len + (nl ? 1 : 0);
		L->st.line++;
		lex_line(L, raw);
	}
	{
		/* what snprintf(str, num, "%s\n", piece) writes, without its cost (40% of lexing) */
		const char *piece = L->st.pieces[L->st.ipiece];
		size_t n = strlen(piece), room = num > 0 ? (size_t)num - 1 : 0;

		if (n > room)
			n = room;
		memcpy(str, piece, n);
		if (n < room)
			str[n++] = '\n';
		if (num > 0)
			str[n] = '\0';
	}
	L->st.cur_kind = L->st.kinds[L->st.ipiece];
	L->st.ipiece++;
	return str;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
	struct loader *L = user;
	struct raw_section *s = L->st.cur_sec;
	struct raw_kv *kv;
	char *key;

	(void)section; /* cur_sec already tracks it, aliases included */
	if (!s)
		return 1;
	if (L->socket_only && !socket_section(s->name))
		return 1;
	key = xstrdup(name);
	for (char *p = key; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	kv = cfg_section_kv(s, key);
	if (L->st.cur_kind == LK_KEY) {
		if (!kv) {
			s->kv = xrealloc(s->kv, (s->nkv + 1) * sizeof(*s->kv));
			kv = &s->kv[s->nkv++];
			*kv = (struct raw_kv){ .key = key };
			key = NULL;
		}
		free(kv->value);
		kv->value = xstrdup(value);
		kv->len = strlen(value);
		kv->cap = kv->len + 1;
		kv->file = (char *)L->st.file;
		kv->line = L->st.line;
		if (strcmp(s->name, "include") == 0 && strcmp(kv->key, "files") == 0) {
			free(L->st.include_files);
			L->st.include_files = xstrdup(value);
			L->st.include_line = L->st.line;
		}
	} else if (kv) {
		/* a continuation: a piece of a long line (joined as is) or a line of its own */
		bool chunk = L->st.cur_kind == LK_CHUNK && value[0] == CHUNK_MARK;
		const char *add = chunk ? value + 1 : value;
		size_t n = strlen(add), need = kv->len + n + 2;

		if (need > kv->cap) {
			kv->cap = need > 2 * kv->cap ? need : 2 * kv->cap;
			kv->value = xrealloc(kv->value, kv->cap);
		}
		if (!chunk)
			kv->value[kv->len++] = '\n';
		memcpy(kv->value + kv->len, add, n + 1);
		kv->len += n;
		if (strcmp(s->name, "include") == 0 && strcmp(kv->key, "files") == 0) {
			free(L->st.include_files);
			L->st.include_files = xstrdup(kv->value);
		}
	}
	free(key);
	return 1;
}

char *cfg_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

static void load_includes(struct loader *L, const char *file, const char *files, int line)
{
	char *dir = cfg_dir_of(file), *copy = xstrdup(files), *save = NULL;

	for (char *pat = strtok_r(copy, " \t\n,", &save); pat; pat = strtok_r(NULL, " \t\n,", &save)) {
		char *full = pat[0] == '/' ? xstrdup(pat) : xasprintf("%s/%s", dir, pat);
		glob_t g;
		/* like Python's glob: a directory that does not exist simply matches nothing */
		int r = glob(full, 0, NULL, &g);

		if (r == 0) {
			for (size_t i = 0; i < g.gl_pathc; i++)
				cfg_load_file(L, g.gl_pathv[i], file, line);
		} else if (r != GLOB_NOMATCH) {
			ERR(L, file, line, "include '%s': cannot read the directory", pat);
		} else if (!strpbrk(pat, "*?[")) {
			ERR(L, file, line, "include '%s': no such file", pat);
		}
		globfree(&g);
		free(full);
	}
	free(copy);
	free(dir);
}

void cfg_parse_text(struct loader *L, const char *file, const char *text)
{
	struct lex_state saved = L->st;
	char *inc;
	int inc_line;

	L->st = (struct lex_state){ .file = file, .text = text, .len = strlen(text), .skimmed = SIZE_MAX };
	ini_parse_stream(cfg_reader, L, cfg_handler, L);
	reader_done(L);
	inc = L->st.include_files;
	inc_line = L->st.include_line;
	L->st = saved; /* the including file's reader state */
	if (inc) {
		load_includes(L, file, inc, inc_line);
		free(inc);
	}
}

char *cfg_remember_file(struct loader *L, const char *path)
{
	L->files = xrealloc(L->files, (L->nfiles + 1) * sizeof(*L->files));
	L->files[L->nfiles] = xstrdup(path);
	return L->files[L->nfiles++];
}

int cfg_load_file(struct loader *L, const char *path, const char *from_file, int from_line)
{
	char real[PATH_MAX], *text = NULL, *file;
	int r;

	if (!realpath(path, real)) {
		r = -errno;
		ERR(L, from_file ? from_file : path, from_line, "cannot read '%s': %s", path,
		    strerror(-r));
		return r;
	}
	for (size_t i = 0; i < L->depth; i++) {
		if (strcmp(L->stack[i], real) == 0) {
			ERR(L, from_file, from_line, "include loop: '%s' includes itself", path);
			return -ELOOP;
		}
	}
	if (L->depth >= MAX_INCLUDE_DEPTH) {
		ERR(L, from_file, from_line, "includes nested deeper than %d", MAX_INCLUDE_DEPTH);
		return -ELOOP;
	}
	r = read_file(real, MAX_CONFIG_BYTES, &text, NULL);
	if (r < 0) {
		ERR(L, from_file ? from_file : path, from_line, "cannot read '%s': %s", path,
		    strerror(-r));
		return r;
	}
	file = cfg_remember_file(L, from_file ? real : path);
	L->stack = xrealloc(L->stack, (L->depth + 1) * sizeof(*L->stack));
	L->stack[L->depth++] = xstrdup(real);
	cfg_parse_text(L, file, text);
	free(L->stack[--L->depth]);
	free(text);
	return 0;
}

void cfg_loader_done(struct loader *L)
{
	for (size_t i = 0; i < L->nsecs; i++) {
		for (size_t j = 0; j < L->secs[i].nkv; j++) {
			free(L->secs[i].kv[j].key);
			free(L->secs[i].kv[j].value);
		}
		free(L->secs[i].kv);
		free(L->secs[i].name);
	}
	free(L->secs);
	cfg_index_done(&L->sec_index);
	for (size_t i = 0; i < L->nfiles; i++)
		free(L->files[i]);
	free(L->files);
	free(L->stack);
	for (size_t i = 0; i < L->naliases; i++)
		free(L->aliases[i]);
	free(L->aliases);
}
