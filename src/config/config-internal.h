/*
 * What the files of src/config share and nobody else uses:
 *
 *   lex.c     pass 1: files (libinih, includes, long and continuation lines)
 *             -> raw sections of raw key/value strings with their file:line
 *   values.c  value parsers (public ones in config.h) and %(...)s expansion
 *   keys.c    one table per section: a row per key (type, field, default,
 *             bounds, reload semantics) and the types that parse, compare,
 *             copy and free a row's field
 *   build.c   pass 2: raw sections -> struct config, driven by the tables,
 *             plus the rules across keys and sections
 *   load.c    the public entry points: config_load*, compose, free, equality
 */
#ifndef TEND_CONFIG_INTERNAL_H
#define TEND_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define MAX_CONFIG_BYTES (16 << 20)
#define MAX_NUMPROCS 10000

/* ---- pass 1: raw sections (lex.c) ---------------------------------------- */

struct raw_kv {
	char *key;   /* lower-cased */
	char *value;
	char *file;  /* borrowed from loader->files */
	int line;
};

struct raw_section {
	char *name;
	char *file;
	int line;
	struct raw_kv *kv;
	size_t nkv;
};

enum line_kind { LK_OTHER, LK_KEY, LK_CONT, LK_CHUNK };

struct loader {
	struct config_diag *diag;
	struct raw_section *secs;
	size_t nsecs;
	char **files;       /* every file read, owned here */
	size_t nfiles;
	char **stack;       /* realpaths of the files being read, for include loops */
	size_t depth;

	/* reader state for the file being parsed */
	const char *file;
	const char *text;
	size_t pos;
	int line;
	char **pieces;      /* pending pieces of the current physical line */
	size_t npieces, ipiece;
	enum line_kind *kinds;
	enum line_kind cur_kind;
	bool in_value;      /* previous logical line was key=value (or its continuation) */
	char **aliases;     /* long section names, fed to inih as "\x01<index>" */
	size_t naliases;
	struct raw_section *cur_sec;
	bool socket_only;   /* config_load_socket: keep only what the CLI needs */
	char *include_files; /* this file's [include] files= */
	int include_line;
};

/* Record "file:line: message" (or a warning) in d; an identical message is kept once. */
void cfg_diag_add(struct config_diag *d, bool warning, const char *file, int line, const char *fmt,
		  ...) __attribute__((format(printf, 5, 6)));

#define ERR(L, file, line, ...) cfg_diag_add((L)->diag, false, file, line, __VA_ARGS__)
#define WARN(L, file, line, ...) cfg_diag_add((L)->diag, true, file, line, __VA_ARGS__)

/* The key of section s, or NULL. */
struct raw_kv *cfg_section_kv(const struct raw_section *s, const char *key);

/* Read path (and what it includes) into L's raw sections; from_file:from_line included it. */
int cfg_load_file(struct loader *L, const char *path, const char *from_file, int from_line);

/* Read text as the file named file (a name from cfg_remember_file). */
void cfg_parse_text(struct loader *L, const char *file, const char *text);

/* Keep a copy of path for L's lifetime; returns it. */
char *cfg_remember_file(struct loader *L, const char *path);

/* Free everything L holds (not its diag). */
void cfg_loader_done(struct loader *L);

/* The directory part of path ("." without a slash); caller frees. */
char *cfg_dir_of(const char *path);

/* Strip trailing white space in place. */
void cfg_rstrip(char *s);

/* ---- values (values.c) --------------------------------------------------- */

/* Append s (taken) to the NULL-terminated vector *v of *n entries. */
void cfg_strv_push(char ***v, size_t *n, char *s);

/* Put KEY=VALUE into *env, replacing an earlier KEY in place. */
void cfg_env_set(char ***env, const char *kv);

/* Octal number 0..max: 0 or -EINVAL. */
int cfg_parse_octal(const char *s, long max, long *ret);

/* "0,2, 255": a bitmap over 0..255 in bits[4]; 0 or -EINVAL (bits untouched). */
int cfg_parse_exitcodes(const char *s, uint64_t bits[4]);

/* "HOST:PORT", "[V6]:PORT" or "PORT" (host 127.0.0.1); 0 or -EINVAL. */
int cfg_parse_hostport(const char *s, char **ret_host, int *ret_port);

/* Levenshtein distance of two short strings (99 when either is 63 bytes or longer). */
size_t cfg_edit_distance(const char *a, const char *b);

/* A program, group or process name: non-empty, no ':', '/', ',', space or control byte. */
bool cfg_valid_name(const char *n);

/* What %(name)s may refer to. */
struct xvars {
	const char *here;
	const char *host_node_name;
	const char *program_name; /* NULL outside program sections */
	const char *group_name;
	long process_num;
	long numprocs;
	bool have_num;
};

/*
 * Expand "%(name)[flags][width][.precision]conv" and "%%" in `in`.
 * Conversions: s, r (string), d, i, u, x, X, o (numbers).  Returns 0 with
 * *ret (caller frees), or -EINVAL with a message in err.
 */
int cfg_expand(const char *in, const struct xvars *v, char **ret, char *err, size_t errlen);

/* ---- building (build.c) --------------------------------------------------- */

void cfg_build(struct loader *L, struct config *c);
void cfg_build_unix_http(struct loader *L, struct config *c, struct raw_section *s, const struct xvars *base);
void cfg_build_ctl(struct loader *L, struct config *c, struct raw_section *s, const struct xvars *base);
void cfg_proc_free(struct proc_config *pc);

#endif
