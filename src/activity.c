/* activity — spec 6.5's home: channel activity.
 *
 * Counting: a message in a tracked channel (tracked.h, the set loaded at
 * start) goes to Redis through cache_record_message (never blocks, never
 * fails: see cache.h); bots' messages do not count.
 *
 * The stats task, STATS_REFRESH_INTERVAL_MINUTES after the end of the
 * previous pass (decimals allowed) and once shortly after the first READY:
 *   LIST     tracked_channels from PostgreSQL (the spec's "fetches all
 *            tracked_channels"; the in-memory set stands in when the
 *            database does not answer, so a PostgreSQL outage does not
 *            freeze the reports)
 *   READ     every channel's total, last message, 7-day count, 7 daily
 *            counts, and the trim of entries older than 7 days: ONE Redis
 *            pipeline however many channels (cache_stats.h)
 *   PUBLISH  scores.h ranks and renders; the two persistent embeds
 *            `proposed_scores` (PROPOSED_ACTIVITY_REPORT_CHANNEL_ID) and
 *            `permanent_scores` (PERMANENT_ACTIVITY_REPORT_CHANNEL_ID) are
 *            edited in place (embeds.h finds them after a restart through
 *            persistent_embeds and posts them again if deleted)
 * and the timer is armed again. A pass that cannot read Redis leaves the
 * embeds as they were (a report of zeros would be a lie), logs why, and
 * is tried again after ACTIVITY_RETRY_MS.
 * Each pass logs one line: channels, Redis round trips, milliseconds.
 *
 * The channel lifecycle between /refresh_channels runs (gateway events,
 * after the guild cache took them in): a tracked channel deleted by hand
 * stops being tracked; one moved by hand from one of the two categories
 * to the other changes category; one moved out of both stops being
 * tracked (as /refresh_channels would decide). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bot.h"
#include "cache.h"
#include "cache_stats.h"
#include "config.h"
#include "embeds.h"
#include "feature_table.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "scores.h"
#include "store.h"
#include "tracked.h"

/* The first pass, after the first READY: the guild and Redis are up by
 * then, and the reports are right soon after a restart. */
#define ACTIVITY_FIRST_PASS_MS 1000
/* The shortest pause between passes, whatever the configuration says. */
#define ACTIVITY_MIN_INTERVAL_MS 1000
/* A pass that could not read Redis (not connected yet at start, an
 * outage) is tried again this soon, not an interval later. */
#define ACTIVITY_RETRY_MS 5000

enum pass_state {
	PASS_LIST,
	PASS_READ,
	PASS_PUBLISH,
};

struct activity {
	struct bot *bot;
	struct loop_timer timer;
	int timer_armed_once;
	struct stats_pass *pass; /* the pass running, or NULL */
	/* the last reports, and which embeds wait for one (embeds' render
	 * asked while none was ready) */
	int have_reports;
	int publishing; /* publish() is asking embeds to refresh */
	struct scores_report proposed, permanent;
	int owed_proposed, owed_permanent;
	uint64_t passes;
};

/* One pass of the stats task: a struct with a state and step(). */
struct stats_pass {
	struct bot *bot;
	enum pass_state state;
	int64_t started_ms, read_ms; /* when it began; how long READ took */
	uint64_t *ids;
	unsigned char *permanent; /* per id: 1 permanent, 0 proposed */
	size_t n;
	int from_memory; /* LIST fell back to the in-memory set */
	char error[256]; /* READ failed: why */
	struct cache_stats_row *rows;
};

static struct activity *
state(struct bot *b)
{
	return bot_feature_state(b, &feature_activity);
}

static void pass_step(struct stats_pass *p);

static void
pass_free(struct stats_pass *p)
{
	mem_free(p->ids);
	mem_free(p->permanent);
	mem_free(p->rows);
	mem_free(p);
}

static int64_t
interval_ms(const struct bot *b)
{
	double ms = bot_config(b)->stats_refresh_interval_minutes * 60000.0;
	if (!(ms >= ACTIVITY_MIN_INTERVAL_MS))
		return ACTIVITY_MIN_INTERVAL_MS;
	if (ms > 7.0 * 24 * 3600 * 1000)
		return (int64_t)7 * 24 * 3600 * 1000;
	return (int64_t)ms;
}

