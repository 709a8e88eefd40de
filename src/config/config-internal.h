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

/* Names (borrowed, they must outlive it) -> indexes: an open-addressing hash table. */
struct name_index {
	struct {
		const char *name;
		size_t value;
	} *slots;
	size_t cap, n;
};

/* The value of name in *ret, or false. */
bool cfg_index_get(const struct name_index *ix, const char *name, size_t *ret);

/* Add name -> value; false (nothing changed) when name is there already. */
bool cfg_index_add(struct name_index *ix, const char *name, size_t value);

void cfg_index_done(struct name_index *ix);

struct raw_kv {
	char *key;   /* lower-cased */
	char *value;
	size_t len, cap; /* of value, which continuation lines extend (doubling: linear in its length) */
	char *file;  /* borrowed from loader->files */
	int line;
};

struct section_def;

struct raw_section {
	char *name;
	const struct section_def *kind; /* cfg_section_kind(name), once: NULL for an unknown kind */
	char *file;
	int line;
	struct raw_kv *kv;
	size_t nkv;
};

enum line_kind { LK_OTHER, LK_KEY, LK_CONT, LK_CHUNK };

/* The reader's state for the file being parsed (saved around an included file). */
struct lex_state {
	const char *file;
	const char *text;
	size_t len;         /* strlen(text) */
	size_t pos;
	int line;
	size_t skimmed;     /* skim_ahead passed text[skimmed..pos) without counting its
			       lines: counted when a line is lexed after it (SIZE_MAX: none) */
	char **pieces;      /* pending pieces of the current physical line (the arrays are
			       reused from line to line, freed with the state) */
	size_t npieces, ipiece, cap;
	enum line_kind *kinds;
	char *raw;          /* the physical line being lexed (reused) */
	size_t raw_cap;
	enum line_kind cur_kind;
	bool in_value;      /* previous logical line was key=value (or its continuation) */
	struct raw_section *cur_sec;
	bool skim;          /* socket_only, in a section it does not read */
	char *include_files; /* this file's [include] files= */
	int include_line;
};

struct loader {
	struct config_diag *diag;
	struct raw_section *secs;
	size_t nsecs, secs_cap;
	char **files;       /* every file read, owned here */
	size_t nfiles;
	char **stack;       /* realpaths of the files being read, for include loops */
	size_t depth;
	char **aliases;     /* long section names, fed to inih as "\x01<index>" */
	size_t naliases;
	bool socket_only;   /* config_load_socket: keep only what the CLI needs */
	struct name_index sec_index; /* section name -> index in secs */
	struct lex_state st;
	/* defaults parsed once per load, for the rows whose field holds no pointer (apply_default) */
	struct default_memo {
		const void *row;       /* the struct key_def, NULL: free slot */
		bool ok;
		unsigned char bytes[16];
	} defaults[128];
};

/*
 * A key or section name as a message may show it: name itself when it looks
 * like one (1 to 64 letters, digits and _ . : - * % ( )), else a
 * placeholder: a line of an included file that is not a config ([include]
 * files = /etc/shadow) is never printed.  This function can't fail.
 */
const char *cfg_shown_name(const char *name);

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

/* ---- key tables (keys.c) -------------------------------------------------- */

/* What a reload does with a changed value. */
enum key_reload {
	RELOAD_RESTART,   /* the instances it reaches restart: a new process */
	RELOAD_IN_PLACE,  /* running instances take the new value; nothing restarts */
	RELOAD_INSTANCES, /* instances are added or removed; the others keep running */
	RELOAD_TEND,      /* read once when tend starts: a change waits for a tend restart */
	RELOAD_NONE,      /* nothing to apply: load-time settings, accepted and unused keys */
};
#define RELOAD_MASK(r) (1u << (r))

enum key_flag {
	KEY_REQUIRED = 1 << 0, /* the section needs it */
	KEY_UNUSED = 1 << 1,   /* supervisord's key, accepted with a warning; tend does not use it */
	KEY_ONCE = 1 << 2,     /* [program:x]: read once per section, before its instances */
};

