/* cmd_admin_manage — the channel lifecycle's admin commands (spec 6.5,
 * 7.2; cogs/admin_manage.py): /promote_channel, /refresh_channels and
 * /recalculate_stats. Each is one job, a struct with a state and step().
 *
 * /promote_channel channel
 *   Only a tracked "proposed" channel (anything else: an ephemeral error
 *   saying why). MOVE: PATCH /channels/{id} parent_id = the permanent
 *   category (Discord's 50-channels-per-category limit, 50035
 *   CHANNEL_PARENT_MAX_CHANNELS, is reported as such); SAVE: the tracked
 *   set and tracked_channels say "permanent"; ANNOUNCE:
 *   templates/promoted_channel_announcement.md as an embed in
 *   PUBLIC_ANNOUNCEMENT_CHANNEL_ID; REPLY. The channel's statistics keep
 *   counting: its Redis keys do not depend on the category.
 *
 * /refresh_channels
 *   Defers, then READ: the channels of both categories from the guild
 *   channel cache, confirmed by one GET /guilds/{id}/channels (Discord's
 *   answer wins where they differ, and the reply says so); SYNC:
 *   tracked_channels made to match in one statement (store_tracked.h);
 *   RELOAD: the in-memory set from the table; REPLY: what was added,
 *   moved and removed. Text and announcement channels are tracked (the
 *   kinds whose messages are counted). If Discord cannot be read nothing
 *   changes: a stale cache alone must not untrack channels.
 *
 * /recalculate_stats months_limit
 *   Capped by STATS_RECALCULATION_MONTH_LIMIT (the reply says so);
 *   deferred at once; one at a time (a second request is told one runs).
 *   For every tracked channel, RECALC_PARALLEL at a time: BEGIN (empty the
 *   side keys), then PAGE (GET /channels/{id}/messages?limit=100&before=
 *   the oldest id so far) and ADD (the page into the side keys) until the
 *   history is older than the limit or ends, then COMMIT: the side keys
 *   are swapped in by one script that merges the live messages counted
 *   meanwhile (cache_stats.h), so nothing is lost or counted twice and a
 *   stop mid-way leaves each channel old or rebuilt, never half. Pacing is
 *   the REST client's (the per-channel buckets and the global limit,
 *   learnt from Discord's headers): pages are asked back to back, so the
 *   buckets are used to the full and never overrun. Progress edits the
 *   deferred reply every RECALC_PROGRESS_MS; the interaction token lives
 *   15 minutes, so past RECALC_TOKEN_MS after the interaction (its
 *   snowflake's time) progress and the result go to the admin channel
 *   instead. The result says how many messages and channels were counted. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bot.h"
#include "buf.h"
#include "cache_stats.h"
#include "config.h"
#include "embeds.h"
#include "feature_table.h"
#include "guild.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "reply.h"
#include "rest.h"
#include "scores.h"
#include "store.h"
#include "store_tracked.h"
#include "template.h"
#include "tracked.h"

/* Discord: GET channel messages returns at most 100 (docs: Resources,
 * Channel, "Get Channel Messages"). */
#define RECALC_PAGE 100
/* Channels read at once: more than one keeps the global limit busy when
 * the per-channel buckets are the binding ones, few enough to leave the
 * REST client's in-flight slots (8) to everything else. */
#define RECALC_PARALLEL 4
/* How often the progress is shown. */
#define RECALC_PROGRESS_MS 5000
/* The interaction token is valid for 15 minutes (docs: Interactions,
 * "Followup Messages"); a minute's margin for clocks and queues. */
#define RECALC_TOKEN_MS (14 * 60 * 1000)
/* A channel whose Redis writes failed (an outage, a reconnect) starts
 * over this many times, this long apart, before it is given up: a rebuild
 * is only ever swapped in whole, so starting over is always safe. */
#define RECALC_ATTEMPTS 5
#define RECALC_RETRY_MS 5000
/* Longest answer listing channels (Discord's content limit). */
#define MANAGE_REPLY_MAX DISCORD_CONTENT_MAX
#define COLOR_PROMOTED   0xf1c40f

struct manage {
	struct recalc *recalc; /* the recalculation running, or NULL */
};

static struct manage *
state(struct bot *b)
{
	return bot_feature_state(b, &feature_admin_manage);
}

/* The tracked set or its counts changed: both activity reports (drawn by
 * activity.c) are redrawn. */
static void
scores_changed(struct bot *b)
{
	embeds_refresh(b, EMBED_PROPOSED_SCORES);
	embeds_refresh(b, EMBED_PERMANENT_SCORES);
}

static const char *
category_word(enum tracked_category c)
{
	return c == TRACKED_PERMANENT ? "permanent" : "proposed";
}

/* ================================================================ promote */

enum promote_state {
	PROMOTE_MOVE,
	PROMOTE_SAVE,
	PROMOTE_ANNOUNCE,
	PROMOTE_REPLY,
};

struct promote_job {
	struct bot *bot;
	enum promote_state state;
	struct interaction it;
	uint64_t channel_id;
	/* outcomes */
	int failed;      /* the move did not happen: the reply says why */
	char error[400]; /* Discord's or the database's sentence */
	int save_failed; /* moved, but tracked_channels was not updated */
	int announce_ok;
};

static void promote_step(struct promote_job *j);

