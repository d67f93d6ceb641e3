/* bot — see bot.h. */
#include "bot.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cache.h"
#include "config.h"
#include "db.h"
#include "gateway.h"
#include "health.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "migrate.h"
#include "store.h"
#include "tls.h"
#include "versions.h"

/* The whole stop must end within 5 s (CONTRACT.md); these are its steps'
 * shares, leaving the rest as margin. */
#define STOP_DEADLINE_MS 4500
#define STOP_GOODBYE_MS  2000 /* posting "Bot Shutting Down" */
#define STOP_GATEWAY_MS  1200 /* the close handshake */
#define STOP_FLUSH_MS    600  /* Redis writes still buffered */
/* A live status check answers within this, so /status can reply directly
 * inside Discord's 3-second window; what has not answered counts as down. */
#define STATUS_TIMEOUT_MS 2000
/* GET /gateway/bot failed (Discord down, network): try again after this. */
#define GATEWAY_BOT_RETRY_MS 5000
/* Embed colours. */
#define COLOR_GREEN  0x2ecc71
#define COLOR_ORANGE 0xe67e22

enum phase {
	PHASE_NEW,
	PHASE_DB,          /* waiting for PostgreSQL */
	PHASE_MIGRATE,     /* applying sql/ */
	PHASE_LOAD,        /* reading tracked_channels and persistent_embeds */
	PHASE_GATEWAY_BOT, /* asking Discord where the gateway is */
	PHASE_RUNNING,     /* gateway started (connected or reconnecting) */
	PHASE_STOPPING,
	PHASE_STOPPED,
};

struct tracked_channel {
	uint64_t id;
	int permanent;
};

/* Interactions being handled at once: each is a user waiting; past this
 * many something is stuck, and new ones run without the guard. */
#define BOT_ANSWERS_MAX 64
/* The guard defers a handler that has not answered by then, leaving a
 * margin within Discord's 3 s for the defer to travel. */
#define ANSWER_GUARD_MS 1500
/* A deferred answer that never comes is replaced by an apology. */
#define ANSWER_GIVE_UP_MS 30000

struct pending_answer {
	int in_use;
	int deferred;
	struct interaction it; /* id, token, name: what an answer needs */
	struct bot *bot;
	struct loop_timer timer;
};

/* persistent_embeds rows: a handful of named messages (spec 5.1). */
#define BOT_EMBEDS_MAX 16

struct persistent_embed {
	char name[64];
	uint64_t channel_id, message_id; /* where it lives; 0: not posted yet */
	/* a refresh (bot_embed_refresh): at most one in flight per embed */
	struct bot *bot;
	int refreshing;
	int dirty;                   /* asked again during the refresh */
	uint64_t wanted_channel_id;  /* where the refresh puts it */
	bot_embed_render_fn *render; /* the last refresh's renderer */
	char *body;                  /* the rendered message, for a re-POST after 404 */
};

struct bot {
	struct loop *loop;
	const struct config *cfg;
	struct tls_trust *trust;
	struct db *db;
	struct cache *cache;
	struct rest *rest;
	struct gateway *gateway;
	struct health *health;

	enum phase phase;
	int exit_status;
	int freeing;
	uint64_t application_id;
	int online_announced;
	int ever_ready;

	struct tracked_channel *tracked;
	size_t tracked_count, tracked_cap;
	struct persistent_embed embeds[BOT_EMBEDS_MAX];
	size_t embed_count;

	struct pending_answer answers[BOT_ANSWERS_MAX];

	struct loop_timer retry_timer;
	struct loop_timer stop_deadline;
	struct loop_timer stop_step_timer;
	int stop_step;

	struct buf scratch; /* request bodies, built and handed to rest (which copies) */
};

static void stop_next(struct bot *b);

/* ------------------------------------------------------------ services */

const struct config *
bot_config(const struct bot *b)
{
	return b->cfg;
}

struct db *
bot_db(struct bot *b)
{
	return b->db;
}

struct cache *
bot_cache(struct bot *b)
{
	return b->cache;
}

struct rest *
bot_rest(struct bot *b)
{
	return b->rest;
}

struct loop *
bot_loop(struct bot *b)
{
	return b->loop;
}

int
bot_exit_status(const struct bot *b)
{
	return b->exit_status;
}

/* Logs a failed request; for calls whose outcome needs no other care. */
static void
log_failure(int status, const struct json_value *body, const char *error, void *data)
{
	(void)body;
	if (error)
		log_warn("bot", "%s failed: %s (HTTP %d)", (const char *)data, error, status);
}

static void
request(struct bot *b, const char *method, const char *path, const char *body, const char *what,
        rest_done_fn *fn, void *data)
{
	if (rest_request(b->rest, method, path, body, NULL, fn ? fn : log_failure,
	                 fn ? data : (void *)what) < 0) {
		log_warn("bot", "%s not sent: %s", what, rest_error(b->rest));
		if (fn)
			fn(0, NULL, rest_error(b->rest), data);
	}
}

/* ------------------------------------------------------------ answers */

/* Every interaction must be acknowledged within 3 s (docs: Interactions,
 * "Responding to an Interaction"). A handler that has not answered after
 * ANSWER_GUARD_MS is deferred for it (type 5, or 6 for a click), and its
 * answer, when it comes, becomes an edit of the original response. A
 * handler that never answers gets an apology after ANSWER_GIVE_UP_MS, so
 * no user is left looking at "thinking..." for ever. */
