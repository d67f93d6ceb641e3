/* cmd_core — /status (spec 6.6, cogs/core.py): a live round trip to
 * PostgreSQL and Redis, answered ephemerally within Discord's 3 seconds,
 * with a "Check again" button that re-runs the check in place. The same
 * check answers the health listener (--healthcheck), with the gateway's
 * state added. */
#include <stdio.h>
#include <string.h>

#include "bot.h"
#include "cache.h"
#include "db.h"
#include "feature_table.h"
#include "loop.h"
#include "mem.h"
#include "reply.h"

/* A live status check answers within this, so /status can reply directly
 * inside Discord's 3-second window; what has not answered counts as down. */
#define STATUS_TIMEOUT_MS 2000

/* ------------------------------------------------------------ the check */

/* The outcome: summary is "Status: OK. DB: Connected. Redis: Connected."
 * or names what is down; borrowed for the call. */
typedef void status_fn(void *data, int healthy, int db_ok, int cache_ok, int gateway_ok,
                       const char *summary);

struct status_job {
	struct bot *bot;
	status_fn *fn;
	void *data;
	int pending;               /* checks still out */
	int answered;              /* fn was called */
	int db_state, cache_state; /* -1 no answer yet, 0 down, 1 up */
	char db_error[160], cache_error[160];
	struct loop_timer timer;
};

static void
status_answer(struct status_job *j)
{
	struct bot *b = j->bot;
	int gateway_ok = bot_gateway_ready(b);
	int db_ok = j->db_state == 1, cache_ok = j->cache_state == 1;
	char db_part[200], cache_part[200], summary[512];
	if (db_ok)
		snprintf(db_part, sizeof db_part, "Connected");
	else
		snprintf(db_part, sizeof db_part, "Disconnected (%s)",
		         j->db_state < 0 ? "no answer within 2 s" : j->db_error);
	if (cache_ok)
		snprintf(cache_part, sizeof cache_part, "Connected");
	else
		snprintf(cache_part, sizeof cache_part, "Disconnected (%s)",
		         j->cache_state < 0 ? "no answer within 2 s" : j->cache_error);
	/* the spec's words when all is well (6.6) */
	snprintf(summary, sizeof summary, "Status: %s. DB: %s. Redis: %s.",
	         db_ok && cache_ok ? "OK" : "DEGRADED", db_part, cache_part);
	j->answered = 1;
	loop_timer_stop(bot_loop(b), &j->timer);
	j->fn(j->data, db_ok && cache_ok && gateway_ok, db_ok, cache_ok, gateway_ok, summary);
}

static void
status_settle(struct status_job *j)
{
	if (j->pending == 0 && !j->answered)
		status_answer(j);
	if (j->pending == 0 && j->answered)
		mem_free(j);
}

static void
on_status_timeout(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct status_job *j = t->data;
	if (!j->answered)
		status_answer(j);
}

static void
on_status_db(void *data, const struct db_reply *reply)
{
	struct status_job *j = data;
	j->db_state = reply->error ? 0 : 1;
	if (reply->error)
		snprintf(j->db_error, sizeof j->db_error, "%s", reply->error);
	j->pending--;
	status_settle(j);
}

static void
on_status_cache(void *data, long long value, const char *error)
{
	(void)value;
	struct status_job *j = data;
	j->cache_state = error ? 0 : 1;
	if (error)
		snprintf(j->cache_error, sizeof j->cache_error, "%s", error);
	j->pending--;
	status_settle(j);
}