static void
on_promote_moved(int status, const struct json_value *body, const char *error, void *data)
{
	struct promote_job *j = data;
	if (error) {
		j->failed = 1;
		/* docs: a category holds at most 50 channels; Discord answers
		 * 50035 with CHANNEL_PARENT_MAX_CHANNELS on parent_id */
		const char *code = json_path_str(body, "errors.parent_id._errors[0].code");
		if (code && strcmp(code, "CHANNEL_PARENT_MAX_CHANNELS") == 0)
			snprintf(j->error, sizeof j->error,
			         "The permanent category is full: Discord allows at most 50 "
			         "channels "
			         "in a category. Make room there, then promote again.");
		else if (status == 404)
			snprintf(
			        j->error, sizeof j->error,
			        "Discord no longer has that channel (%s). Run /refresh_channels to "
			        "forget it.",
			        error);
		else
			snprintf(j->error, sizeof j->error, "Discord refused the move: %s", error);
	}
	j->state = j->failed ? PROMOTE_REPLY : PROMOTE_SAVE;
	promote_step(j);
}

static void
on_promote_saved(void *data, const struct db_reply *reply)
{
	struct promote_job *j = data;
	if (reply->error) {
		j->save_failed = 1;
		snprintf(j->error, sizeof j->error, "%s", reply->error);
	}
	j->state = PROMOTE_ANNOUNCE;
	promote_step(j);
}

static void
on_promote_announced(int status, const struct json_value *body, const char *error, void *data)
{
	(void)body;
	struct promote_job *j = data;
	j->announce_ok = error == NULL;
	if (error)
		log_error("manage", "promotion of %llu: announcement failed: %s (HTTP %d)",
		          (unsigned long long)j->channel_id, error, status);
	j->state = PROMOTE_REPLY;
	promote_step(j);
}

static void
promote_announce(struct promote_job *j)
{
	struct bot *b = j->bot;
	char mention[32];
	snprintf(mention, sizeof mention, "<#%llu>", (unsigned long long)j->channel_id);
	struct template_var vars[] = {{"channel", mention}};
	struct buf text;
	buf_init(&text, 4 * DISCORD_EMBED_DESC_MAX);
	if (template_render(template_text(bot_templates(b), TEMPLATE_PROMOTED_CHANNEL), vars, 1,
	                    &text) < 0) {
		buf_free(&text);
		on_promote_announced(0, NULL, "the announcement template could not be rendered", j);
		return;
	}
	struct discord_embed e = {
	        .title = "Channel promoted",
	        .description = buf_str(&text),
	        .color = COLOR_PROMOTED,
	};
	reply_post(b, bot_config(b)->public_announcement_channel_id, NULL, &e, on_promote_announced,
	           j);
	buf_free(&text);
}

static void
promote_step(struct promote_job *j)
{
	struct bot *b = j->bot;
	if (bot_closing(b)) {
		mem_free(j);
		return;
	}
	const struct config *cfg = bot_config(b);
	switch (j->state) {
	case PROMOTE_MOVE: {
		char path[64], body[96], reason[160];
		snprintf(path, sizeof path, "/channels/%llu", (unsigned long long)j->channel_id);
		snprintf(body, sizeof body, "{\"parent_id\":\"%llu\"}",
		         (unsigned long long)cfg->permanent_channel_category_id);
		snprintf(reason, sizeof reason, "/promote_channel by user %llu",
		         (unsigned long long)j->it.user_id);
		if (rest_request(bot_rest(b), "PATCH", path, body, reason, on_promote_moved, j) < 0)
			on_promote_moved(0, NULL, rest_error(bot_rest(b)), j);
		return;
	}
	case PROMOTE_SAVE:
		/* memory now, the table through store (fn runs exactly once) */
		tracked_add(b, j->channel_id, TRACKED_PERMANENT, on_promote_saved, j);
		return;
	case PROMOTE_ANNOUNCE:
		promote_announce(j);
		return;
	case PROMOTE_REPLY: {
		char text[700];
		if (j->failed)
			snprintf(text, sizeof text, "<#%llu> was not promoted. %s",
			         (unsigned long long)j->channel_id, j->error);
		else
			snprintf(text, sizeof text,
			         "<#%llu> is now a permanent channel: moved to the permanent "
			         "category%s%s. "
			         "Its activity statistics keep counting.%s%s",
			         (unsigned long long)j->channel_id,
			         j->announce_ok ? " and announced in " : "",
			         j->announce_ok ? "the announcement channel"
			                        : " (the announcement "
			                          "could not be posted)",
			         j->save_failed ? " Saving it in the database failed (" : "",
			         j->save_failed ? j->error : "");
		if (!j->failed && j->save_failed)
			snprintf(text + strlen(text), sizeof text - strlen(text),
			         "); run /refresh_channels once the database is back.");
		log_info("manage", "/promote_channel %llu by user %llu: %s",
		         (unsigned long long)j->channel_id, (unsigned long long)j->it.user_id,
		         j->failed ? j->error : "promoted");
		reply_message(b, &j->it, text, NULL, 1);
		if (!j->failed)
			scores_changed(b);
		mem_free(j);
		return;
	}
	}
}