/* The pass is over: free it, answer what the embeds asked meanwhile, arm
 * the next one. */
static void
pass_end(struct stats_pass *p)
{
	struct bot *b = p->bot;
	struct activity *a = state(b);
	int failed = p->error[0] != 0;
	a->pass = NULL;
	pass_free(p);
	if (bot_closing(b))
		return;
	if (a->owed_proposed) {
		a->owed_proposed = 0;
		embeds_rendered(b, EMBED_PROPOSED_SCORES,
		                a->have_reports ? &a->proposed.embed : NULL);
	}
	if (a->owed_permanent) {
		a->owed_permanent = 0;
		embeds_rendered(b, EMBED_PERMANENT_SCORES,
		                a->have_reports ? &a->permanent.embed : NULL);
	}
	if (!bot_stopping(b)) {
		int64_t next = interval_ms(b);
		loop_timer_start(bot_loop(b), &a->timer,
		                 failed && next > ACTIVITY_RETRY_MS ? ACTIVITY_RETRY_MS : next);
	}
}

/* Takes the ids to read from the in-memory set (tracked.h). */
static int
pass_take_memory(struct stats_pass *p)
{
	struct bot *b = p->bot;
	size_t n = tracked_count(b);
	p->ids = mem_calloc(n ? n : 1, sizeof *p->ids);
	p->permanent = mem_calloc(n ? n : 1, 1);
	if (!p->ids || !p->permanent)
		return -1;
	for (size_t i = 0; i < n; i++) {
		enum tracked_category c;
		p->ids[i] = tracked_at(b, i, &c);
		p->permanent[i] = c == TRACKED_PERMANENT;
	}
	p->n = n;
	p->from_memory = 1;
	return 0;
}

static void
on_listed(void *data, const struct db_reply *reply)
{
	struct stats_pass *p = data;
	if (bot_closing(p->bot)) {
		pass_free(p);
		return;
	}
	int rows = reply->error ? 0 : db_rows(reply);
	if (reply->error) {
		log_warn("activity",
		         "stats: tracked_channels not read (%s); using the set in memory",
		         reply->error);
		if (pass_take_memory(p) < 0) {
			log_error("activity", "stats: out of memory");
			pass_end(p);
			return;
		}
	} else {
		size_t n = rows > 0 ? (size_t)rows : 0;
		p->ids = mem_calloc(n ? n : 1, sizeof *p->ids);
		p->permanent = mem_calloc(n ? n : 1, 1);
		if (!p->ids || !p->permanent) {
			log_error("activity", "stats: out of memory");
			pass_end(p);
			return;
		}
		for (int i = 0; i < rows; i++) {
			struct store_channel row;
			if (store_channel_row(reply, i, &row) < 0)
				continue;
			p->ids[p->n] = row.channel_id;
			p->permanent[p->n] = strcmp(row.category, "permanent") == 0;
			p->n++;
		}
	}
	p->state = PASS_READ;
	pass_step(p);
}

static void
on_read(void *data, const struct cache_stats_row *rows, size_t n, const char *error)
{
	struct stats_pass *p = data;
	if (bot_closing(p->bot)) {
		pass_free(p);
		return;
	}
	p->read_ms = loop_now(bot_loop(p->bot)) - p->read_ms;
	if (error) {
		snprintf(p->error, sizeof p->error, "%s", error);
	} else if (n == p->n) {
		p->rows = mem_calloc(n ? n : 1, sizeof *p->rows);
		if (p->rows)
			memcpy(p->rows, rows, n * sizeof *rows);
		else
			snprintf(p->error, sizeof p->error, "out of memory");
	} else {
		snprintf(p->error, sizeof p->error, "%zu rows for %zu channels", n, p->n);
	}
	p->state = PASS_PUBLISH;
	pass_step(p);
}

/* Ranks, renders both reports into the feature's state and asks embeds
 * to publish them. */
