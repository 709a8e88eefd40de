/*
 * Fuzz the XML-RPC request parser (expat + tend's grammar): any bytes must
 * parse into a tree that writes back as XML and frees cleanly, or fail with
 * a message; never crash, leak or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "daemon/xmlrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xml_call call;
	char err[256];
	struct sbuf b = SBUF_INIT;

	if (xml_call_parse((const char *)data, size, &call, err, sizeof(err)) == 0) {
		xml_response(&b, call.params);
		xml_call_done(&call);
	} else {
		/* the message is a C string that goes into a fault */
		xml_fault(&b, 2, err);
	}
	sbuf_done(&b);
	return 0;
}
