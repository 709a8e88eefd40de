#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static void oom(size_t n)
{
	fprintf(stderr, "tend: out of memory allocating %zu bytes\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* Allocated to size: these strings live as long as what holds them (paths per instance). */
char *xasprintf(const char *fmt, ...)
{
	char tmp[256], *s;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return xstrdup("");
	s = xmalloc((size_t)n + 1);
	if ((size_t)n < sizeof(tmp)) {
		memcpy(s, tmp, (size_t)n + 1);
	} else {
		va_start(ap, fmt);
		vsnprintf(s, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	return s;
}

void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

char **strv_pack(char *const *v)
{
	size_t n = strv_len(v), bytes = (n + 1) * sizeof(char *);
	char **out, *p;

	for (size_t i = 0; i < n; i++)
		bytes += strlen(v[i]) + 1;
	out = xmalloc(bytes);
	p = (char *)(out + n + 1);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(v[i]) + 1;

		out[i] = memcpy(p, v[i], len);
		p += len;
	}
	out[n] = NULL;
	return out;
}

size_t strv_len(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

char **strv_dup(char *const *v)
{
	size_t n = strv_len(v);
	char **r;

	if (!v)
		return NULL;
	r = xcalloc(n + 1, sizeof(*r));
	for (size_t i = 0; i < n; i++)
		r[i] = xstrdup(v[i]);
	return r;
}

bool strv_equal(char *const *a, char *const *b)
{
	size_t i;

	if (!a || !b)
		return a == b;
	for (i = 0; a[i] && b[i]; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return !a[i] && !b[i];
}

void sbuf_grow(struct sbuf *b, size_t extra)
{
	size_t want = b->len + extra + 1;

	if (want <= b->cap)
		return;
	if (want < b->cap * 2)
		want = b->cap * 2;
	if (want < 64)
		want = 64;
	b->s = xrealloc(b->s, want);
	b->cap = want;
}

void sbuf_vprintf(struct sbuf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	sbuf_grow(b, 64);
	va_copy(aq, ap);
	n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, aq);
	va_end(aq);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		sbuf_grow(b, (size_t)n);
		vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

/* How many decimal digits v has (1 for 0). */
static unsigned dec_digits(uint64_t v)
{
	unsigned n = 1;

	for (; v >= 10000; v /= 10000)
		n += 4;
	return n + (v >= 10) + (v >= 100) + (v >= 1000);
}

/* Write v's n decimal digits ending at end, two at a time, into room already made. */
static void put_digits(char *end, uint64_t v, unsigned n)
{
	static const char pairs[] = "00010203040506070809101112131415161718192021222324"
				    "25262728293031323334353637383940414243444546474849"
				    "50515253545556575859606162636465666768697071727374"
				    "75767778798081828384858687888990919293949596979899";

	for (; n >= 2; n -= 2, v /= 100) {
		end -= 2;
		memcpy(end, pairs + v % 100 * 2, 2);
	}
	if (n)
		*--end = (char)('0' + v % 10);
}

/* The numbers are written in place: room for the longest, then the digits (no copy). */
void sbuf_add_u64(struct sbuf *b, uint64_t v)
{
	unsigned n = dec_digits(v);

	sbuf_grow(b, n);
	put_digits(b->s + b->len + n, v, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void sbuf_add_i64(struct sbuf *b, int64_t v)
{
	if (v < 0)
		sbuf_addc(b, '-');
	sbuf_add_u64(b, v < 0 ? -(uint64_t)v : (uint64_t)v);
}

void sbuf_add_fixed(struct sbuf *b, int64_t v, int digits)
{
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v, scale = 1;
	unsigned n;

	for (int i = 0; i < digits; i++)
		scale *= 10;
	if (v < 0)
		sbuf_addc(b, '-');
	sbuf_add_u64(b, u / scale);
	if (digits <= 0)
		return;
	n = (unsigned)digits;
	sbuf_grow(b, n + 1);
	b->s[b->len] = '.';
	put_digits(b->s + b->len + 1 + n, u % scale, n); /* leading zeros kept: 0.050 */
	b->len += n + 1;
	b->s[b->len] = '\0';
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sbuf_vprintf(b, fmt, ap);
	va_end(ap);
}

void sbuf_consume(struct sbuf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->s, b->s + n, b->len - n);
		b->len -= n;
	}
	if (b->s)
		b->s[b->len] = '\0';
}

void sbuf_reset(struct sbuf *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
}

void sbuf_done(struct sbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

char *sbuf_take(struct sbuf *b)
{
	/* the string is kept, often for as long as tend runs: no spare room with it */
	char *s = b->s ? (b->cap > b->len + 1 ? xrealloc(b->s, b->len + 1) : b->s) : xstrdup("");

	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

int64_t mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

int64_t wall_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

int fd_set_nonblock(int fd, bool on)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0)
		return -errno;
	flags = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
	if (fcntl(fd, F_SETFL, flags) < 0)
		return -errno;
	return 0;
}

int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int read_file(const char *path, size_t max, char **ret_data, size_t *ret_len)
{
	struct sbuf b = SBUF_INIT;
	struct stat st;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* a regular file is read into a buffer of its size, in one read (a
	 * 10,000-program config was 230 reads of 4 KB, each copied) */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size <= max) {
		sbuf_grow(&b, (size_t)st.st_size + 1);
		mem_populate(b.s, b.cap);
	}
	for (;;) {
		ssize_t n;

		if (b.cap - b.len < 2) /* room for a byte and the NUL */
			sbuf_grow(&b, 4096);
		n = read(fd, b.s + b.len, b.cap - b.len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > max) {
			r = -EFBIG;
			break;
		}
		b.len += (size_t)n;
	}
	close(fd);
	if (b.s)
		b.s[b.len] = '\0'; /* also when the first read found the end */
	if (r < 0) {
		sbuf_done(&b);
		return r;
	}
	if (ret_len)
		*ret_len = b.len;
	*ret_data = sbuf_take(&b);
	return 0;
}

void mem_populate(void *p, size_t len)
{
	uintptr_t page, from, to;

	if (len < MEM_POPULATE_MIN)
		return;
	page = (uintptr_t)sysconf(_SC_PAGESIZE);
	from = ((uintptr_t)p + page - 1) & ~(page - 1);
	to = ((uintptr_t)p + len) & ~(page - 1);
	if (to > from)
		(void)madvise((void *)from, to - from, MADV_POPULATE_WRITE);
}

void format_uptime(char *buf, size_t n, int64_t seconds)
{
	int64_t days, h, m, s;

	if (seconds < 0)
		seconds = 0;
	days = seconds / 86400;
	h = seconds / 3600 % 24;
	m = seconds / 60 % 60;
	s = seconds % 60;
	if (days > 0) {
		snprintf(buf, n, "%lld day%s, %lld:%02lld:%02lld", (long long)days,
			 days == 1 ? "" : "s", (long long)h, (long long)m, (long long)s);
	} else if (n > 0) { /* "23:59:59": by hand, status lists every instance's */
		char t[9], *p = t;
		size_t len;

		if (h >= 10)
			*p++ = (char)('0' + h / 10);
		*p++ = (char)('0' + h % 10);
		*p++ = ':';
		*p++ = (char)('0' + m / 10);
		*p++ = (char)('0' + m % 10);
		*p++ = ':';
		*p++ = (char)('0' + s / 10);
		*p++ = (char)('0' + s % 10);
		len = MIN((size_t)(p - t), n - 1); /* truncated as snprintf would */
		memcpy(buf, t, len);
		buf[len] = '\0';
	}
}

size_t utf8_seq_len(const unsigned char *p, size_t avail)
{
	size_t need;

	if (avail == 0)
		return 0;
	if (*p < 0x80)
		return 1;
	need = (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : (*p & 0xF8) == 0xF0 ? 4 : 0;
	if (need == 0 || need > avail)
		return 0;
	for (size_t i = 1; i < need; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	return need;
}

bool dir_shared(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? (slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path))) : xstrdup(".");
	struct stat st;
	bool shared = stat(dir, &st) < 0 || (st.st_mode & 0022) || (st.st_uid != 0 && st.st_uid != geteuid());

	free(dir);
	return shared;
}

int open_owned(const char *path, int flags, mode_t mode, char *why, size_t whylen)
{
	struct stat st;
	int fd = -1, r;

	for (int tries = 0; tries < 3 && fd < 0; tries++) {
		fd = open(path, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd >= 0)
			return fd; /* new: ours, with our mode */
		if (errno != EEXIST)
			break;
		/* it exists: look at what it is before writing (or truncating) a byte of it;
		 * O_NONBLOCK: a FIFO must not hold tend */
		fd = open(path, (flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno != ENOENT)
			break; /* gone meanwhile (ENOENT): create it again */
	}
	if (fd < 0) {
		r = -errno;
		snprintf(why, whylen, "%s", r == -ELOOP ? "is a symlink (refused)" : strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(why, whylen, "%s", strerror(-r));
		goto out_close;
	}
	if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) {
		if (!(flags & O_NONBLOCK))
			fd_set_nonblock(fd, false);
		return fd; /* /dev/null */
	}
	r = -EPERM;
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		snprintf(why, whylen, "is not a regular file (refused)");
	} else if (st.st_nlink != 1) {
		snprintf(why, whylen, "has %lu hard links: another name could be any file (refused)",
			 (unsigned long)st.st_nlink);
	} else if (st.st_uid != geteuid() && dir_shared(path)) {
		snprintf(why, whylen, "is owned by uid %u, not by tend's user, in a directory other users can write (refused)",
			 (unsigned)st.st_uid);
	} else if ((st.st_mode & 0002) || ((st.st_mode & 0020) && st.st_gid != getegid())) {
		snprintf(why, whylen, "is writable by other users (mode %03o, refused)", (unsigned)(st.st_mode & 0777));
	} else {
		if (!(flags & O_NONBLOCK))
			fd_set_nonblock(fd, false);
		if ((flags & O_TRUNC) && ftruncate(fd, 0) < 0) {
			r = -errno;
			snprintf(why, whylen, "%s", strerror(-r));
			goto out_close;
		}
		return fd;
	}
out_close:
	close(fd);
	return r;
}

void random_name_chars(char *p, size_t n)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char r[64];

	if (n > sizeof(r))
		n = sizeof(r);
	if (getrandom(r, n, GRND_NONBLOCK) != (ssize_t)n) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		for (size_t i = 0; i < n; i++)
			r[i] = (unsigned char)(ts.tv_nsec ^ (ts.tv_nsec >> (i % 16)) ^ getpid() ^ (long)i * 131);
	}
	for (size_t i = 0; i < n; i++)
		p[i] = chars[r[i] % (sizeof(chars) - 1)];
}