static void
cmd_promote_channel(struct bot *b, const struct interaction *it)
{
	uint64_t id;
	enum tracked_category category;
	char text[300];
	if (interaction_option_id(it, "channel", &id) < 0) {
		reply_message(b, it, "Please choose the channel to promote.", NULL, 1);
		return;
	}
	if (!tracked_contains(b, id, &category)) {
		snprintf(text, sizeof text,
		         "<#%llu> is not a tracked channel: only channels of the proposed category "
		         "that Agora tracks can be promoted (if it should be tracked, run "
		         "/refresh_channels first).",
		         (unsigned long long)id);
		reply_message(b, it, text, NULL, 1);
		return;
	}
	if (category != TRACKED_PROPOSED) {
		snprintf(text, sizeof text, "<#%llu> is already a permanent channel.",
		         (unsigned long long)id);
		reply_message(b, it, text, NULL, 1);
		return;
	}
	struct promote_job *j = mem_calloc(1, sizeof *j);
	if (!j) {
		reply_message(b, it, "Sorry, Agora is out of memory. Please try again later.", NULL,
		              1);
		return;
	}
	j->bot = b;
	j->it = *it;
	j->it.data = NULL;
	j->channel_id = id;
	j->state = PROMOTE_MOVE;
	promote_step(j);
}

/* ================================================================ refresh */

enum refresh_state {
	REFRESH_READ,
	REFRESH_SYNC,
	REFRESH_RELOAD,
	REFRESH_REPLY,
};

struct refresh_change {
	uint64_t id;
	enum tracked_category category;
	char change; /* 'a' added, 'm' moved, 'r' removed */
};

struct refresh_job {
	struct bot *bot;
	enum refresh_state state;
	struct interaction it;
	/* READ: what Discord says both categories hold */
	uint64_t *ids;
	enum tracked_category *categories;
	size_t n, cap;
	size_t cache_differs; /* channels the gateway cache saw otherwise */
	int cache_loaded;
	/* SYNC */
	struct refresh_change *changes;
	size_t change_count;
	size_t proposed, permanent;
	int failed;
	char error[400];
};

static void refresh_step(struct refresh_job *j);

static void
refresh_free(struct refresh_job *j)
{
	mem_free(j->ids);
	mem_free(j->categories);
	mem_free(j->changes);
	mem_free(j);
}

/* The category a channel of this type and parent is tracked in, or -1. */
static int
refresh_category(const struct config *cfg, int type, uint64_t parent)
{
	/* messages are counted in text and announcement channels */
	if (type != GUILD_CHANNEL_TEXT && type != GUILD_CHANNEL_ANNOUNCEMENT)
		return -1;
	if (parent && parent == cfg->proposed_channel_category_id)
		return TRACKED_PROPOSED;
	if (parent && parent == cfg->permanent_channel_category_id)
		return TRACKED_PERMANENT;
	return -1;
}

static int
refresh_push(struct refresh_job *j, uint64_t id, enum tracked_category c)
{
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 64;
		uint64_t *ids = mem_realloc(j->ids, cap * sizeof *ids);
		if (!ids)
			return -1;
		j->ids = ids;
		enum tracked_category *cats = mem_realloc(j->categories, cap * sizeof *cats);
		if (!cats)
			return -1;
		j->categories = cats;
		j->cap = cap;
	}
	j->ids[j->n] = id;
	j->categories[j->n] = c;
	j->n++;
	return 0;
}

static void
on_refresh_read(int status, const struct json_value *body, const char *error, void *data)
{
	struct refresh_job *j = data;
	if (bot_closing(j->bot)) {
		refresh_free(j);
		return;
	}
	const struct config *cfg = bot_config(j->bot);
	const struct guild *g = bot_guild(j->bot);
	if (error || !body || json_len(body) == 0) {
		j->failed = 1;
		snprintf(j->error, sizeof j->error,
		         "Discord's channel list could not be read (%s, HTTP %d); nothing was "
		         "changed.",
		         error ? error : "empty answer", status);
		j->state = REFRESH_REPLY;
		refresh_step(j);
		return;
	}
	j->cache_loaded = guild_loaded(g);
	for (const struct json_value *c = json_first(body); c; c = json_next(c)) {
		uint64_t id, parent = 0;
		int64_t type = -1;
		if (json_path_id(c, "id", &id) < 0 || json_path_int64(c, "type", &type) < 0)
			continue;
		json_path_id(c, "parent_id", &parent);
		int cat = refresh_category(cfg, (int)type, parent);
		/* the cache's view of the same channel */
		const struct guild_channel *gc = guild_channel(g, id);
		int cached = gc ? refresh_category(cfg, gc->type, gc->parent_id) : -1;
		if (j->cache_loaded && cached != cat)
			j->cache_differs++;
		if (cat >= 0 && refresh_push(j, id, (enum tracked_category)cat) < 0) {
			j->failed = 1;
			snprintf(j->error, sizeof j->error, "Out of memory; nothing was changed.");
			j->state = REFRESH_REPLY;
			refresh_step(j);
			return;
		}
	}
	/* channels the cache files under a category but Discord no longer
	 * lists at all */
	if (j->cache_loaded)
		for (size_t i = 0; i < guild_channel_count(g); i++) {
			const struct guild_channel *gc = guild_channel_at(g, i);
			if (refresh_category(cfg, gc->type, gc->parent_id) < 0)
				continue;
			int seen = 0;
			for (const struct json_value *c = json_first(body); c && !seen;
			     c = json_next(c)) {
				uint64_t id;
				seen = json_path_id(c, "id", &id) == 0 && id == gc->id;
			}
			if (!seen)
				j->cache_differs++;
		}
	for (size_t i = 0; i < j->n; i++)
		j->categories[i] == TRACKED_PERMANENT ? j->permanent++ : j->proposed++;
	j->state = REFRESH_SYNC;
	refresh_step(j);
}

