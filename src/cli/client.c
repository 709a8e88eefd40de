#include "cli/client.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/*
 * libcurl is loaded when a command first talks to the daemon, not when tend
 * starts: its 30-odd libraries cost ~4 ms at every exec, which commands that
 * never connect (ps, check, version) should not pay.
 */
static struct {
	CURLcode (*global_init)(long);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	void *lib;
} cu;

static int load_curl(void)
{
	if (cu.lib)
		return 0;
	cu.lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!cu.lib)
		return -1;
#define SYM(field, name) *(void **)&cu.field = dlsym(cu.lib, name)
	SYM(global_init, "curl_global_init");
	SYM(global_cleanup, "curl_global_cleanup");
	SYM(easy_init, "curl_easy_init");
	SYM(easy_cleanup, "curl_easy_cleanup");
	SYM(easy_reset, "curl_easy_reset");
	SYM(easy_setopt, "curl_easy_setopt");
	SYM(easy_perform, "curl_easy_perform");
	SYM(easy_getinfo, "curl_easy_getinfo");
	SYM(slist_append, "curl_slist_append");
	SYM(slist_free_all, "curl_slist_free_all");
#undef SYM
	if (!cu.global_init || !cu.global_cleanup || !cu.easy_init || !cu.easy_cleanup ||
	    !cu.easy_reset || !cu.easy_setopt || !cu.easy_perform || !cu.easy_getinfo ||
	    !cu.slist_append || !cu.slist_free_all) {
		dlclose(cu.lib);
		cu.lib = NULL;
		return -1;
	}
	return 0;
}

struct client {
	CURL *h;
	char *sock;
	struct sbuf resp;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct client *c = userdata;

	sbuf_add(&c->resp, ptr, size * nmemb);
	return size * nmemb;
}

struct client *client_new(const char *socket_path)
{
	struct client *c;

	if (load_curl() < 0) {
		fprintf(stderr, "tend: cannot load libcurl.so.4: %s\n", dlerror());
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	/* no TLS: skip initialising it (saves milliseconds on every command) */
	cu.global_init(CURL_GLOBAL_NOTHING);
	c->sock = xstrdup(socket_path);
	c->h = cu.easy_init();
	if (!c->h) {
		free(c->sock);
		free(c);
		return NULL;
	}
	return c;
}

struct client *client_free(struct client *c)
{
	if (!c)
		return NULL;
	cu.easy_cleanup(c->h);
	sbuf_done(&c->resp);
	free(c->sock);
	free(c);
	cu.global_cleanup();
	return NULL;
}

const char *client_socket(const struct client *c)
{
	return c->sock;
}

/* prepare: a fresh request for PATH on the daemon's socket; the caller frees
 * the returned URL after the transfer */
static char *prepare(struct client *c, const char *path,
		     size_t (*write_fn)(char *, size_t, size_t, void *))
{
	char *url = xasprintf("http://localhost%s", path);

	sbuf_reset(&c->resp);
	cu.easy_reset(c->h);
	cu.easy_setopt(c->h, CURLOPT_UNIX_SOCKET_PATH, c->sock);
	cu.easy_setopt(c->h, CURLOPT_URL, url);
	cu.easy_setopt(c->h, CURLOPT_WRITEFUNCTION, write_fn);
	cu.easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	cu.easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	cu.easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	return url;
}

int client_call(struct client *c, const char *method, const char *path, const char *body,
		long *ret_status, json_t **ret_json)
{
	const char *text;
	size_t len;
	int r = client_call_raw(c, method, path, body, ret_status, &text, &len);

	if (r < 0)
		return r;
	*ret_json = len ? json_loadb(text, len, 0, NULL) : NULL;
	return 0;
}

int client_call_raw(struct client *c, const char *method, const char *path, const char *body,
		    long *ret_status, const char **ret_body, size_t *ret_len)
{
	char *url = prepare(c, path, on_data);
	struct curl_slist *hdrs = NULL;
	CURLcode rc;
	long oserr = 0;

	cu.easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "POST") == 0) {
		hdrs = cu.slist_append(hdrs, "Content-Type: application/json");
		cu.easy_setopt(c->h, CURLOPT_HTTPHEADER, hdrs);
		cu.easy_setopt(c->h, CURLOPT_POSTFIELDS, body ? body : "");
	}
	rc = cu.easy_perform(c->h);
	cu.slist_free_all(hdrs);
	free(url);
	if (rc != CURLE_OK) {
		cu.easy_getinfo(c->h, CURLINFO_OS_ERRNO, &oserr);
		if (rc == CURLE_COULDNT_CONNECT)
			return oserr ? -(int)oserr : -ECONNREFUSED;
		if (rc == CURLE_OPERATION_TIMEDOUT)
			return -ETIMEDOUT;
		return oserr ? -(int)oserr : -EIO;
	}
	cu.easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, ret_status);
	*ret_body = c->resp.s ? c->resp.s : "";
	*ret_len = c->resp.len;
	return 0;
}

static size_t on_stream_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct client *c = userdata;
	long status = 0;

	cu.easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		sbuf_add(&c->resp, ptr, size * nmemb);
		return size * nmemb;
	}
	if (fwrite(ptr, size, nmemb, stdout) != nmemb || fflush(stdout) != 0)
		return 0; /* stdout closed (tail -f | head): stop */
	return size * nmemb;
}

int client_stream(struct client *c, const char *path, long *ret_status, json_t **ret_json)
{
	char *url = prepare(c, path, on_stream_data);
	CURLcode rc;
	long oserr = 0;

	rc = cu.easy_perform(c->h);
	free(url);
	cu.easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, ret_status);
	*ret_json = NULL;
	if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR && !*ret_status) {
		cu.easy_getinfo(c->h, CURLINFO_OS_ERRNO, &oserr);
		return oserr ? -(int)oserr : -ECONNREFUSED;
	}
	if (*ret_status != 200 && c->resp.len)
		*ret_json = json_loadb(c->resp.s, c->resp.len, 0, NULL);
	return 0;
}

int client_report_unreachable(const struct client *c, int err)
{
	if (err == -EACCES || err == -EPERM) {
		fprintf(stderr, "tend: permission denied on %s\n", c->sock);
		return EXIT_REFUSED;
	}
	if (err == -ENOENT || err == -ECONNREFUSED)
		fprintf(stderr, "tend: no tend daemon is running on %s (start one with 'tend up')\n",
			c->sock);
	else
		fprintf(stderr, "tend: cannot reach tend on %s: %s\n", c->sock, strerror(-err));
	return EXIT_UNREACHABLE;
}

char *client_escape(const char *s)
{
	struct sbuf b = SBUF_INIT;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-_.~:*@", *p))
			sbuf_addc(&b, (char)*p);
		else
			sbuf_printf(&b, "%%%02X", *p);
	}
	return sbuf_take(&b);
}
