// SPDX-License-Identifier: Apache-2.0
/* Fuzz target: the mountinfo parser, and what it promises about what it accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "watch/mountinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mountinfo mi = {0};
	unsigned last = 0;

	if (mountinfo_parse((const char *)data, size, "fuzz", &mi) < 0)
		return 0;
	for (size_t i = 0; i < mi.n; i++) {
		const struct mountinfo_entry *e = &mi.v[i];

		/* Lines in order, and every field a string the watch may read. */
		if (e->line <= last || e->mount_point[0] != '/' || !e->root[0] || !e->fstype[0] ||
		    strlen(e->options) < 2 || strlen(e->super_options) < 2 || !e->optional ||
		    !e->source)
			abort();
		last = e->line;
		(void)mountinfo_readonly(e);
		(void)mountinfo_has_option(e->options, "nosuid");
	}
	mountinfo_clear(&mi);
	return 0;
}
