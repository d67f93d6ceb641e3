/* job — the one shape of every multi-step flow (STYLE.md "Async work"),
 * and what makes each of its calls answer exactly once.
 *
 * A flow is one struct with a `state` and a static step(). step() is the
 * only place that decides: it reads the outcome of the call that just
 * answered (the state names it) and issues the next call. A callback only
 * records what happened in the struct and calls step() again. Shutdown
 * (bot_closing) is checked once, at the top of step(), and each failure
 * reply is written once, in step().
 *
 * db and cache answer a call they refuse (a full queue, a closing
 * service) themselves, once, later, like any failure. What is left
 * returning -1 with no callback is a store_* argument check and a refusal
 * without even the memory to keep it. A flow hands its rc to job_db(),
 * which then delivers the callback later, from the loop, from storage the
 * flow embeds (no allocation), so every call answers exactly once and
 * never inside the call: step() needs no second path. reply.c does the
 * same for REST. */
#ifndef AGORA_JOB_H
#define AGORA_JOB_H

#include "db.h"
#include "rest.h"

struct bot;
struct jobs;

/* A late answer: caller-provided storage for one pending delivery (embed
 * one in each job; a job has at most one call out at a time). */
struct job_later {
	struct job_later *next;
	db_query_fn *db_fn;
	rest_done_fn *rest_fn;
	void *data;
	int status;
	int owned; /* allocated here (job_rest_later without storage): freed after delivery */
	char error[200];
};

/* rc is the result of a db_* or store_* call made with (fn, data): on -1,
 * fn(data, reply with db_error) runs once, later, from the loop; on 0
 * nothing (the database answers). later may be NULL, as below. */
void job_db(struct bot *b, struct job_later *later, int rc, db_query_fn *fn, void *data);
/* The same for a failure found before calling (no memory, bad input):
 * fn(data, reply with error) runs once, later. */
void job_db_failed(struct bot *b, struct job_later *later, db_query_fn *fn, void *data,
                   const char *error);
/* fn(status 0, body NULL, error, data) runs once, later, from the loop.
 * later may be NULL: then storage is allocated, and only when even that
 * fails does fn run at once (logged). */
void job_rest_later(struct bot *b, struct job_later *later, rest_done_fn *fn, void *data,
                    const char *error);

/* ---- for the bot */

struct jobs *jobs_new(struct bot *b);
/* Delivers every pending answer now (bot_closing is 1 by then, so the
 * flows only free themselves), then frees. */
void jobs_free(struct jobs *j);
/* How many answers wait for delivery (tests). */
size_t jobs_pending(struct bot *b);

#endif