/* Runs the check; fn runs exactly once, within STATUS_TIMEOUT_MS. */
static void
check_status(struct bot *b, status_fn *fn, void *data)
{
	struct status_job *j = mem_calloc(1, sizeof *j);
	if (!j) {
		fn(data, 0, 0, 0, 0, "Status: check failed: out of memory.");
		return;
	}
	struct db *db = bot_db(b);
	struct cache *cache = bot_cache(b);
	j->bot = b;
	j->fn = fn;
	j->data = data;
	j->db_state = j->cache_state = -1;
	loop_timer_init(&j->timer, on_status_timeout, j);
	loop_timer_start(bot_loop(b), &j->timer, STATUS_TIMEOUT_MS);
	j->pending = 2;
	if (!db || db_ping(db, STATUS_TIMEOUT_MS, on_status_db, j) < 0) {
		j->db_state = 0;
		snprintf(j->db_error, sizeof j->db_error, "%s", db ? db_error(db) : "not started");
		j->pending--;
	}
	if (!cache || cache_ping(cache, on_status_cache, j) < 0) {
		j->cache_state = 0;
		snprintf(j->cache_error, sizeof j->cache_error, "%s",
		         cache ? cache_error(cache) : "not started");
		j->pending--;
	}
	status_settle(j);
}

/* ------------------------------------------------------------ health listener */

struct health_reply {
	health_answer_fn *answer;
	void *conn;
};

static void
on_health_status(void *data, int healthy, int db_ok, int cache_ok, int gateway_ok,
                 const char *summary)
{
	(void)db_ok;
	(void)cache_ok;
	struct health_reply *h = data;
	char line[600];
	snprintf(line, sizeof line, "%s Gateway: %s.", summary,
	         gateway_ok ? "Connected" : "Disconnected");
	h->answer(h->conn, healthy, line);
	mem_free(h);
}

static void
health_check(struct bot *b, health_answer_fn *answer, void *conn)
{
	struct health_reply *h = mem_alloc(sizeof *h);
	if (!h) {
		answer(conn, 0, "Status: out of memory");
		return;
	}
	h->answer = answer;
	h->conn = conn;
	check_status(b, on_health_status, h);
}

/* ------------------------------------------------------------ /status */

/* One action row with one secondary button (docs: Components). */
static const char check_again[] = "[{\"type\":1,\"components\":[{\"type\":2,\"style\":2,"
                                  "\"label\":\"Check again\",\"custom_id\":\"status:refresh\"}]}]";

struct status_reply {
	struct bot *bot;
	struct interaction it; /* a copy: the event is gone when the check ends */
	int refresh;           /* answer by updating the message the button is on */
};

static void
on_status(void *data, int healthy, int db_ok, int cache_ok, int gateway_ok, const char *summary)
{
	(void)healthy;
	(void)db_ok;
	(void)cache_ok;
	(void)gateway_ok;
	struct status_reply *r = data;
	if (r->refresh)
		reply_update(r->bot, &r->it, summary, NULL, check_again);
	else
		reply_components(r->bot, &r->it, summary, NULL, 1, check_again);
	mem_free(r);
}

static void
check(struct bot *b, const struct interaction *it, int refresh)
{
	struct status_reply *r = mem_alloc(sizeof *r);
	if (!r) {
		reply_message(b, it, "Status: check failed: out of memory.", NULL, 1);
		return;
	}
	r->bot = b;
	r->it = *it;
	r->it.data = NULL;
	r->refresh = refresh;
	check_status(b, on_status, r);
}

static void
cmd_status(struct bot *b, const struct interaction *it)
{
	check(b, it, 0);
}

static void
cmd_status_refresh(struct bot *b, const struct interaction *it)
{
	check(b, it, 1);
}

/* ------------------------------------------------------------ the feature */

static int
core_start(struct bot *b)
{
	bot_set_health_check(b, health_check);
	return 0;
}

static const struct bot_command commands[] = {
        {"status", "Check the bot's database and cache connections", 1, {{0}}, cmd_status, NULL},
};

static const struct bot_component components[] = {
        {"status:", 1, cmd_status_refresh},
};

const struct bot_feature feature_core = {
        .name = "core",
        .commands = commands,
        .command_count = sizeof commands / sizeof commands[0],
        .components = components,
        .component_count = sizeof components / sizeof components[0],
        .start = core_start,
};