static void
publish(struct stats_pass *p)
{
	struct bot *b = p->bot;
	struct activity *a = state(b);
	size_t proposed = 0, permanent = 0;
	struct scores_channel *v = mem_calloc(p->n ? p->n : 1, sizeof *v);
	if (!v) {
		log_error("activity", "stats: out of memory rendering");
		return;
	}
	/* proposed channels first in v, permanent ones from the end */
	int64_t trimmed = 0;
	for (size_t i = 0; i < p->n; i++) {
		const struct cache_stats_row *r = &p->rows[i];
		struct scores_channel *c =
		        p->permanent[i] ? &v[p->n - 1 - permanent++] : &v[proposed++];
		c->channel_id = r->channel_id;
		c->total_messages = r->total_messages;
		c->last_message_timestamp = r->last_message_timestamp;
		c->recent_count = r->recent_count;
		for (int d = 0; d < SCORES_DAYS && d < CACHE_STATS_DAYS; d++)
			c->daily[d] = r->daily[d];
		trimmed += r->trimmed;
	}
	scores_rank_proposed(v, proposed);
	scores_rank_permanent(v + proposed, permanent);
	int ok = scores_report_proposed(&a->proposed, v, proposed) == 0 &&
	         scores_report_permanent(&a->permanent, v + proposed, permanent) == 0;
	mem_free(v);
	if (!ok) {
		a->have_reports = 0;
		log_error("activity", "stats: out of memory rendering");
		return;
	}
	a->have_reports = 1;
	a->passes++;
	log_info("activity",
	         "stats pass %llu: %zu proposed and %zu permanent channels%s, read in 1 Redis "
	         "round trip of %lld ms, %lld old entries trimmed, %lld ms in all",
	         (unsigned long long)a->passes, proposed, permanent,
	         p->from_memory ? " (from memory)" : "", (long long)p->read_ms, (long long)trimmed,
	         (long long)(loop_now(bot_loop(b)) - p->started_ms));
	/* render() is answered from the reports just made, unless a render
	 * is owed (then pass_end answers it) */
	a->publishing = 1;
	if (!a->owed_proposed)
		embeds_refresh(b, EMBED_PROPOSED_SCORES);
	if (!a->owed_permanent)
		embeds_refresh(b, EMBED_PERMANENT_SCORES);
	a->publishing = 0;
}

static void
pass_step(struct stats_pass *p)
{
	struct bot *b = p->bot;
	switch (p->state) {
	case PASS_LIST:
		if (store_channel_list(bot_db(b), on_listed, p) < 0) {
			struct db_reply failed = {.error = db_error(bot_db(b)), .sqlstate = ""};
			on_listed(p, &failed);
		}
		return;
	case PASS_READ:
		p->read_ms = loop_now(bot_loop(b)); /* on_read makes it a duration */
		if (cache_stats_read(bot_cache(b), p->ids, p->n, (int64_t)time(NULL), on_read, p) <
		    0) {
			snprintf(p->error, sizeof p->error, "%s",
			         "the read could not be queued (out of memory or closing)");
			p->state = PASS_PUBLISH;
			pass_step(p);
		}
		return;
	case PASS_PUBLISH:
		if (p->error[0])
			log_warn("activity", "stats: Redis not read (%s); reports left as they are",
			         p->error);
		else
			publish(p);
		pass_end(p);
		return;
	}
}

/* Starts a pass unless one is running. */
static void
pass_start(struct bot *b)
{
	struct activity *a = state(b);
	if (a->pass || bot_closing(b) || bot_stopping(b))
		return;
	loop_timer_stop(bot_loop(b), &a->timer);
	struct stats_pass *p = mem_calloc(1, sizeof *p);
	if (!p) {
		log_error("activity", "stats: out of memory; next try in one interval");
		loop_timer_start(bot_loop(b), &a->timer, interval_ms(b));
		return;
	}
	p->bot = b;
	p->state = PASS_LIST;
	p->started_ms = loop_now(bot_loop(b));
	a->pass = p;
	pass_step(p);
}

static void
on_timer(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct activity *a = t->data;
	pass_start(a->bot);
}

/* embeds' renderer. The stats task's own refresh (publishing) gets the
 * reports just made; a refresh asked from outside (a promotion, a
 * refresh of the channels, a recalculation, the start) starts a pass, or
 * joins the one running, and is answered when it ends, so it shows the
 * numbers as they are now. */