static void
edit_original(struct bot *b, const struct interaction *it, const char *content,
              const struct discord_embed *embed, const char *components_json)
{
	char path[DISCORD_TOKEN_MAX + 64];
	snprintf(path, sizeof path, "/webhooks/%llu/%s/messages/@original",
	         (unsigned long long)(it->application_id ? it->application_id : b->application_id),
	         it->token);
	if (discord_message_json(&b->scratch, content, embed, 0, components_json) < 0) {
		log_error("bot", "edit of the answer to %s does not fit", it->name);
		return;
	}
	request(b, "PATCH", path, b->scratch.data, "interaction edit", NULL, NULL);
}

static struct pending_answer *
find_answer(struct bot *b, uint64_t id)
{
	for (size_t i = 0; i < BOT_ANSWERS_MAX; i++)
		if (b->answers[i].in_use && b->answers[i].it.id == id)
			return &b->answers[i];
	return NULL;
}

static void
forget_answer(struct bot *b, struct pending_answer *a)
{
	loop_timer_stop(b->loop, &a->timer);
	a->in_use = 0;
}

static void
on_answer_timer(struct loop *loop, struct loop_timer *t)
{
	struct pending_answer *a = t->data;
	struct bot *b = a->bot;
	if (!a->deferred) {
		/* the handler is still working: acknowledge now, answer later */
		log_info("bot", "%s is taking long; deferring its answer", a->it.name);
		a->deferred = 1;
		int type = a->it.type == INTERACTION_COMPONENT ? CALLBACK_DEFER_UPDATE
		                                               : CALLBACK_DEFER;
		char path[DISCORD_TOKEN_MAX + 64];
		snprintf(path, sizeof path, "/interactions/%llu/%s/callback",
		         (unsigned long long)a->it.id, a->it.token);
		discord_callback_json(&b->scratch, type, NULL, NULL, 1, NULL);
		request(b, "POST", path, b->scratch.data, "interaction defer", NULL, NULL);
		loop_timer_start(loop, t, ANSWER_GIVE_UP_MS);
		return;
	}
	log_error("bot", "%s never answered; telling the user", a->it.name);
	edit_original(b, &a->it, "Sorry, this took too long. Please try again later.", NULL, NULL);
	forget_answer(b, a);
}

/* Starts the guard for an interaction about to be handled. */
static void
guard_answer(struct bot *b, const struct interaction *it)
{
	struct pending_answer *a = NULL;
	for (size_t i = 0; i < BOT_ANSWERS_MAX && !a; i++)
		if (!b->answers[i].in_use)
			a = &b->answers[i];
	if (!a) {
		log_warn("bot", "more than %d interactions in progress; %s runs unguarded",
		         BOT_ANSWERS_MAX, it->name);
		return;
	}
	a->in_use = 1;
	a->deferred = 0;
	a->it = *it;
	a->it.data = NULL;
	a->bot = b;
	loop_timer_init(&a->timer, on_answer_timer, a);
	loop_timer_start(b->loop, &a->timer, ANSWER_GUARD_MS);
}

/* Sends an interaction callback of the given type, or, once the guard
 * deferred it, the equivalent edit of the original response. */
static void
respond(struct bot *b, const struct interaction *it, int type, const char *content,
        const struct discord_embed *embed, int ephemeral, const char *components_json)
{
	struct pending_answer *a = find_answer(b, it->id);
	if (a && a->deferred) {
		forget_answer(b, a);
		edit_original(b, it, content, embed, components_json);
		return;
	}
	if (a)
		forget_answer(b, a);
	char path[DISCORD_TOKEN_MAX + 64];
	snprintf(path, sizeof path, "/interactions/%llu/%s/callback", (unsigned long long)it->id,
	         it->token);
	if (discord_callback_json(&b->scratch, type, content, embed, ephemeral, components_json) <
	    0) {
		log_error("bot", "answer to %s does not fit", it->name);
		return;
	}
	request(b, "POST", path, b->scratch.data, "interaction response", NULL, NULL);
}

void
bot_reply(struct bot *b, const struct interaction *it, const char *content,
          const struct discord_embed *embed, int ephemeral)
{
	respond(b, it, CALLBACK_MESSAGE, content, embed, ephemeral, NULL);
}

void
bot_reply_components(struct bot *b, const struct interaction *it, const char *content,
                     const struct discord_embed *embed, int ephemeral, const char *components_json)
{
	respond(b, it, CALLBACK_MESSAGE, content, embed, ephemeral, components_json);
}

void
bot_update_message(struct bot *b, const struct interaction *it, const char *content,
                   const struct discord_embed *embed, const char *components_json)
{
	respond(b, it, CALLBACK_UPDATE_MESSAGE, content, embed, 0, components_json);
}

void
bot_defer(struct bot *b, const struct interaction *it, int ephemeral)
{
	struct pending_answer *a = find_answer(b, it->id);
	if (a && a->deferred)
		return; /* the guard did it already */
	char path[DISCORD_TOKEN_MAX + 64];
	snprintf(path, sizeof path, "/interactions/%llu/%s/callback", (unsigned long long)it->id,
	         it->token);
	discord_callback_json(&b->scratch, CALLBACK_DEFER, NULL, NULL, ephemeral, NULL);
	request(b, "POST", path, b->scratch.data, "interaction defer", NULL, NULL);
	if (a) {
		/* keep watching: the final edit must still come */
		a->deferred = 1;
		loop_timer_start(b->loop, &a->timer, ANSWER_GIVE_UP_MS);
	}
}

