/* job — see job.h. */
#include "job.h"

#include <stdio.h>

#include "bot.h"
#include "log.h"
#include "loop.h"
#include "mem.h"

struct jobs {
	struct bot *bot;
	struct job_later *head, *tail; /* in order of failure */
	size_t pending;
	/* a timer, not a loop_defer: a timer can be stopped when the bot is
	 * freed before the loop ran it */
	struct loop_timer timer;
};

static void
deliver(struct job_later *l)
{
	if (l->db_fn) {
		struct db_reply reply = {.error = l->error, .sqlstate = "", .result = NULL};
		l->db_fn(l->data, &reply);
	} else if (l->rest_fn) {
		l->rest_fn(l->status, NULL, l->error, l->data);
	}
}

/* Delivers what is queued now; what those callbacks queue waits for the
 * next turn (no unbounded recursion). */
static void
drain(struct jobs *s)
{
	struct job_later *l = s->head;
	s->head = s->tail = NULL;
	while (l) {
		struct job_later *next = l->next;
		int owned = l->owned;
		s->pending--;
		l->next = NULL;
		deliver(l); /* may free the job that holds l */
		if (owned)
			mem_free(l);
		l = next;
	}
}

static void
on_timer(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	drain(t->data);
}

struct jobs *
jobs_new(struct bot *b)
{
	struct jobs *s = mem_calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->bot = b;
	loop_timer_init(&s->timer, on_timer, s);
	return s;
}

void
jobs_free(struct jobs *s)
{
	if (!s)
		return;
	loop_timer_stop(bot_loop(s->bot), &s->timer);
	while (s->head)
		drain(s);
	mem_free(s);
}

size_t
jobs_pending(struct bot *b)
{
	return bot_jobs(b)->pending;
}

static void
enqueue(struct bot *b, struct job_later *l)
{
	struct jobs *s = bot_jobs(b);
	if (!s) {
		/* bot_free is past jobs_free: teardown answers at once */
		int owned = l->owned;
		deliver(l);
		if (owned)
			mem_free(l);
		return;
	}
	l->next = NULL;
	if (s->tail)
		s->tail->next = l;
	else
		s->head = l;
	s->tail = l;
	s->pending++;
	loop_timer_start(bot_loop(b), &s->timer, 0);
}

void
job_db_failed(struct bot *b, struct job_later *later, db_query_fn *fn, void *data,
              const char *error)
{
	int owned = 0;
	if (!later) {
		later = mem_calloc(1, sizeof *later);
		if (!later) {
			struct db_reply reply = {.error = error, .sqlstate = "", .result = NULL};
			log_error("bot", "out of memory: a failed query answers at once");
			fn(data, &reply);
			return;
		}
		owned = 1;
	}
	later->db_fn = fn;
	later->rest_fn = NULL;
	later->data = data;
	later->status = 0;
	later->owned = owned;
	snprintf(later->error, sizeof later->error, "%s", error);
	enqueue(b, later);
}

void
job_db(struct bot *b, struct job_later *later, int rc, db_query_fn *fn, void *data)
{
	if (rc == 0)
		return;
	struct db *db = bot_db(b);
	job_db_failed(b, later, fn, data,
	              db && *db_error(db) ? db_error(db) : "database unavailable");
}

void
job_rest_later(struct bot *b, struct job_later *later, rest_done_fn *fn, void *data,
               const char *error)
{
	int owned = 0;
	if (!later) {
		later = mem_calloc(1, sizeof *later);
		if (!later) {
			log_error("bot", "out of memory: a failed request answers at once");
			fn(0, NULL, error, data);
			return;
		}
		owned = 1;
	}
	later->db_fn = NULL;
	later->rest_fn = fn;
	later->data = data;
	later->status = 0;
	later->owned = owned;
	snprintf(later->error, sizeof later->error, "%s", error ? error : "request failed");
	enqueue(b, later);
}
