// SPDX-License-Identifier: Apache-2.0
/* Fuzz target: the DSSE envelope parser, and a round trip through the serializer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stele_envelope *env = NULL, *again = NULL;
	char *json = NULL, *json2 = NULL;
	const uint8_t *pae, *payload;
	size_t len, len2, pae_len, payload_len;

	if (stele_envelope_parse((const char *)data, size, "fuzz", &env) < 0)
		return 0;
	/* What parses has a PAE ending in its payload, and serializes to
	 * something that parses back to the same envelope. */
	payload = stele_envelope_payload(env, &payload_len);
	if (stele_envelope_pae(env, &pae, &pae_len) < 0 || pae + pae_len - payload_len != payload)
		abort();
	if (stele_envelope_serialize(env, &json, &len) < 0 ||
	    stele_envelope_parse(json, len, "fuzz", &again) < 0 ||
	    stele_envelope_serialize(again, &json2, &len2) < 0 || len != len2 ||
	    memcmp(json, json2, len) != 0)
		abort();
	free(json2);
	free(json);
	stele_envelope_free(again);
	stele_envelope_free(env);
	return 0;
}