static void
on_refresh_synced(void *data, const struct db_reply *reply)
{
	struct refresh_job *j = data;
	if (bot_closing(j->bot)) {
		refresh_free(j);
		return;
	}
	if (reply->error) {
		j->failed = 1;
		snprintf(j->error, sizeof j->error,
		         "The database refused the update (%s); nothing was changed.",
		         reply->error);
		j->state = REFRESH_REPLY;
		refresh_step(j);
		return;
	}
	int rows = db_rows(reply);
	j->changes = mem_calloc(rows > 0 ? (size_t)rows : 1, sizeof *j->changes);
	for (int i = 0; j->changes && i < rows; i++) {
		struct store_channel row;
		const char *change = db_value(reply, i, 2);
		if (store_channel_row(reply, i, &row) < 0 || !change)
			continue;
		struct refresh_change *c = &j->changes[j->change_count++];
		c->id = row.channel_id;
		c->category = strcmp(row.category, "permanent") == 0 ? TRACKED_PERMANENT
		                                                     : TRACKED_PROPOSED;
		c->change = change[0];
	}
	j->state = REFRESH_RELOAD;
	refresh_step(j);
}

static void
on_refresh_listed(void *data, const struct db_reply *reply)
{
	struct refresh_job *j = data;
	if (bot_closing(j->bot)) {
		refresh_free(j);
		return;
	}
	if (reply->error || tracked_load(j->bot, reply) < 0)
		log_error("manage", "/refresh_channels: the in-memory set was not reloaded: %s",
		          reply->error ? reply->error : "out of memory");
	j->state = REFRESH_REPLY;
	refresh_step(j);
}

/* Appends "Title: <#a>, <#b> (permanent), … and N more" for the changes
 * of one kind, keeping out within max bytes. */
static void
refresh_list(struct buf *out, const struct refresh_job *j, char kind, const char *title, size_t max)
{
	size_t total = 0, shown = 0;
	for (size_t i = 0; i < j->change_count; i++)
		total += j->changes[i].change == kind;
	if (!total)
		return;
	buf_printf(out, "\n%s (%zu): ", title, total);
	for (size_t i = 0; i < j->change_count; i++) {
		const struct refresh_change *c = &j->changes[i];
		if (c->change != kind)
			continue;
		char item[80];
		if (kind == 'r')
			snprintf(item, sizeof item, "%s<#%llu>", shown ? ", " : "",
			         (unsigned long long)c->id);
		else
			snprintf(item, sizeof item, "%s<#%llu> (%s)", shown ? ", " : "",
			         (unsigned long long)c->id, category_word(c->category));
		/* room for this item and a closing "… and N more" */
		if (out->len + strlen(item) + 40 > max) {
			buf_printf(out, " \xe2\x80\xa6 and %zu more", total - shown);
			return;
		}
		buf_puts(out, item);
		shown++;
	}
}

static void
refresh_step(struct refresh_job *j)
{
	struct bot *b = j->bot;
	switch (j->state) {
	case REFRESH_READ: {
		char path[64];
		snprintf(path, sizeof path, "/guilds/%llu/channels",
		         (unsigned long long)bot_config(b)->guild_id);
		reply_request(b, "GET", path, NULL, "guild channel list", on_refresh_read, j);
		return;
	}
	case REFRESH_SYNC: {
		const char **cats = mem_calloc(j->n ? j->n : 1, sizeof *cats);
		int rc = -1;
		if (cats) {
			for (size_t i = 0; i < j->n; i++)
				cats[i] = category_word(j->categories[i]);
			rc = store_tracked_sync(bot_db(b), j->ids, cats, j->n, on_refresh_synced,
			                        j);
			mem_free(cats);
		}
		if (rc < 0) {
			struct db_reply failed = {.error = cats ? db_error(bot_db(b))
			                                        : "out of memory",
			                          .sqlstate = ""};
			on_refresh_synced(j, &failed);
		}
		return;
	}
	case REFRESH_RELOAD:
		if (store_channel_list(bot_db(b), on_refresh_listed, j) < 0) {
			struct db_reply failed = {.error = db_error(bot_db(b)), .sqlstate = ""};
			on_refresh_listed(j, &failed);
		}
		return;
	case REFRESH_REPLY: {
		struct buf text;
		buf_init(&text, 4 * MANAGE_REPLY_MAX);
		if (j->failed) {
			buf_puts(&text, j->error);
		} else {
			buf_printf(&text, "%s: %zu proposed and %zu permanent channels tracked.",
			           j->change_count ? "Tracked channels refreshed"
			                           : "Nothing changed",
			           j->proposed, j->permanent);
			refresh_list(&text, j, 'a', "Added", MANAGE_REPLY_MAX - 200);
			refresh_list(&text, j, 'm', "Moved", MANAGE_REPLY_MAX - 120);
			refresh_list(&text, j, 'r', "Removed", MANAGE_REPLY_MAX - 60);
			if (j->cache_differs)
				buf_printf(&text,
				           "\n(The gateway's channel list differed from Discord's "
				           "on %zu "
				           "channel%s; Discord's was used.)",
				           j->cache_differs, j->cache_differs == 1 ? "" : "s");
			else if (!j->cache_loaded)
				buf_puts(&text, "\n(The gateway's channel list was not loaded yet; "
				                "Discord's was used.)");
		}
		log_info("manage", "/refresh_channels by user %llu: %s",
		         (unsigned long long)j->it.user_id, j->failed ? j->error : "done");
		reply_edit(b, &j->it, buf_str(&text), NULL);
		buf_free(&text);
		if (!j->failed)
			scores_changed(b);
		refresh_free(j);
		return;
	}
	}
}

