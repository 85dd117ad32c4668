/* SPDX-License-Identifier: Apache-2.0 */
/* A state change of the agent, as every reporter receives it. */
#ifndef STELE_EVENT_H
#define STELE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum agent_state {
	AGENT_VERIFYING, /* checking signatures and the tree */
	AGENT_WAITING,	 /* verified, application checks not passing */
	AGENT_READY,	 /* trusted, verified, checks passing */
	AGENT_UNTRUSTED, /* the manifest could not be trusted */
	AGENT_DRIFTED,	 /* the tree differs from the manifest */
	AGENT_REPLACING, /* replacement requested; sticky */
};

/* "verifying", "waiting", "ready", "untrusted", "drifted", "replacing". */
const char *agent_state_name(enum agent_state s);

/* One difference between the tree and the manifest. */
struct violation {
	char *path;  /* display form, mtree-escaped: "/usr/bin/ls" */
	char *kinds; /* "modified", "mode,owner", ... */
};

/*
 * Immutable once made, shared by the queues through a reference count;
 * every string is owned by the event.
 */
struct agent_event {
	uint64_t seq;	   /* 1, 2, 3... within one agent run */
	char id[37];	   /* random UUID, unique across runs */
	int64_t time;	   /* Unix seconds */
	char time_str[32]; /* RFC 3339, UTC */
	enum agent_state state;
	enum agent_state previous;
	bool boot; /* the first verdict of this run (ready/untrusted/drifted) */
	char *reason;
	char *instance_id;
	char *image; /* image name, NULL before the manifest was trusted */
	uint64_t version;
	char *digest;		      /* hex SHA-256 of the payload */
	char *trust_mode;	      /* "pinned", "self-attested" or NULL */
	struct violation *violations; /* the first ones */
	size_t n_violations;
	size_t violations_total; /* how many paths differ in all */
	int refs;		 /* atomic */
};

struct agent_event *event_ref(struct agent_event *ev);
/* Drops a reference; the last one frees. NULL is a no-op. */
void event_unref(struct agent_event *ev);

/*
 * The event's documented JSON form (README "Events"), the webhook body and
 * the etcd record: {"id","seq","time","instance_id","state","previous",
 * "boot","reason","image":{"name","version","digest","trust"},
 * "violations":[{"path","kinds"}],"violations_total"}. New string; caller frees; NULL on ENOMEM.
 */
char *event_to_json(const struct agent_event *ev);

#endif