void
bot_edit_reply(struct bot *b, const struct interaction *it, const char *content,
               const struct discord_embed *embed)
{
	struct pending_answer *a = find_answer(b, it->id);
	if (a)
		forget_answer(b, a);
	edit_original(b, it, content, embed, NULL);
}

void
bot_post(struct bot *b, uint64_t channel_id, const char *content, const struct discord_embed *embed,
         rest_done_fn *fn, void *data)
{
	char path[64];
	snprintf(path, sizeof path, "/channels/%llu/messages", (unsigned long long)channel_id);
	if (discord_message_json(&b->scratch, content, embed, 0, NULL) < 0) {
		log_error("bot", "message to channel %llu does not fit",
		          (unsigned long long)channel_id);
		if (fn)
			fn(0, NULL, "message too large", data);
		return;
	}
	request(b, "POST", path, b->scratch.data, "message", fn, data);
}

void
bot_followup(struct bot *b, const struct interaction *it, const char *content, int ephemeral)
{
	char path[DISCORD_TOKEN_MAX + 64];
	snprintf(path, sizeof path, "/webhooks/%llu/%s",
	         (unsigned long long)(it->application_id ? it->application_id : b->application_id),
	         it->token);
	if (discord_message_json(&b->scratch, content, NULL, ephemeral, NULL) < 0) {
		log_error("bot", "follow-up to %s does not fit", it->name);
		return;
	}
	request(b, "POST", path, b->scratch.data, "interaction follow-up", NULL, NULL);
}

int
bot_closing(const struct bot *b)
{
	return b->freeing;
}

/* ------------------------------------------------------------ direct messages */

/* docs: Resources, User, "Create DM": the channel is the same for the same
 * user, so opening it each time is harmless (and keeps no state here). */
struct dm_job {
	struct bot *bot;
	char *body; /* the message, built at bot_dm time */
	rest_done_fn *fn;
	void *data;
};

static void
dm_finish(struct dm_job *j, int status, const struct json_value *body, const char *error)
{
	if (j->fn)
		j->fn(status, body, error, j->data);
	mem_free(j->body);
	mem_free(j);
}

static void
on_dm_sent(int status, const struct json_value *body, const char *error, void *data)
{
	dm_finish(data, status, body, error);
}

static void
on_dm_channel(int status, const struct json_value *body, const char *error, void *data)
{
	struct dm_job *j = data;
	struct bot *b = j->bot;
	uint64_t channel_id = 0;
	if (!error && json_path_id(body, "id", &channel_id) < 0)
		error = "no channel id in the answer";
	if (error || b->freeing) {
		dm_finish(j, status, body, error ? error : "bot closing");
		return;
	}
	char path[64];
	snprintf(path, sizeof path, "/channels/%llu/messages", (unsigned long long)channel_id);
	request(b, "POST", path, j->body, "direct message", on_dm_sent, j);
}

void
bot_dm(struct bot *b, uint64_t user_id, const char *content, const struct discord_embed *embed,
       rest_done_fn *fn, void *data)
{
	struct dm_job *j = mem_calloc(1, sizeof *j);
	if (j && discord_message_json(&b->scratch, content, embed, 0, NULL) == 0)
		j->body = mem_strdup(b->scratch.data);
	if (!j || !j->body) {
		mem_free(j);
		if (fn)
			fn(0, NULL, "out of memory (or the message does not fit)", data);
		return;
	}
	j->bot = b;
	j->fn = fn;
	j->data = data;
	struct buf open;
	buf_init(&open, 256);
	struct json_writer w;
	json_writer_init(&w, &open);
	json_write_object_begin(&w);
	json_write_key(&w, "recipient_id");
	json_write_id(&w, user_id);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0) {
		buf_free(&open);
		dm_finish(j, 0, NULL, "out of memory");
		return;
	}
	request(b, "POST", "/users/@me/channels", open.data, "DM channel", on_dm_channel, j);
	buf_free(&open);
}

/* ------------------------------------------------------------ persistent embeds */

static struct persistent_embed *
embed_named(struct bot *b, const char *name)
{
	for (size_t i = 0; i < b->embed_count; i++)
		if (strcmp(b->embeds[i].name, name) == 0)
			return &b->embeds[i];
	return NULL;
}

/* The entry for name, made (not yet posted) if missing; NULL when full. */
static struct persistent_embed *
embed_entry(struct bot *b, const char *name)
{
	struct persistent_embed *e = embed_named(b, name);
	if (e || b->embed_count == BOT_EMBEDS_MAX)
		return e;
	e = &b->embeds[b->embed_count++];
	memset(e, 0, sizeof *e);
	snprintf(e->name, sizeof e->name, "%s", name);
	return e;
}

int
bot_embed_find(const struct bot *b, const char *name, uint64_t *channel_id, uint64_t *message_id)
{
	for (size_t i = 0; i < b->embed_count; i++)
		if (strcmp(b->embeds[i].name, name) == 0 && b->embeds[i].message_id) {
			*channel_id = b->embeds[i].channel_id;
			*message_id = b->embeds[i].message_id;
			return 0;
		}
	return -1;
}

static void
on_embed_saved(void *data, const struct db_reply *reply)
{
	(void)data;
	if (reply->error)
		log_error("bot", "saving a persistent embed failed: %s", reply->error);
}

