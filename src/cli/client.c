#include "cli/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

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
	struct client *c = xcalloc(1, sizeof(*c));

	/* no TLS: skip initialising it (saves milliseconds on every command) */
	curl_global_init(CURL_GLOBAL_NOTHING);
	c->sock = xstrdup(socket_path);
	c->h = curl_easy_init();
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
	curl_easy_cleanup(c->h);
	sbuf_done(&c->resp);
	free(c->sock);
	free(c);
	curl_global_cleanup();
	return NULL;
}

const char *client_socket(const struct client *c)
{
	return c->sock;
}

int client_call(struct client *c, const char *method, const char *path, const char *body,
		long *ret_status, json_t **ret_json)
{
	char *url = xasprintf("http://localhost%s", path);
	struct curl_slist *hdrs = NULL;
	CURLcode rc;
	long oserr = 0;

	sbuf_reset(&c->resp);
	curl_easy_reset(c->h);
	curl_easy_setopt(c->h, CURLOPT_UNIX_SOCKET_PATH, c->sock);
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	if (strcmp(method, "POST") == 0) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body ? body : "");
	}
	rc = curl_easy_perform(c->h);
	curl_slist_free_all(hdrs);
	free(url);
	if (rc != CURLE_OK) {
		curl_easy_getinfo(c->h, CURLINFO_OS_ERRNO, &oserr);
		if (rc == CURLE_COULDNT_CONNECT)
			return oserr ? -(int)oserr : -ECONNREFUSED;
		if (rc == CURLE_OPERATION_TIMEDOUT)
			return -ETIMEDOUT;
		return oserr ? -(int)oserr : -EIO;
	}
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, ret_status);
	*ret_json = c->resp.len ? json_loadb(c->resp.s, c->resp.len, 0, NULL) : NULL;
	return 0;
}

static size_t on_stream_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct client *c = userdata;
	long status = 0;

	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
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
	char *url = xasprintf("http://localhost%s", path);
	CURLcode rc;
	long oserr = 0;

	sbuf_reset(&c->resp);
	curl_easy_reset(c->h);
	curl_easy_setopt(c->h, CURLOPT_UNIX_SOCKET_PATH, c->sock);
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_stream_data);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	rc = curl_easy_perform(c->h);
	free(url);
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, ret_status);
	*ret_json = NULL;
	if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR && !*ret_status) {
		curl_easy_getinfo(c->h, CURLINFO_OS_ERRNO, &oserr);
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
