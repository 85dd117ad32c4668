// SPDX-License-Identifier: Apache-2.0
/* A state change of the agent, as every reporter receives it. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"
#include "util/json.h"

static const char *const state_names[] = {
    [AGENT_VERIFYING] = "verifying", [AGENT_WAITING] = "waiting", [AGENT_READY] = "ready",
    [AGENT_UNTRUSTED] = "untrusted", [AGENT_DRIFTED] = "drifted", [AGENT_REPLACING] = "replacing",
};

const char *agent_state_name(enum agent_state s)
{
	if ((size_t)s >= ARRAY_SIZE(state_names))
		return "unknown";
	return state_names[s];
}

struct agent_event *event_ref(struct agent_event *ev)
{
	if (ev)
		__atomic_add_fetch(&ev->refs, 1, __ATOMIC_RELAXED);
	return ev;
}

void event_unref(struct agent_event *ev)
{
	if (!ev || __atomic_sub_fetch(&ev->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < ev->n_violations; i++) {
		free(ev->violations[i].path);
		free(ev->violations[i].kinds);
	}
	free(ev->violations);
	free(ev->reason);
	free(ev->instance_id);
	free(ev->image);
	free(ev->digest);
	free(ev->trust_mode);
	free(ev);
}

static json_object *image_json(const struct agent_event *ev)
{
	json_object *img = json_object_new_object();

	if (!img)
		return NULL;
	if (json_put_str(img, "name", ev->image) < 0 ||
	    json_put(img, "version", json_object_new_uint64(ev->version)) < 0 ||
	    json_put_str(img, "digest", ev->digest) < 0 ||
	    json_put_str(img, "trust", ev->trust_mode) < 0) {
		json_object_put(img);
		return NULL;
	}
	return img;
}

static json_object *violations_json(const struct agent_event *ev)
{
	json_object *a = json_object_new_array_ext((int)ev->n_violations);

	for (size_t i = 0; a && i < ev->n_violations; i++) {
		json_object *v = json_object_new_object();
		if (!v || json_put_str(v, "path", ev->violations[i].path) < 0 ||
		    json_put_str(v, "kinds", ev->violations[i].kinds) < 0) {
			json_object_put(v);
			json_object_put(a);
			return NULL;
		}
		/* json_push frees v if it fails. */
		if (json_push(a, v) < 0) {
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

char *event_to_json(const struct agent_event *ev)
{
	json_object *o = json_object_new_object();
	char *out = NULL;

	if (!o)
		return NULL;
	if (json_put_str(o, "id", ev->id) < 0 ||
	    json_put(o, "seq", json_object_new_uint64(ev->seq)) < 0 ||
	    json_put_str(o, "time", ev->time_str) < 0 ||
	    json_put_str(o, "instance_id", ev->instance_id) < 0 ||
	    json_put_str(o, "state", agent_state_name(ev->state)) < 0 ||
	    json_put_str(o, "previous", agent_state_name(ev->previous)) < 0 ||
	    json_put(o, "boot", json_object_new_boolean(ev->boot)) < 0 ||
	    json_put_str(o, "reason", ev->reason) < 0 || json_put(o, "image", image_json(ev)) < 0 ||
	    json_put(o, "violations", violations_json(ev)) < 0 ||
	    json_put(o, "violations_total", json_object_new_uint64(ev->violations_total)) < 0)
		goto out;
	out = json_to_text(o, JSON_C_TO_STRING_PLAIN, 0);
out:
	json_object_put(o);
	return out;
}