int
bot_embed_save(struct bot *b, const char *name, uint64_t channel_id, uint64_t message_id)
{
	struct persistent_embed *e = embed_entry(b, name);
	if (!e) {
		log_error("bot", "no room for persistent embed %s", name);
		return -1;
	}
	e->channel_id = channel_id;
	e->message_id = message_id;
	if (!b->db ||
	    store_embed_upsert(b->db, name, channel_id, message_id, on_embed_saved, b) < 0)
		log_error("bot", "persistent embed %s not saved: %s", name,
		          b->db ? db_error(b->db) : "no database");
	return 0;
}

static void embed_render(struct persistent_embed *e);

/* The refresh of e ended (well or not): run the one more it owes. */
static void
embed_done(struct persistent_embed *e)
{
	mem_free(e->body);
	e->body = NULL;
	e->refreshing = 0;
	if (e->dirty && !e->bot->freeing && e->bot->phase != PHASE_STOPPED) {
		e->dirty = 0;
		embed_render(e);
	}
}

static void
on_embed_posted(int status, const struct json_value *body, const char *error, void *data)
{
	struct persistent_embed *e = data;
	struct bot *b = e->bot;
	if (b->freeing)
		return;
	uint64_t message_id;
	if (error)
		log_error("bot", "posting persistent embed %s failed: %s (HTTP %d)", e->name, error,
		          status);
	else if (json_path_id(body, "id", &message_id) < 0)
		log_error("bot", "posting persistent embed %s: no message id", e->name);
	else {
		log_info("bot", "persistent embed %s posted as message %llu", e->name,
		         (unsigned long long)message_id);
		bot_embed_save(b, e->name, e->wanted_channel_id, message_id);
	}
	embed_done(e);
}

static void
embed_post(struct persistent_embed *e)
{
	char path[64];
	snprintf(path, sizeof path, "/channels/%llu/messages",
	         (unsigned long long)e->wanted_channel_id);
	request(e->bot, "POST", path, e->body, "persistent embed post", on_embed_posted, e);
}

static void
on_embed_edited(int status, const struct json_value *body, const char *error, void *data)
{
	(void)body;
	struct persistent_embed *e = data;
	if (e->bot->freeing)
		return;
	if (status == 404) {
		/* docs: 10008 Unknown Message: deleted by hand; post a new one */
		log_warn("bot", "persistent embed %s was deleted; posting it again", e->name);
		embed_post(e);
		return;
	}
	if (error)
		log_error("bot", "editing persistent embed %s failed: %s (HTTP %d)", e->name, error,
		          status);
	else
		log_debug("bot", "persistent embed %s edited", e->name);
	embed_done(e);
}

static void
embed_render(struct persistent_embed *e)
{
	e->refreshing = 1;
	e->render(e->bot, e->name);
}

void
bot_embed_refresh(struct bot *b, const char *name, uint64_t channel_id, bot_embed_render_fn *render)
{
	if (b->freeing)
		return;
	struct persistent_embed *e = embed_entry(b, name);
	if (!e) {
		log_error("bot", "no room for persistent embed %s", name);
		return;
	}
	e->bot = b;
	e->render = render;
	e->wanted_channel_id = channel_id;
	if (e->refreshing) {
		e->dirty = 1;
		return;
	}
	embed_render(e);
}

void
bot_embed_rendered(struct bot *b, const char *name, const struct discord_embed *embed)
{
	if (b->freeing)
		return;
	struct persistent_embed *e = embed_named(b, name);
	if (!e || !e->refreshing)
		return;
	if (!embed) {
		embed_done(e);
		return;
	}
	if (discord_message_json(&b->scratch, NULL, embed, 0, NULL) < 0 ||
	    !(e->body = mem_strdup(b->scratch.data))) {
		log_error("bot", "persistent embed %s: out of memory", name);
		embed_done(e);
		return;
	}
	if (!e->message_id || e->channel_id != e->wanted_channel_id) {
		embed_post(e);
		return;
	}
	char path[96];
	snprintf(path, sizeof path, "/channels/%llu/messages/%llu",
	         (unsigned long long)e->channel_id, (unsigned long long)e->message_id);
	request(b, "PATCH", path, e->body, "persistent embed edit", on_embed_edited, e);
}

/* ------------------------------------------------------------ status */

