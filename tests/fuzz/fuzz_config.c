/*
 * Fuzz the config loader: arbitrary bytes as a supervisord.conf.  The
 * loader must never crash, leak or read out of bounds, and must either
 * produce a config or at least one error; the socket-only load (the CLI's)
 * too, which must give a socket path when it succeeds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_diag diag;
	struct config *cfg = NULL;
	char *text, *sock;
	int r;

	if (size > 1 << 20)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	r = config_load_string("fuzz.conf", text, &cfg, &diag);
	if ((r == 0) != (cfg != NULL) || (r < 0 && diag.nerrors == 0))
		abort();
	config_free(cfg);
	config_diag_done(&diag);
	/* the CLI's socket-only load: its skim passes what it does not read */
	sock = NULL;
	if (config_load_socket_string("fuzz.conf", text, &sock) == 0 && !sock)
		abort();
	free(sock);
	free(text);
	return 0;
}