/* Where a row's value is being parsed into. */
struct key_ctx {
	struct loader *L;
	const struct raw_section *s;
	const struct raw_kv *kv; /* the key's line; NULL while a default is applied */
	const char *here;        /* the directory of the section's file */
	const struct xvars *v;
	const struct config *c;  /* the config being built (program rows read [supervisord]'s) */
};

struct key_def;
struct sbuf;

/*
 * A value type.  parse turns an expanded value (NULL: the key is absent and
 * has no default) into the field, replacing and freeing what it held, and
 * returns true; on an invalid value it records "file:line: key: ..." with
 * cfg_key_error and returns false, the field untouched.
 */
struct key_type {
	const char *name;  /* as docs/config.md lists it */
	size_t size;       /* bytes of the field it writes; 0: an int of 4 or 8 bytes */
	bool (*parse)(const struct key_ctx *x, const struct key_def *k, const char *value, void *field);
	bool (*eq)(const struct key_def *k, const void *a, const void *b); /* NULL: bytes equal */
	void (*copy)(const struct key_def *k, void *dst, const void *src); /* NULL: nothing owned */
	void (*done)(const struct key_def *k, void *field);                /* NULL: nothing owned */
	/* scalars (parse is scalar_parse): the value as a number, and what was expected instead */
	int (*conv)(const struct key_def *k, const char *value, long long *ret);
	const char *expect;                                    /* "a signal name or number" */
	void (*what)(const struct key_def *k, struct sbuf *b); /* when it depends on the row */
};

/* One accepted word of an enum (a later word with an earlier word's value is an alias). */
struct key_word {
	const char *word;
	int value;
};

/* One row: a key of one section.  Tables end with a row whose name is NULL. */
struct key_def {
	const char *name;
	const struct key_type *type;
	size_t off, size;           /* the field in the section's struct; size 0: none */
	const char *def;            /* the default as written in a config; NULL: unset */
	long long unset;            /* the field's value when unset (ints) */
	long long min, max;         /* bounds: ints, octal modes; durations (ns) and sizes: min */
	const struct key_word *words; /* enums */
	enum key_reload reload;
	unsigned flags;             /* enum key_flag */
	const char *needs;          /* another key of the section this one needs */
	const char *example;        /* a valid value other than the default */
	const char *invalid;        /* a value that is refused; NULL: every value is valid */
	unsigned only;              /* enum section_bit: only these sections of a shared table; 0: all */
};

/* The sections that share the program table (struct section_def's bit, key_def's only). */
enum section_bit {
	SEC_PROGRAM = 1 << 0,  /* [program:x] */
	SEC_LISTENER = 1 << 1, /* [eventlistener:x] */
	SEC_FCGI = 1 << 2,     /* [fcgi-program:x] */
};

/* What a table's offsets point into. */
enum key_target { TARGET_CONFIG, TARGET_PROC, TARGET_GROUP, TARGET_NONE };

/* A section kind and its table. */
struct section_def {
	const char *name;     /* "program:" for [program:NAME] */
	const char *alias;    /* [tend] for [supervisord] */
	const struct key_def *keys;
	enum key_target target;
	unsigned bit;         /* enum section_bit for the sections sharing the program table; else 0 */
	const char *kind;     /* "program", "eventlistener", "fcgi-program": in messages */
};

/* The section_def a section name belongs to ("program:web" -> program:), or NULL. */
const struct section_def *cfg_section_kind(const char *name);

/* True when row k may be written in section s (its only= allows the section's kind). */
bool cfg_key_applies(const struct key_def *k, const struct raw_section *s);

extern const struct key_def cfg_daemon_keys[], cfg_program_keys[], cfg_group_keys[],
	cfg_unix_http_keys[], cfg_inet_keys[], cfg_ctl_keys[], cfg_include_keys[];
extern const struct section_def cfg_sections[]; /* ends with a NULL name */

