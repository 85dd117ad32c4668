/* SPDX-License-Identifier: Apache-2.0 */
/* The configuration's insides, shared by its table (config.c) and its text readers (parse.c). */
#ifndef STELE_CONFIG_INT_H
#define STELE_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "config_value.h"

#define KEY_MAX 128 /* bytes in one key, with its section */

/* How many settings there can be: every global key and every key of every check. */
size_t conf_slots(void);

/*
 * Parses value for key and stores it in c; c changes only on success. *slot
 * (below conf_slots()) says which setting it was. Returns 0, -EINVAL or
 * -ENOMEM with w->msg.
 */
int conf_set_key(struct agent_config *c, const char *key, const char *value,
		 enum conf_origin origin, struct conf_why *w, size_t *slot);

/* Whether key names a secret, never repeated in a message. */
bool conf_key_is_secret(const char *key);

/* A deep copy of src in dst (free with conf_free): 0 or -ENOMEM. */
int conf_copy(struct agent_config *dst, const struct agent_config *src);

#endif
