/*
 * Fuzz the config loader: arbitrary bytes as a supervisord.conf.  The
 * loader must never crash, leak or read out of bounds, and must either
 * produce a config or at least one error.
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
	char *text;
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
	free(text);
	return 0;
}