static void
cmd_refresh_channels(struct bot *b, const struct interaction *it)
{
	struct refresh_job *j = mem_calloc(1, sizeof *j);
	if (!j) {
		reply_message(b, it, "Sorry, Agora is out of memory. Please try again later.", NULL,
		              1);
		return;
	}
	reply_defer(b, it, 1);
	j->bot = b;
	j->it = *it;
	j->it.data = NULL;
	j->state = REFRESH_READ;
	refresh_step(j);
}

/* ================================================================ recalculate */

enum recalc_channel_state {
	RC_WAITING,
	RC_BEGIN,
	RC_PAGE,
	RC_ADD,
	RC_COMMIT,
	RC_DONE,
	RC_FAILED,
};

struct recalc;

struct recalc_channel {
	struct recalc *job;
	uint64_t id;
	enum recalc_channel_state state;
	uint64_t before;   /* the oldest message id read so far; 0: none yet */
	int64_t newest;    /* the newest counted message's time; 0: none */
	int64_t first_ask; /* when the first page was asked (wall seconds) */
	int last_page;     /* the page just read reached the limit or the end */
	uint64_t counted;  /* messages counted into the side keys */
	long long merged;  /* live messages merged at the commit */
	struct cache_stats_message page[RECALC_PAGE];
	size_t page_count;
	char error[200];
	/* starting over after a Redis failure */
	int attempts;
	int waiting; /* the retry timer runs: no callback is outstanding */
	struct loop_timer retry;
};

struct recalc {
	struct bot *bot;
	struct interaction it;
	int months, capped;
	int64_t asked_months;
	int64_t started_wall, cutoff, recent_since, token_expires_ms;
	int64_t started_ms;
	struct recalc_channel *channels;
	size_t n, next, active, finished;
	uint64_t pages;
	struct loop_timer progress;
	uint64_t admin_message_id; /* the progress message in the admin channel */
	int admin_posting;
	int moved_to_admin; /* the reply said the rest goes to the admin channel */
};

static void recalc_channel_step(struct recalc_channel *c);
static void recalc_fill(struct recalc *r);

static int64_t
wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
recalc_counted(const struct recalc *r, size_t *done, size_t *failed)
{
	uint64_t total = 0;
	*done = *failed = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct recalc_channel *c = &r->channels[i];
		total += c->counted + (c->merged > 0 ? (uint64_t)c->merged : 0);
		*done += c->state == RC_DONE;
		*failed += c->state == RC_FAILED;
	}
	return total;
}

/* Shows text where the admin can see it: the deferred reply while its
 * token lives, the admin channel after (one message, edited). */
static void
on_admin_progress_posted(int status, const struct json_value *body, const char *error, void *data)
{
	(void)status;
	struct bot *b = data;
	if (bot_closing(b))
		return;
	struct manage *m = state(b);
	uint64_t id = 0;
	if (m->recalc) {
		m->recalc->admin_posting = 0;
		if (!error && json_path_id(body, "id", &id) == 0)
			m->recalc->admin_message_id = id;
	}
}

static void
recalc_show(struct recalc *r, const char *text, int final)
{
	struct bot *b = r->bot;
	if (wall_ms() < r->token_expires_ms) {
		reply_edit(b, &r->it, text, NULL);
		return;
	}
	uint64_t admin = bot_config(b)->admin_notification_channel_id;
	if (!r->moved_to_admin) {
		/* the last edit the token allows (a minute's margin is left):
		 * it tells where the rest goes, and ends the answer guard */
		char where[200];
		r->moved_to_admin = 1;
		snprintf(where, sizeof where,
		         "Still recalculating. A reply can be edited for 15 minutes only: the "
		         "progress and the result continue in <#%llu>.",
		         (unsigned long long)admin);
		reply_edit(b, &r->it, where, NULL);
	}
	/* bytes for 2,000 characters of up to 4 bytes; discord_message_json
	 * cuts the content to Discord's limit on a character boundary */
	char mention[4 * DISCORD_CONTENT_MAX + 1];
	snprintf(mention, sizeof mention, "<@%llu> /recalculate_stats: %s",
	         (unsigned long long)r->it.user_id, text);
	if (final) {
		/* a new message below the progress one, so it is seen */
		reply_post(b, admin, mention, NULL, NULL, NULL);
		return;
	}
	if (r->admin_message_id) {
		char path[96];
		struct buf body;
		buf_init(&body, 4 * DISCORD_CONTENT_MAX);
		if (discord_message_json(&body, mention, NULL, 0, NULL) == 0) {
			snprintf(path, sizeof path, "/channels/%llu/messages/%llu",
			         (unsigned long long)admin,
			         (unsigned long long)r->admin_message_id);
			reply_request(b, "PATCH", path, buf_str(&body), "recalculation progress",
			              NULL, NULL);
		}
		buf_free(&body);
	} else if (!r->admin_posting) {
		r->admin_posting = 1;
		reply_post(b, admin, mention, NULL, on_admin_progress_posted, b);
	}
}