struct status_job {
	struct bot *bot;
	bot_status_fn *fn;
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
	int gateway_ok = b->gateway && gateway_is_ready(b->gateway);
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
	loop_timer_stop(b->loop, &j->timer);
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

void
bot_check_status(struct bot *b, bot_status_fn *fn, void *data)
{
	struct status_job *j = mem_calloc(1, sizeof *j);
	if (!j) {
		fn(data, 0, 0, 0, 0, "Status: check failed: out of memory.");
		return;
	}
	j->bot = b;
	j->fn = fn;
	j->data = data;
	j->db_state = j->cache_state = -1;
	loop_timer_init(&j->timer, on_status_timeout, j);
	loop_timer_start(b->loop, &j->timer, STATUS_TIMEOUT_MS);
	j->pending = 2;
	if (!b->db || db_ping(b->db, STATUS_TIMEOUT_MS, on_status_db, j) < 0) {
		j->db_state = 0;
		snprintf(j->db_error, sizeof j->db_error, "%s",
		         b->db ? db_error(b->db) : "not started");
		j->pending--;
	}
	if (!b->cache || cache_ping(b->cache, on_status_cache, j) < 0) {
		j->cache_state = 0;
		snprintf(j->cache_error, sizeof j->cache_error, "%s",
		         b->cache ? cache_error(b->cache) : "not started");
		j->pending--;
	}
	status_settle(j);
}

/* The health listener's check: the same, plus the gateway. */
static void
on_health_status(void *data, int healthy, int db_ok, int cache_ok, int gateway_ok,
                 const char *summary)
{
	(void)db_ok;
	(void)cache_ok;
	void **ctx = data;
	health_answer_fn *answer = (health_answer_fn *)ctx[0];
	void *conn = ctx[1];
	char line[600];
	snprintf(line, sizeof line, "%s Gateway: %s.", summary,
	         gateway_ok ? "Connected" : "Disconnected");
	answer(conn, healthy, line);
	mem_free(ctx);
}

static void
health_check(void *data, health_answer_fn *answer, void *conn)
{
	struct bot *b = data;
	void **ctx = mem_calloc(2, sizeof *ctx);
	if (!ctx) {
		answer(conn, 0, "Status: out of memory");
		return;
	}
	/* a function pointer travels as data: one small context */
	memcpy(&ctx[0], &answer, sizeof answer);
	ctx[1] = conn;
	bot_check_status(b, on_health_status, ctx);
}

/* ------------------------------------------------------------ commands */

static const struct bot_command *
find_command(const char *name)
{
	for (size_t i = 0; i < bot_command_count; i++)
		if (strcmp(bot_commands[i].name, name) == 0)
			return &bot_commands[i];
	return NULL;
}

/* The handler whose prefix starts custom_id ("status:refresh"). */
static const struct bot_component *
find_component(const char *custom_id)
{
	for (size_t i = 0; i < bot_component_count; i++)
		if (strncmp(custom_id, bot_components[i].prefix,
		            strlen(bot_components[i].prefix)) == 0)
			return &bot_components[i];
	return NULL;
}

int
bot_commands_json(const struct config *cfg, struct buf *out)
{
	struct json_writer w;
	buf_reset(out);
	json_writer_init(&w, out);
	json_write_array_begin(&w);
	for (size_t i = 0; i < bot_command_count; i++) {
		const struct bot_command *c = &bot_commands[i];
		json_write_object_begin(&w);
		json_write_key_string(&w, "name", c->name);
		json_write_key_string(&w, "description", c->description);
		json_write_key_int64(&w, "type", 1); /* CHAT_INPUT */
		if (c->admin) {
			/* hidden from members without Manage Server by default;
			 * the run-time check still applies */
			json_write_key_string(&w, "default_member_permissions", "32");
		}
		json_write_key(&w, "options");
		json_write_array_begin(&w);
		for (size_t k = 0; k < BOT_OPTIONS_MAX && c->options[k].name; k++) {
			const struct bot_option *o = &c->options[k];
			json_write_object_begin(&w);
			json_write_key_int64(&w, "type", o->type);
			json_write_key_string(&w, "name", o->name);
			json_write_key_string(&w, "description", o->description);
			json_write_key_bool(&w, "required", o->required);
			if (o->min_value)
				json_write_key_int64(&w, "min_value", o->min_value);
			if (o->max_value == -1)
				json_write_key_int64(&w, "max_value",
				                     cfg->stats_recalculation_month_limit);
			else if (o->max_value)
				json_write_key_int64(&w, "max_value", o->max_value);
			if (o->min_length)
				json_write_key_int64(&w, "min_length", o->min_length);
			if (o->max_length)
				json_write_key_int64(&w, "max_length", o->max_length);
			if (o->text_channels) {
				json_write_key(&w, "channel_types");
				json_write_array_begin(&w);
				json_write_int64(&w, 0); /* GUILD_TEXT */
				json_write_array_end(&w);
			}
			json_write_object_end(&w);
		}
		json_write_array_end(&w);
		json_write_object_end(&w);
	}
	json_write_array_end(&w);
	return json_writer_finish(&w);
}

static void
on_commands_registered(int status, const struct json_value *body, const char *error, void *data)
{
	(void)data;
	if (error) {
		log_error("bot", "registering the slash commands failed: %s (HTTP %d)", error,
		          status);
		return;
	}
	log_info("bot", "registered %zu slash commands", json_len(body));
}

static void
register_commands(struct bot *b)
{
	char path[128];
	snprintf(path, sizeof path, "/applications/%llu/guilds/%llu/commands",
	         (unsigned long long)b->application_id, (unsigned long long)b->cfg->guild_id);
	if (bot_commands_json(b->cfg, &b->scratch) < 0) {
		log_error("bot", "the command list does not fit");
		return;
	}
	/* one bulk overwrite: Discord then holds exactly these commands */
	request(b, "PUT", path, b->scratch.data, "command registration", on_commands_registered, b);
}

/* ------------------------------------------------------------ events */

static void
dispatch_interaction(struct bot *b, const struct json_value *d)
{
	struct interaction it;
	char err[200];
	if (interaction_parse(d, &it, err, sizeof err) < 0) {
		log_warn("bot", "unusable interaction: %s", err);
		return;
	}
	if (it.guild_id != b->cfg->guild_id) {
		bot_reply(b, &it, "Agora works only inside its server.", NULL, 1);
		return;
	}
	if (it.type == INTERACTION_COMMAND) {
		const struct bot_command *c = find_command(it.name);
		if (!c) {
			log_warn("bot", "unknown command /%s", it.name);
			bot_reply(b, &it, "This command is not known to Agora.", NULL, 1);
			return;
		}
		if (c->admin && !interaction_is_admin(&it, b->cfg->admin_role_id)) {
			log_info("bot", "refused /%s to user %llu: not an admin", it.name,
			         (unsigned long long)it.user_id);
			bot_reply(b, &it, "This command is for admins only.", NULL, 1);
			return;
		}
		log_info("bot", "/%s from user %llu", it.name, (unsigned long long)it.user_id);
		guard_answer(b, &it);
		c->run(b, &it);
		return;
	}
	if (it.type == INTERACTION_COMPONENT || it.type == INTERACTION_MODAL_SUBMIT) {
		const struct bot_component *c = find_component(it.name);
		if (!c) {
			/* an old button, or one from a removed feature: answer so
			 * the user's client does not spin, and say why */
			log_info("bot", "no handler for custom_id %s", it.name);
			bot_reply(b, &it, "This button or form is no longer active.", NULL, 1);
			return;
		}
		if (c->admin && !interaction_is_admin(&it, b->cfg->admin_role_id)) {
			bot_reply(b, &it, "This is for admins only.", NULL, 1);
			return;
		}
		guard_answer(b, &it);
		c->run(b, &it);
		return;
	}
}

/* Whether channel_id is tracked (tracked_channels, loaded at start). */
static int
is_tracked(const struct bot *b, uint64_t channel_id)
{
	for (size_t i = 0; i < b->tracked_count; i++)
		if (b->tracked[i].id == channel_id)
			return 1;
	return 0;
}

static void
on_message(struct bot *b, const struct json_value *d)
{
	uint64_t channel_id, message_id;
	if (json_path_id(d, "channel_id", &channel_id) < 0 ||
	    json_path_id(d, "id", &message_id) < 0)
		return;
	if (!is_tracked(b, channel_id))
		return;
	/* bots do not make a channel lively (and this keeps our own posts out) */
	if (json_bool(json_path(d, "author.bot")) == 1)
		return;
	/* a snowflake holds its creation time: ms since 2015-01-01 in the top
	 * 42 bits (docs: Reference, "Snowflakes") */
	int64_t unix_time = (int64_t)(((message_id >> 22) + UINT64_C(1420070400000)) / 1000);
	cache_record_message(b->cache, channel_id, message_id, unix_time);
}

static void
announce_online(struct bot *b)
{
	if (b->online_announced)
		return;
	b->online_announced = 1;
	char text[160];
	snprintf(text, sizeof text, "Agora %s is connected and ready.", AGORA_VERSION);
	struct discord_embed e = {.title = "Bot Online", .description = text, .color = COLOR_GREEN};
	bot_post(b, b->cfg->admin_notification_channel_id, NULL, &e, NULL, NULL);
}

static void
fail(struct bot *b, const char *why)
{
	log_crit("bot", "%s", why);
	b->exit_status = 1;
	bot_shutdown(b);
}

static void
on_gateway_event(struct gateway *g, enum gateway_event ev, const char *name,
                 const struct json_value *d, void *data)
{
	struct bot *b = data;
	switch (ev) {
	case GATEWAY_READY:
		b->ever_ready = 1;
		if (json_path_id(d, "application.id", &b->application_id) < 0)
			json_path_id(d, "user.id", &b->application_id);
		register_commands(b);
		announce_online(b);
		break;
	case GATEWAY_RESUMED:
		break;
	case GATEWAY_DISPATCH:
		if (strcmp(name, "INTERACTION_CREATE") == 0)
			dispatch_interaction(b, d);
		else if (strcmp(name, "MESSAGE_CREATE") == 0)
			on_message(b, d);
		break;
	case GATEWAY_DOWN:
		break;
	case GATEWAY_CLOSED:
		if (b->phase == PHASE_STOPPING && b->stop_step == 2)
			stop_next(b);
		break;
	case GATEWAY_FATAL:
		fail(b, gateway_error(g));
		break;
	}
}

/* ------------------------------------------------------------ start */

static void ask_gateway_bot(struct bot *b);

static void
on_retry_timer(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct bot *b = t->data;
	if (b->phase == PHASE_GATEWAY_BOT)
		ask_gateway_bot(b);
}

static void
on_gateway_bot(int status, const struct json_value *body, const char *error, void *data)
{
	struct bot *b = data;
	if (b->freeing || b->phase != PHASE_GATEWAY_BOT)
		return;
	const char *url = json_path_str(body, "url");
	if (error || !url) {
		if (rest_is_fatal(b->rest)) {
			fail(b, rest_error(b->rest));
			return;
		}
		log_error("bot", "GET /gateway/bot failed: %s (HTTP %d); retrying in %d s",
		          error ? error : "no url in the answer", status,
		          GATEWAY_BOT_RETRY_MS / 1000);
		loop_timer_start(b->loop, &b->retry_timer, GATEWAY_BOT_RETRY_MS);
		return;
	}
	int64_t remaining = 1000, reset_after = 0;
	json_path_int64(body, "session_start_limit.remaining", &remaining);
	json_path_int64(body, "session_start_limit.reset_after", &reset_after);
	struct gateway_options opt = {
	        .token = b->cfg->discord_bot_token,
	        /* GUILDS (channels, categories) and GUILD_MESSAGES (activity):
	         * no privileged intent is needed (CONTRACT.md) */
	        .intents = GATEWAY_INTENT_GUILDS | GATEWAY_INTENT_GUILD_MESSAGES,
	        .url = url,
	        .trust = b->trust,
	        .identify_remaining = (long)remaining,
	        .identify_reset_after_ms = reset_after,
	};
	b->gateway = gateway_new(b->loop, &opt, on_gateway_event, b);
	if (!b->gateway) {
		fail(b, "out of memory creating the gateway");
		return;
	}
	if (gateway_start(b->gateway) < 0) {
		fail(b, gateway_error(b->gateway));
		return;
	}
	b->phase = PHASE_RUNNING;
}

static void
ask_gateway_bot(struct bot *b)
{
	b->phase = PHASE_GATEWAY_BOT;
	request(b, "GET", "/gateway/bot", NULL, "GET /gateway/bot", on_gateway_bot, b);
}

/* 1 when a load query's reply should be used: the bot is still loading
 * and the query worked (a failed one stops the bot: it cannot run
 * without its tables). */
static int
loading(struct bot *b, const struct db_reply *reply)
{
	if (b->freeing || b->phase != PHASE_LOAD)
		return 0;
	if (reply->error) {
		fail(b, reply->error);
		return 0;
	}
	return 1;
}

static void
on_embeds(void *data, const struct db_reply *reply)
{
	struct bot *b = data;
	if (!loading(b, reply))
		return;
	b->embed_count = 0;
	for (int i = 0; i < db_rows(reply) && b->embed_count < BOT_EMBEDS_MAX; i++) {
		struct store_embed row;
		if (store_embed_row(reply, i, &row) < 0)
			continue;
		struct persistent_embed *e = &b->embeds[b->embed_count++];
		snprintf(e->name, sizeof e->name, "%s", row.name);
		e->channel_id = row.channel_id;
		e->message_id = row.message_id;
	}
	log_info("bot", "loaded %zu tracked channels and %zu persistent embeds", b->tracked_count,
	         b->embed_count);
	ask_gateway_bot(b);
}

static void
on_tracked(void *data, const struct db_reply *reply)
{
	struct bot *b = data;
	if (!loading(b, reply))
		return;
	size_t rows = (size_t)db_rows(reply);
	if (rows > b->tracked_cap) {
		struct tracked_channel *t = mem_realloc(b->tracked, rows * sizeof *t);
		if (!t) {
			fail(b, "out of memory loading tracked channels");
			return;
		}
		b->tracked = t;
		b->tracked_cap = rows;
	}
	b->tracked_count = 0;
	for (size_t i = 0; i < rows; i++) {
		struct store_channel row;
		if (store_channel_row(reply, (int)i, &row) < 0)
			continue;
		b->tracked[b->tracked_count].id = row.channel_id;
		b->tracked[b->tracked_count].permanent = strcmp(row.category, "permanent") == 0;
		b->tracked_count++;
	}
	if (store_embed_list(b->db, on_embeds, b) < 0)
		fail(b, db_error(b->db));
}

static void
on_migrated(void *data, int applied, const char *error)
{
	struct bot *b = data;
	if (b->freeing || b->phase != PHASE_MIGRATE)
		return;
	if (error) {
		fail(b, error);
		return;
	}
	log_info("bot", "database schema up to date (%d migration%s applied)", applied,
	         applied == 1 ? "" : "s");
	b->phase = PHASE_LOAD;
	if (store_channel_list(b->db, on_tracked, b) < 0)
		fail(b, db_error(b->db));
}

static void
on_db_state(void *data, int connected, const char *error)
{
	struct bot *b = data;
	if (b->freeing)
		return;
	if (!connected) {
		log_warn("bot", "PostgreSQL unavailable: %s", error ? error : "disconnected");
		return;
	}
	log_info("bot", "connected to PostgreSQL");
	if (b->phase == PHASE_DB) {
		b->phase = PHASE_MIGRATE;
		if (migrate_run(b->db, migrate_embedded, migrate_embedded_count, on_migrated, b) <
		    0)
			fail(b, db_error(b->db));
	}
}

static void
on_cache_state(void *data, int connected, const char *error)
{
	struct bot *b = data;
	if (b->freeing)
		return;
	if (connected)
		log_info("bot", "connected to Redis");
	else
		log_warn("bot", "Redis unavailable: %s", error ? error : "disconnected");
}

struct bot *
bot_new(struct loop *loop, const struct config *cfg, char *err, size_t err_len)
{
	struct bot *b = mem_calloc(1, sizeof *b);
	if (!b) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	b->loop = loop;
	b->cfg = cfg;
	buf_init(&b->scratch, 1 << 20);
	loop_timer_init(&b->retry_timer, on_retry_timer, b);
	b->trust = tls_trust_load(cfg->tls_ca_file, err, err_len);
	if (!b->trust) {
		mem_free(b);
		return NULL;
	}
	log_info("bot", "loaded %zu trust anchors from %s", tls_trust_count(b->trust),
	         cfg->tls_ca_file);
	return b;
}

int
bot_start(struct bot *b, char *err, size_t err_len)
{
	const struct config *cfg = b->cfg;
	struct rest_options ro = {
	        .api_url = cfg->discord_api_url,
	        .token = cfg->discord_bot_token,
	        .version = AGORA_VERSION,
	        .trust = b->trust,
	};
	b->rest = rest_new(b->loop, &ro, err, err_len);
	if (!b->rest)
		return -1;
	if (cfg->health_port) {
		b->health = health_new(b->loop, (uint16_t)cfg->health_port, health_check, b, err,
		                       err_len);
		if (!b->health)
			return -1;
		log_info("bot", "health listener on 127.0.0.1:%u",
		         (unsigned)health_port(b->health));
	}
	struct cache_config cc = {
	        .host = cfg->redis_host,
	        .port = (uint16_t)cfg->redis_port,
	        .on_state = on_cache_state,
	        .state_data = b,
	};
	b->cache = cache_new(b->loop, &cc);
	struct db_config dc = {
	        .host = cfg->db_host,
	        .port = (uint16_t)cfg->db_port,
	        .dbname = cfg->db_name,
	        .user = cfg->db_user,
	        .password = cfg->db_password,
	        .on_state = on_db_state,
	        .state_data = b,
	};
	b->phase = PHASE_DB;
	b->db = db_new(b->loop, &dc);
	if (!b->cache || !b->db) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	log_info("bot", "waiting for PostgreSQL at %s:%ld", cfg->db_host, cfg->db_port);
	return 0;
}

/* ------------------------------------------------------------ stop */

static void
on_stop_deadline(struct loop *loop, struct loop_timer *t)
{
	(void)t;
	struct bot *b = t->data;
	log_warn("bot", "stop took too long; exiting now");
	b->phase = PHASE_STOPPED;
	loop_stop(loop);
}

static void
on_stop_step_timer(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct bot *b = t->data;
	stop_next(b);
}

static void
on_goodbye_posted(int status, const struct json_value *body, const char *error, void *data)
{
	(void)body;
	struct bot *b = data;
	if (b->freeing)
		return;
	if (error)
		log_warn("bot", "posting \"Bot Shutting Down\" failed: %s (HTTP %d)", error,
		         status);
	if (b->phase == PHASE_STOPPING && b->stop_step == 1)
		stop_next(b);
}

/* The stop, one step per call: 1 goodbye, 2 gateway, 3 flush, 4 done. */
static void
stop_next(struct bot *b)
{
	loop_timer_stop(b->loop, &b->stop_step_timer);
	b->stop_step++;
	switch (b->stop_step) {
	case 1:
		if (b->ever_ready && b->rest && !rest_is_fatal(b->rest)) {
			struct discord_embed e = {.title = "Bot Shutting Down",
			                          .description = "Agora is stopping.",
			                          .color = COLOR_ORANGE};
			loop_timer_start(b->loop, &b->stop_step_timer, STOP_GOODBYE_MS);
			bot_post(b, b->cfg->admin_notification_channel_id, NULL, &e,
			         on_goodbye_posted, b);
			return;
		}
		stop_next(b);
		return;
	case 2:
		if (b->gateway) {
			loop_timer_start(b->loop, &b->stop_step_timer, STOP_GATEWAY_MS);
			gateway_close(b->gateway); /* GATEWAY_CLOSED calls us again */
			return;
		}
		stop_next(b);
		return;
	case 3:
		if (b->cache && cache_buffered(b->cache) > 0 && cache_connected(b->cache)) {
			log_info("bot", "flushing %zu Redis writes", cache_buffered(b->cache));
			loop_timer_start(b->loop, &b->stop_step_timer, STOP_FLUSH_MS);
			return;
		}
		stop_next(b);
		return;
	default:
		b->phase = PHASE_STOPPED;
		loop_timer_stop(b->loop, &b->stop_deadline);
		if (b->cache && cache_buffered(b->cache) > 0)
			log_warn("bot", "%zu Redis writes could not be flushed",
			         cache_buffered(b->cache));
		log_info("bot", "stopped");
		loop_stop(b->loop);
	}
}

void
bot_shutdown(struct bot *b)
{
	if (b->phase == PHASE_STOPPING || b->phase == PHASE_STOPPED)
		return;
	log_info("bot", "shutting down");
	b->phase = PHASE_STOPPING;
	b->stop_step = 0;
	loop_timer_stop(b->loop, &b->retry_timer);
	loop_timer_init(&b->stop_deadline, on_stop_deadline, b);
	loop_timer_init(&b->stop_step_timer, on_stop_step_timer, b);
	loop_timer_start(b->loop, &b->stop_deadline, STOP_DEADLINE_MS);
	stop_next(b);
}

void
bot_free(struct bot *b)
{
	if (!b)
		return;
	b->freeing = 1;
	loop_timer_stop(b->loop, &b->retry_timer);
	if (b->phase == PHASE_STOPPING || b->phase == PHASE_STOPPED) {
		loop_timer_stop(b->loop, &b->stop_deadline);
		loop_timer_stop(b->loop, &b->stop_step_timer);
	}
	/* order: whatever may still answer a status check or post through
	 * rest goes first; rest and the health listener last */
	for (size_t i = 0; i < BOT_ANSWERS_MAX; i++)
		if (b->answers[i].in_use)
			forget_answer(b, &b->answers[i]);
	gateway_free(b->gateway);
	db_free(b->db);
	cache_free(b->cache);
	rest_free(b->rest);
	health_free(b->health);
	tls_trust_free(b->trust);
	mem_free(b->tracked);
	for (size_t i = 0; i < b->embed_count; i++)
		mem_free(b->embeds[i].body);
	buf_free(&b->scratch);
	mem_free(b);
}