/* Record "file:line: KEY: message" at the key's line (its section's while a default is applied). */
void cfg_key_error(const struct key_ctx *x, const struct key_def *k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The value types (types.c, types-exec.c, types-server.c). */
extern const struct key_type kt_bool, kt_int, kt_numprocs, kt_duration, kt_size, kt_double, kt_signal,
	kt_octal, kt_enum, kt_string, kt_path, kt_abspath, kt_dir, kt_choice, kt_names, kt_env,
	kt_env_file, kt_logdest, kt_command, kt_procname, kt_user, kt_exitcodes, kt_cpu_quota, kt_core, kt_listen,
	kt_ready, kt_maps, kt_exit_with, kt_inet_port, kt_password, kt_include, kt_unused, kt_events,
	kt_result_handler, kt_fcgi_socket, kt_owner, kt_serverurl, kt_daemon_user, kt_chown;

/*
 * What the value types share (types.c; the types live in types.c: scalars
 * and strings, types-exec.c: what a process is given, types-server.c: the
 * daemon's own sections and event listeners).
 */
struct passwd;
bool cfg_str_eq(const char *a, const char *b);                  /* both NULL, or the same text */
void cfg_string_set(void *field, char *s);                      /* frees the old string */
bool cfg_string_eq(const struct key_def *k, const void *a, const void *b);
void cfg_string_copy(const struct key_def *k, void *dst, const void *src);
void cfg_string_done(const struct key_def *k, void *field);
bool cfg_string_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field);
bool cfg_strv_eq(const struct key_def *k, const void *a, const void *b);
void cfg_strv_copy(const struct key_def *k, void *dst, const void *src);
void cfg_strv_done(const struct key_def *k, void *field);
bool cfg_scalar_parse(const struct key_ctx *x, const struct key_def *k, const char *value, void *field);
int cfg_enum_conv(const struct key_def *k, const char *s, long long *ret);
/* The user value names, as a passwd entry; else an error at the key's line. */
bool cfg_user_lookup(const struct key_ctx *x, const struct key_def *k, const char *value, struct passwd **ret);

/* Which rows an operation covers. */
enum key_rows { ROWS_ALL, ROWS_ONCE, ROWS_EACH };

/* Set every covered row of keys in target to its default. */
void cfg_keys_defaults(const struct key_def *keys, enum key_rows rows, const struct key_ctx *x,
		       void *target);

/*
 * Parse every covered key section x->s holds into target, whose fields hold
 * their defaults (an invalid value leaves its default); report the covered
 * required keys that are missing and keys present without the key they need.
 */
void cfg_keys_apply(const struct key_def *keys, enum key_rows rows, const struct key_ctx *x,
		    void *target);

/* Warn about unknown keys (with "did you mean") and accepted, unused ones in s. */
void cfg_keys_check(struct loader *L, const struct raw_section *s, const struct key_def *keys);

/* True when every row of keys whose reload is in mask is equal in a and b. */
bool cfg_keys_equal(const struct key_def *keys, unsigned mask, const void *a, const void *b);

/* The first row whose reload is in mask and whose value differs in a and b, or NULL. */
const struct key_def *cfg_keys_differ(const struct key_def *keys, unsigned mask, const void *a,
				      const void *b);

/* Deep-copy what the rows own from src into dst (dst already holds src's bytes). */
void cfg_keys_copy(const struct key_def *keys, void *dst, const void *src);

/* Free what the rows own in target. */
void cfg_keys_done(const struct key_def *keys, void *target);

/* The row called name in keys, or NULL. */
const struct key_def *cfg_key_find(const struct key_def *keys, const char *name);

/* ---- building (build.c) --------------------------------------------------- */

/* A config with every default of the [supervisord]-level tables. */
struct config *cfg_config_new(struct loader *L, const char *path);

/* Build every raw section of L into c and check the rules across sections. */
void cfg_build(struct loader *L, struct config *c);

/* Build only what the CLI needs to find the daemon (config_load_socket). */
void cfg_build_socket(struct loader *L, struct config *c);

/* Free an instance (or drop one reference to it). */
void cfg_prog_free(struct prog_config *pc);

/* Free a group (or drop one reference to it). */
void cfg_group_free(struct group_config *g);

#endif