static void
recalc_progress_text(struct recalc *r, char *out, size_t cap)
{
	size_t done, failed;
	uint64_t counted = recalc_counted(r, &done, &failed);
	snprintf(out, cap,
	         "Recalculating the activity statistics from message history back to <t:%lld:D> "
	         "(%d month%s)\xe2\x80\xa6 %zu of %zu channels done, %" PRIu64
	         " messages counted so far (%" PRIu64 " pages read).",
	         (long long)r->cutoff, r->months, r->months == 1 ? "" : "s", done + failed, r->n,
	         counted, r->pages);
	size_t len = strlen(out);
	if (r->capped && len < cap)
		snprintf(out + len, cap - len,
		         " (%lld months were asked; capped at %d, the "
		         "STATS_RECALCULATION_MONTH_LIMIT.)",
		         (long long)r->asked_months, r->months);
}

static void
on_recalc_progress(struct loop *loop, struct loop_timer *t)
{
	struct recalc *r = t->data;
	char text[600];
	recalc_progress_text(r, text, sizeof text);
	recalc_show(r, text, 0);
	loop_timer_start(loop, t, RECALC_PROGRESS_MS);
}

static void
recalc_free(struct recalc *r)
{
	loop_timer_stop(bot_loop(r->bot), &r->progress);
	mem_free(r->channels);
	mem_free(r);
}

/* Every channel is done or failed: the result, then the reports. */
static void
recalc_finish(struct recalc *r)
{
	struct bot *b = r->bot;
	size_t done, failed;
	uint64_t counted = recalc_counted(r, &done, &failed);
	long long merged = 0;
	for (size_t i = 0; i < r->n; i++)
		merged += r->channels[i].merged;
	int64_t seconds = (loop_now(bot_loop(b)) - r->started_ms) / 1000;
	struct buf text;
	buf_init(&text, 4 * DISCORD_CONTENT_MAX);
	buf_printf(&text,
	           "Recalculation done: %" PRIu64
	           " messages counted in %zu channel%s (history back "
	           "to <t:%lld:D>, %d month%s%s; %lld live message%s arrived meanwhile and are "
	           "included), %" PRIu64 " pages read in %lld min %lld s.",
	           counted, done, done == 1 ? "" : "s", (long long)r->cutoff, r->months,
	           r->months == 1 ? "" : "s",
	           r->capped ? ", capped by STATS_RECALCULATION_MONTH_LIMIT" : "", merged,
	           merged == 1 ? "" : "s", r->pages, (long long)(seconds / 60),
	           (long long)(seconds % 60));
	if (failed) {
		buf_printf(&text,
		           " %zu channel%s could not be rebuilt (each keeps its old statistics, or "
		           "the new ones whole if only the last answer was lost):",
		           failed, failed == 1 ? "" : "s");
		for (size_t i = 0; i < r->n && text.len < DISCORD_CONTENT_MAX - 120; i++)
			if (r->channels[i].state == RC_FAILED)
				buf_printf(&text, " <#%llu> (%s);",
				           (unsigned long long)r->channels[i].id,
				           r->channels[i].error);
	}
	log_info("manage", "%s", buf_str(&text));
	recalc_show(r, buf_str(&text), 1);
	buf_free(&text);
	state(b)->recalc = NULL;
	recalc_free(r);
	scores_changed(b);
}

/* A channel is over (done or failed): start the next, or finish. */
static void
recalc_channel_over(struct recalc_channel *c)
{
	struct recalc *r = c->job;
	r->active--;
	r->finished++;
	if (c->state == RC_FAILED)
		log_warn("manage", "recalculation of channel %llu failed: %s",
		         (unsigned long long)c->id, c->error);
	else
		log_info("manage",
		         "recalculation of channel %llu: %" PRIu64 " messages, %lld live merged",
		         (unsigned long long)c->id, c->counted, c->merged);
	if (r->finished == r->n)
		recalc_finish(r);
	else
		recalc_fill(r);
}

/* Every callback of a channel's step begins here: a closing bot frees
 * the whole job once, when its last channel's callback comes. */
static int
recalc_closing(struct recalc_channel *c)
{
	struct recalc *r = c->job;
	if (!bot_closing(r->bot))
		return 0;
	if (--r->active == 0) {
		mem_free(r->channels);
		mem_free(r);
	}
	return 1;
}

static void
recalc_fail(struct recalc_channel *c, const char *what, const char *error)
{
	c->state = RC_FAILED;
	snprintf(c->error, sizeof c->error, "%s: %s", what, error);
}

static void
on_recalc_retry(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct recalc_channel *c = t->data;
	c->waiting = 0;
	recalc_channel_step(c);
}

