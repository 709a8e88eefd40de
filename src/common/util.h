/*
 * Small helpers shared by the daemon and the CLI: allocation that aborts on
 * out-of-memory (redis style: a supervisor that cannot allocate a few bytes
 * has nothing sensible left to do), a growable string buffer, monotonic time
 * and fd flags.
 */
#ifndef TEND_UTIL_H
#define TEND_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define NSEC_PER_SEC  1000000000LL
#define NSEC_PER_MSEC 1000000LL

/* Allocation: never returns NULL; aborts with a message on out-of-memory. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Free a NULL-terminated array of strings and the array itself; accepts NULL. */
void strv_free(char **v);
/* Number of entries in a NULL-terminated array of strings (0 for NULL). */
size_t strv_len(char *const *v);
/* Deep copy of a NULL-terminated array of strings; NULL stays NULL. */
char **strv_dup(char *const *v);
/*
 * The same, in one block: the array, then the strings (one allocation
 * instead of one per string, for arrays kept long).  Free with free().
 */
char **strv_pack(char *const *v);
/* True when both arrays hold the same strings in the same order. */
bool strv_equal(char *const *a, char *const *b);

/*
 * A growable, always NUL-terminated byte buffer.  SBUF_INIT is a valid empty
 * buffer; sbuf_done() frees the contents (the struct itself is the caller's).
 */
struct sbuf {
	char *s;
	size_t len;
	size_t cap;
};
#define SBUF_INIT { NULL, 0, 0 }

void sbuf_grow(struct sbuf *b, size_t extra);

/*
 * The adds are inline: the answers that list every instance make dozens per
 * instance, mostly of literals, whose strlen and memcpy the compiler then
 * folds (a full GET /v1/programs spent a quarter of its instructions in
 * out-of-line sbuf_adds).  Only a buffer that must grow leaves the line.
 */
static inline void sbuf_add(struct sbuf *b, const void *data, size_t n)
{
	if (b->cap - b->len <= n) /* room for n and the NUL (cap 0: no buffer yet) */
		sbuf_grow(b, n);
	if (n)
		memcpy(b->s + b->len, data, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static inline void sbuf_adds(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

static inline void sbuf_addc(struct sbuf *b, char c)
{
	sbuf_add(b, &c, 1);
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap);
/*
 * Numbers without printf, for the answers that list every instance: an
 * integer, and a fixed-point one, v / 10^digits with that many decimals
 * (sbuf_add_fixed(b, 1234, 3) adds "1.234", (b, -5, 1) adds "-0.5").
 */
void sbuf_add_i64(struct sbuf *b, int64_t v);
void sbuf_add_u64(struct sbuf *b, uint64_t v);
void sbuf_add_fixed(struct sbuf *b, int64_t v, int digits);
/*
 * Length of the well-formed UTF-8 sequence (1..4 bytes) that starts at p,
 * with avail bytes readable, or 0 when it is not one (a stray continuation
 * byte, a cut or malformed sequence).  Used by the JSON and XML writers,
 * which replace such bytes with U+FFFD.
 */
size_t utf8_seq_len(const unsigned char *p, size_t avail);

/*
 * Make the pages of [p, p + len) now, in one call, where a fresh buffer of
 * that size would take a page fault per 4 KB as it is first written (this
 * VM: microseconds each; a 1 MB config read or a 580 KB answer took 140-270).
 * Only for a buffer of MEM_POPULATE_MIN or more (below it, malloc hands out
 * heap already touched); a kernel without MADV_POPULATE_WRITE (before 5.14)
 * leaves it to the faults.
 */
#define MEM_POPULATE_MIN (128u << 10)
void mem_populate(void *p, size_t len);

/* Drop the first n bytes (n <= len). */
void sbuf_consume(struct sbuf *b, size_t n);
void sbuf_reset(struct sbuf *b);
void sbuf_done(struct sbuf *b);
/* Hand the contents to the caller (never NULL) and reset the buffer. */
char *sbuf_take(struct sbuf *b);

/* CLOCK_MONOTONIC in nanoseconds: every timer, backoff and uptime uses it. */
int64_t mono_ns(void);
/* CLOCK_REALTIME in nanoseconds: for display only. */
int64_t wall_ns(void);

/* Set or clear O_NONBLOCK.  Returns 0 or -errno. */
int fd_set_nonblock(int fd, bool on);

/* Write all of buf to a blocking fd, retrying on EINTR.  Returns 0 or -errno. */
int write_all(int fd, const void *buf, size_t n);

/* Read a whole small file (at most max bytes) into a NUL-terminated string. */
int read_file(const char *path, size_t max, char **ret_data, size_t *ret_len);

/* Format a duration in seconds as supervisorctl does: "1:02:03" or "2 days, 1:02:03". */
void format_uptime(char *buf, size_t n, int64_t seconds);

/*
 * May users other than this process's and root create or replace files in
 * the directory that holds path (group or other write bits, or another
 * owner; a sticky /tmp counts)?  true when the directory cannot be read.
 */
bool dir_shared(const char *path);

/*
 * Open a file tend writes (a log) that may lie in a directory other users
 * can write (supervisord's sample config puts logs in /tmp).  A new file is
 * created with O_EXCL and mode; an existing one is used only if it is a
 * regular file (or /dev/null) with one link, writable by nobody else (no
 * write bit for others, none for a group other than tend's) and, when its
 * directory is shared (dir_shared), owned by this process's user.  Never
 * through a symlink, never blocking on a FIFO, and an existing file is
 * truncated (O_TRUNC) only once it passed.  flags: O_WRONLY with O_APPEND,
 * O_TRUNC, O_NONBLOCK as wanted (O_CLOEXEC and O_NOFOLLOW are added).  Returns the fd, or -errno
 * with the reason in why (a phrase to follow "PATH "): -ELOOP a symlink,
 * -EINVAL not a regular file, -EPERM owned by another user, writable by
 * others or linked elsewhere; else open(2)'s error.
 */
int open_owned(const char *path, int flags, mode_t mode, char *why, size_t whylen);

/* n (at most 64) characters from [a-zA-Z0-9] at p, as mkstemp's XXXXXX (getrandom; the clock if it fails). */
void random_name_chars(char *p, size_t n);

#endif