static void
render(struct bot *b, const char *name)
{
	struct activity *a = state(b);
	int proposed = strcmp(name, EMBED_PROPOSED_SCORES) == 0;
	if (a->have_reports && a->publishing) {
		embeds_rendered(b, name, proposed ? &a->proposed.embed : &a->permanent.embed);
		return;
	}
	if (proposed)
		a->owed_proposed = 1;
	else
		a->owed_permanent = 1;
	if (!a->pass)
		pass_start(b);
}

/* ------------------------------------------------------------ counting */

/* Every MESSAGE_CREATE, read without a DOM (bot.h, message hook): the
 * hot path. */
static void
activity_message(struct bot *b, const struct discord_message_head *m)
{
	if (!tracked_contains(b, m->channel_id, NULL))
		return;
	if (!scores_counts_head(m))
		return;
	cache_record_message(bot_cache(b), m->channel_id, m->id, scores_snowflake_time(m->id));
}

/* ------------------------------------------------------------ lifecycle events */

static void
on_channel_change(struct bot *b, const char *event_name, const struct json_value *d)
{
	uint64_t id, parent = 0;
	enum tracked_category was;
	if (json_path_id(d, "id", &id) < 0 || !tracked_contains(b, id, &was))
		return;
	const struct config *cfg = bot_config(b);
	if (strcmp(event_name, "CHANNEL_DELETE") == 0) {
		log_info("activity", "tracked channel %llu was deleted; no longer tracked",
		         (unsigned long long)id);
		tracked_remove(b, id, NULL, NULL);
		return;
	}
	json_path_id(d, "parent_id", &parent); /* null or absent: no category */
	if (parent == cfg->proposed_channel_category_id ||
	    parent == cfg->permanent_channel_category_id) {
		enum tracked_category now = parent == cfg->permanent_channel_category_id
		                                    ? TRACKED_PERMANENT
		                                    : TRACKED_PROPOSED;
		if (now != was) {
			log_info("activity", "tracked channel %llu moved to the %s category",
			         (unsigned long long)id,
			         now == TRACKED_PERMANENT ? "permanent" : "proposed");
			tracked_add(b, id, now, NULL, NULL);
		}
		return;
	}
	log_info("activity", "tracked channel %llu left both categories; no longer tracked",
	         (unsigned long long)id);
	tracked_remove(b, id, NULL, NULL);
}

/* ------------------------------------------------------------ hooks */

static int
activity_start(struct bot *b)
{
	struct activity *a = state(b);
	const struct config *cfg = bot_config(b);
	a->bot = b;
	loop_timer_init(&a->timer, on_timer, a);
	scores_report_init(&a->proposed);
	scores_report_init(&a->permanent);
	if (embeds_register(b, EMBED_PROPOSED_SCORES, cfg->proposed_activity_report_channel_id,
	                    render) < 0 ||
	    embeds_register(b, EMBED_PERMANENT_SCORES, cfg->permanent_activity_report_channel_id,
	                    render) < 0) {
		log_error("activity", "cannot register the activity embeds");
		return -1;
	}
	return 0;
}

static void
activity_ready(struct bot *b)
{
	struct activity *a = state(b);
	if (a->timer_armed_once)
		return;
	a->timer_armed_once = 1;
	if (!a->pass)
		loop_timer_start(bot_loop(b), &a->timer, ACTIVITY_FIRST_PASS_MS);
}

static void
activity_dispatch(struct bot *b, const char *event_name, const struct json_value *d)
{
	if (strcmp(event_name, "CHANNEL_UPDATE") == 0 || strcmp(event_name, "CHANNEL_DELETE") == 0)
		on_channel_change(b, event_name, d);
}

static void
activity_free(struct bot *b)
{
	struct activity *a = state(b);
	if (!a->bot)
		return; /* never started */
	loop_timer_stop(bot_loop(b), &a->timer);
	/* a pass in flight frees itself when its callback runs (closing) */
	if (a->pass)
		a->pass = NULL;
	scores_report_free(&a->proposed);
	scores_report_free(&a->permanent);
}

const struct bot_feature feature_activity = {
        .name = "activity",
        .state_size = sizeof(struct activity),
        .start = activity_start,
        .ready = activity_ready,
        .dispatch = activity_dispatch,
        .message = activity_message,
        .free = activity_free,
};