/* A Redis step failed: start the channel over later, or give it up. */
static void
recalc_redis_failed(struct recalc_channel *c, const char *error)
{
	if (++c->attempts >= RECALC_ATTEMPTS || bot_stopping(c->job->bot)) {
		recalc_fail(c, "Redis", error);
		recalc_channel_step(c);
		return;
	}
	log_warn("manage",
	         "recalculation of channel %llu: Redis failed (%s); starting it over in %d s",
	         (unsigned long long)c->id, error, RECALC_RETRY_MS / 1000);
	c->state = RC_BEGIN;
	c->before = 0;
	c->newest = 0;
	c->first_ask = 0;
	c->last_page = 0;
	c->counted = 0;
	c->waiting = 1;
	loop_timer_init(&c->retry, on_recalc_retry, c);
	loop_timer_start(bot_loop(c->job->bot), &c->retry, RECALC_RETRY_MS);
}

static void
on_recalc_begun(void *data, long long value, const char *error)
{
	(void)value;
	struct recalc_channel *c = data;
	if (recalc_closing(c))
		return;
	if (error) {
		recalc_redis_failed(c, error);
		return;
	}
	c->state = RC_PAGE;
	recalc_channel_step(c);
}

static void
on_recalc_page(int status, const struct json_value *body, const char *error, void *data)
{
	struct recalc_channel *c = data;
	if (recalc_closing(c))
		return;
	struct recalc *r = c->job;
	if (error) {
		char why[160];
		snprintf(why, sizeof why, "%s (HTTP %d)", error, status);
		recalc_fail(c, "message history", why);
		recalc_channel_step(c);
		return;
	}
	r->pages++;
	c->page_count = 0;
	size_t got = json_len(body);
	c->last_page = got < RECALC_PAGE;
	uint64_t before = c->before;
	/* newest first (docs: "Get Channel Messages"); a page is never longer
	 * than asked, and one that is is read only as far as page[] holds: the
	 * rest comes again on the next page (before= moves only past what was
	 * read) */
	for (const struct json_value *m = json_first(body); m && c->page_count < RECALC_PAGE;
	     m = json_next(m)) {
		uint64_t id;
		if (json_path_id(m, "id", &id) < 0)
			continue;
		if (before && id >= before)
			continue; /* not older than the last page: counted already */
		if (!c->before || id < c->before)
			c->before = id;
		int64_t t = scores_snowflake_time(id);
		if (t < r->cutoff) {
			c->last_page = 1; /* older than the limit: this is the end */
			continue;
		}
		if (!scores_counts_message(m))
			continue;
		if (t > c->newest)
			c->newest = t;
		c->page[c->page_count++] = (struct cache_stats_message){id, t};
	}
	if (before && c->before >= before) {
		/* no message older than the last page's oldest: paging would
		 * never end, so this channel's history ends here */
		log_warn("manage", "history of channel %llu did not move past %llu; stopping there",
		         (unsigned long long)c->id, (unsigned long long)before);
		c->last_page = 1;
	}
	c->state = RC_ADD;
	recalc_channel_step(c);
}

static void
on_recalc_added(void *data, long long value, const char *error)
{
	(void)value;
	struct recalc_channel *c = data;
	if (recalc_closing(c))
		return;
	if (error) {
		recalc_redis_failed(c, error);
		return;
	}
	c->counted += c->page_count;
	c->state = c->last_page ? RC_COMMIT : RC_PAGE;
	recalc_channel_step(c);
}

static void
on_recalc_committed(void *data, long long value, const char *error)
{
	struct recalc_channel *c = data;
	if (recalc_closing(c))
		return;
	if (error) {
		recalc_redis_failed(c, error);
		return;
	}
	c->merged = value;
	c->state = RC_DONE;
	recalc_channel_step(c);
}

static void
recalc_channel_step(struct recalc_channel *c)
{
	struct recalc *r = c->job;
	struct bot *b = r->bot;
	struct cache *cache = bot_cache(b);
	switch (c->state) {
	case RC_WAITING:
	case RC_BEGIN:
		c->state = RC_BEGIN;
		if (cache_stats_rebuild_begin(cache, c->id, on_recalc_begun, c) < 0)
			on_recalc_begun(c, 0, "out of memory or closing");
		return;
	case RC_PAGE: {
		char path[96];
		if (!c->first_ask)
			c->first_ask = (int64_t)time(NULL);
		if (c->before)
			snprintf(path, sizeof path, "/channels/%llu/messages?limit=%d&before=%llu",
			         (unsigned long long)c->id, RECALC_PAGE,
			         (unsigned long long)c->before);
		else
			snprintf(path, sizeof path, "/channels/%llu/messages?limit=%d",
			         (unsigned long long)c->id, RECALC_PAGE);
		if (rest_request(bot_rest(b), "GET", path, NULL, NULL, on_recalc_page, c) < 0)
			on_recalc_page(0, NULL, rest_error(bot_rest(b)), c);
		return;
	}
	case RC_ADD:
		if (cache_stats_rebuild_add(cache, c->id, c->page, c->page_count, r->recent_since,
		                            on_recalc_added, c) < 0)
			on_recalc_added(c, 0, "out of memory or closing");
		return;
	case RC_COMMIT: {
		/* live entries newer than what the history held that the history
		 * lacks are merged: those at or after the newest message it held,
		 * and no older than a minute before the first page was asked
		 * (a minute for the clocks), so a stale entry, or a message
		 * deleted before the recalculation, is not brought back */
		int64_t live_since = c->first_ask - 60;
		if (c->newest > live_since)
			live_since = c->newest;
		if (cache_stats_rebuild_commit(cache, c->id, c->newest, live_since,
		                               on_recalc_committed, c) < 0)
			on_recalc_committed(c, 0, "out of memory or closing");
		return;
	}
	case RC_DONE:
	case RC_FAILED:
		recalc_channel_over(c);
		return;
	}
}

/* Starts channels until RECALC_PARALLEL run. */
static void
recalc_fill(struct recalc *r)
{
	while (r->active < RECALC_PARALLEL && r->next < r->n) {
		struct recalc_channel *c = &r->channels[r->next++];
		r->active++;
		recalc_channel_step(c);
	}
}

static void
cmd_recalculate_stats(struct bot *b, const struct interaction *it)
{
	struct manage *m = state(b);
	const struct config *cfg = bot_config(b);
	char text[400];
	int64_t months = 0;
	if (interaction_option_int(it, "months_limit", &months) < 0 || months < 1) {
		reply_message(b, it, "months_limit must be a whole number of months, at least 1.",
		              NULL, 1);
		return;
	}
	if (m->recalc) {
		size_t done, failed;
		recalc_counted(m->recalc, &done, &failed);
		snprintf(
		        text, sizeof text,
		        "A recalculation is already running (started by <@%llu> <t:%lld:R>, %zu of "
		        "%zu channels done). Only one runs at a time; try again when it has "
		        "finished.",
		        (unsigned long long)m->recalc->it.user_id,
		        (long long)m->recalc->started_wall, done + failed, m->recalc->n);
		reply_message(b, it, text, NULL, 1);
		return;
	}
	size_t n = tracked_count(b);
	if (n == 0) {
		reply_message(b, it, "No channel is tracked, so there is nothing to recalculate.",
		              NULL, 1);
		return;
	}
	struct recalc *r = mem_calloc(1, sizeof *r);
	if (r)
		r->channels = mem_calloc(n ? n : 1, sizeof *r->channels);
	if (!r || !r->channels) {
		mem_free(r);
		reply_message(b, it, "Sorry, Agora is out of memory. Please try again later.", NULL,
		              1);
		return;
	}
	/* deferred at once: the work takes minutes */
	reply_defer(b, it, 1);
	r->bot = b;
	r->it = *it;
	r->it.data = NULL;
	r->capped = months > cfg->stats_recalculation_month_limit;
	r->months = (int)(r->capped ? cfg->stats_recalculation_month_limit : months);
	r->asked_months = months;
	r->started_wall = (int64_t)time(NULL);
	r->started_ms = loop_now(bot_loop(b));
	r->cutoff = scores_months_before(r->started_wall, r->months);
	r->recent_since = r->started_wall - (int64_t)CACHE_STATS_DAYS * 86400;
	/* the token was made with the interaction, whose id holds its time */
	r->token_expires_ms = scores_snowflake_time(it->id) * 1000 + RECALC_TOKEN_MS;
	r->n = n;
	for (size_t i = 0; i < n; i++) {
		r->channels[i].job = r;
		r->channels[i].id = tracked_at(b, i, NULL);
	}
	m->recalc = r;
	log_info("manage",
	         "/recalculate_stats by user %llu: %zu channels back to %lld (%d months%s)",
	         (unsigned long long)it->user_id, n, (long long)r->cutoff, r->months,
	         r->capped ? ", capped" : "");
	/* the first progress edit comes after RECALC_PROGRESS_MS: an edit
	 * sent now could reach Discord before the defer (other queue) */
	loop_timer_init(&r->progress, on_recalc_progress, r);
	loop_timer_start(bot_loop(b), &r->progress, RECALC_PROGRESS_MS);
	recalc_fill(r);
}

/* ================================================================ feature */

static void
manage_free(struct bot *b)
{
	struct manage *m = state(b);
	if (m->recalc) {
		/* its pending callbacks free it (recalc_closing); the timer
		 * goes now */
		struct recalc *r = m->recalc;
		loop_timer_stop(bot_loop(b), &r->progress);
		for (size_t i = 0; i < r->n; i++)
			if (r->channels[i].waiting) {
				loop_timer_stop(bot_loop(b), &r->channels[i].retry);
				r->channels[i].waiting = 0;
				r->active--;
			}
		if (m->recalc->active == 0) {
			mem_free(m->recalc->channels);
			mem_free(m->recalc);
		}
		m->recalc = NULL;
	}
}

static const struct bot_command commands[] = {
        {"promote_channel",
         "Move a proposed channel to the permanent category",
         1,
         {{"channel", "The channel to promote", OPTION_CHANNEL, 1, 0, 0, 0, 0, 1, 0}},
         cmd_promote_channel,
         NULL},
        {"recalculate_stats",
         "Rebuild the activity statistics from message history",
         1,
         {{"months_limit", "How many months back to read", OPTION_INTEGER, 1, 1, -1, 0, 0, 0, 0}},
         cmd_recalculate_stats,
         NULL},
        {"refresh_channels",
         "Re-scan the proposed and permanent categories",
         1,
         {{0}},
         cmd_refresh_channels,
         NULL},
};

const struct bot_feature feature_admin_manage = {
        .name = "admin_manage",
        .commands = commands,
        .command_count = sizeof commands / sizeof commands[0],
        .state_size = sizeof(struct manage),
        .free = manage_free,
};
