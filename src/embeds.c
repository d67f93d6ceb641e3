/* embeds — see embeds.h. */
#include "embeds.h"

#include <stdio.h>
#include <string.h>

#include "bot.h"
#include "buf.h"
#include "db.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "reply.h"
#include "store.h"

struct persistent_embed {
	char name[EMBED_NAME_MAX + 1];
	uint64_t channel_id, message_id; /* where it lives; 0: not posted yet */
	struct bot *bot;
	/* a refresh: at most one in flight per embed */
	int refreshing;
	int dirty;                      /* asked again during the refresh */
	uint64_t wanted_channel_id;     /* where the refresh puts it */
	embeds_render_fn *render;       /* NULL until registered */
	const struct embeds_list *list; /* a list embed's table (render_list) */
	char *body;                     /* the rendered message, for a re-POST after 404 */
	/* pacing: no two edits closer than EMBEDS_MIN_INTERVAL_MS */
	int64_t last_done_ms;    /* loop time the last refresh ended; 0: never */
	struct loop_timer timer; /* a refresh waiting for its turn */
	size_t edits;            /* PATCH/POST sent (tests, logs) */
};

struct embeds {
	struct bot *bot;
	struct persistent_embed list[EMBEDS_MAX];
	size_t count;
	struct buf scratch;
};

struct embeds *
embeds_new(struct bot *b)
{
	struct embeds *s = mem_calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->bot = b;
	buf_init(&s->scratch, 1 << 20);
	return s;
}

void
embeds_free(struct embeds *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->count; i++) {
		loop_timer_stop(bot_loop(s->bot), &s->list[i].timer);
		mem_free(s->list[i].body);
	}
	buf_free(&s->scratch);
	mem_free(s);
}

size_t
embeds_count(struct bot *b)
{
	return bot_embeds(b)->count;
}

static void embed_render(struct persistent_embed *e);

/* A refresh's turn came (EMBEDS_MIN_INTERVAL_MS after the last one). */
static void
on_turn(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct persistent_embed *e = t->data;
	if (bot_closing(e->bot) || bot_stopped(e->bot) || e->refreshing)
		return;
	embed_render(e);
}

/* Runs a refresh now, or schedules it for when the pacing allows. */
static void
embed_schedule(struct persistent_embed *e)
{
	struct loop *loop = bot_loop(e->bot);
	if (loop_timer_active(&e->timer))
		return; /* one is waiting already: it will draw the latest state */
	int64_t wait =
	        e->last_done_ms ? e->last_done_ms + EMBEDS_MIN_INTERVAL_MS - loop_now(loop) : 0;
	if (wait > 0)
		loop_timer_start(loop, &e->timer, wait);
	else
		embed_render(e);
}

static struct persistent_embed *
embed_named(struct bot *b, const char *name)
{
	struct embeds *s = bot_embeds(b);
	for (size_t i = 0; i < s->count; i++)
		if (strcmp(s->list[i].name, name) == 0)
			return &s->list[i];
	return NULL;
}

/* The entry for name, made (not yet posted) if missing; NULL when full. */
static struct persistent_embed *
embed_entry(struct bot *b, const char *name)
{
	struct embeds *s = bot_embeds(b);
	struct persistent_embed *e = embed_named(b, name);
	if (e || s->count == EMBEDS_MAX || strlen(name) > EMBED_NAME_MAX)
		return e;
	e = &s->list[s->count++];
	memset(e, 0, sizeof *e);
	snprintf(e->name, sizeof e->name, "%s", name);
	e->bot = b;
	loop_timer_init(&e->timer, on_turn, e);
	return e;
}

void
embeds_load(struct bot *b, const struct db_reply *reply)
{
	for (int i = 0; i < db_rows(reply); i++) {
		struct store_embed row;
		if (store_embed_row(reply, i, &row) < 0)
			continue;
		struct persistent_embed *e = embed_entry(b, row.name);
		if (!e)
			break;
		e->channel_id = row.channel_id;
		e->message_id = row.message_id;
	}
}

int
embeds_find(struct bot *b, const char *name, uint64_t *channel_id, uint64_t *message_id)
{
	struct persistent_embed *e = embed_named(b, name);
	if (!e || !e->message_id)
		return -1;
	*channel_id = e->channel_id;
	*message_id = e->message_id;
	return 0;
}

static void
on_embed_saved(void *data, const struct db_reply *reply)
{
	(void)data;
	if (reply->error)
		log_error("bot", "saving a persistent embed failed: %s", reply->error);
}

int
embeds_save(struct bot *b, const char *name, uint64_t channel_id, uint64_t message_id)
{
	struct persistent_embed *e = embed_entry(b, name);
	if (!e) {
		log_error("bot", "no room for persistent embed %s", name);
		return -1;
	}
	e->channel_id = channel_id;
	e->message_id = message_id;
	struct db *db = bot_db(b);
	if (!db || store_embed_upsert(db, name, channel_id, message_id, on_embed_saved, b) < 0)
		log_error("bot", "persistent embed %s not saved: %s", name,
		          db ? db_error(db) : "no database");
	return 0;
}

int
embeds_register(struct bot *b, const char *name, uint64_t channel_id, embeds_render_fn *render)
{
	struct persistent_embed *e = embed_entry(b, name);
	if (!e) {
		log_error("bot", "no room for persistent embed %s", name);
		return -1;
	}
	e->wanted_channel_id = channel_id;
	e->render = render;
	return 0;
}

static void
on_list_rows(void *data, const struct db_reply *reply)
{
	struct persistent_embed *e = data;
	struct bot *b = e->bot;
	const struct embeds_list *l = e->list;
	if (bot_closing(b))
		return;
	if (reply->error) {
		log_error("bot", "%s embed not refreshed: %s", e->name, reply->error);
		embeds_rendered(b, e->name, NULL);
		return;
	}
	struct buf text, line;
	/* a unit is at most 3 bytes (a 4-byte character is 2 units) */
	buf_init(&text, 4 * DISCORD_EMBED_DESC_MAX + 256);
	buf_init(&line, 4096);
	int rows = db_rows(reply), shown = 0;
	size_t units = 0; /* UTF-16 units in text */
	for (int i = 0; i < rows; i++) {
		buf_reset(&line);
		if (l->line(reply, i, &line) < 0)
			continue;
		size_t n = discord_text_length(line.data, line.len);
		if (units + n > DISCORD_EMBED_DESC_MAX - EMBEDS_MORE_RESERVE)
			break;
		buf_append(&text, line.data, line.len);
		units += n;
		shown++;
	}
	if (rows == 0)
		buf_puts(&text, l->empty);
	else if (shown < rows)
		buf_printf(&text, "%s and %d more", l->ellipsis, rows - shown);
	char footer[128];
	snprintf(footer, sizeof footer, "%d %s%s", rows, l->noun, rows == 1 ? "" : "s");
	struct discord_embed embed = {
	        .title = l->title,
	        .description = buf_str(&text),
	        .color = l->color,
	        .footer = footer,
	};
	log_debug("bot", "%s embed: %d rows, %d shown", e->name, rows, shown);
	embeds_rendered(b, e->name, &embed);
	buf_free(&text);
	buf_free(&line);
}

static void
render_list(struct bot *b, const char *name)
{
	struct persistent_embed *e = embed_named(b, name);
	struct db *db = bot_db(b);
	if (e->list->query(db, on_list_rows, e) < 0) {
		log_error("bot", "%s embed not refreshed: %s", name, db_error(db));
		embeds_rendered(b, name, NULL);
	}
}

int
embeds_register_list(struct bot *b, const char *name, uint64_t channel_id,
                     const struct embeds_list *l)
{
	if (embeds_register(b, name, channel_id, render_list) < 0)
		return -1;
	embed_named(b, name)->list = l;
	return 0;
}

/* The refresh of e ended (well or not): schedule the one more it owes. */
static void
embed_done(struct persistent_embed *e)
{
	mem_free(e->body);
	e->body = NULL;
	e->refreshing = 0;
	e->last_done_ms = loop_now(bot_loop(e->bot));
	if (e->dirty && !bot_closing(e->bot) && !bot_stopped(e->bot)) {
		e->dirty = 0;
		embed_schedule(e);
	}
}

static void
on_embed_posted(int status, const struct json_value *body, const char *error, void *data)
{
	struct persistent_embed *e = data;
	struct bot *b = e->bot;
	if (bot_closing(b))
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
		embeds_save(b, e->name, e->wanted_channel_id, message_id);
	}
	embed_done(e);
}

static void
embed_post(struct persistent_embed *e)
{
	char path[64];
	snprintf(path, sizeof path, "/channels/%llu/messages",
	         (unsigned long long)e->wanted_channel_id);
	e->edits++;
	reply_request(e->bot, "POST", path, e->body, "persistent embed post", on_embed_posted, e);
}

static void
on_embed_edited(int status, const struct json_value *body, const char *error, void *data)
{
	(void)body;
	struct persistent_embed *e = data;
	if (bot_closing(e->bot))
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
embeds_refresh(struct bot *b, const char *name)
{
	if (bot_closing(b))
		return;
	struct persistent_embed *e = embed_named(b, name);
	if (!e || !e->render) {
		log_error("bot", "refresh of persistent embed %s, which no feature registered",
		          name);
		return;
	}
	if (e->refreshing) {
		e->dirty = 1;
		return;
	}
	embed_schedule(e);
}

void
embeds_refresh_all(struct bot *b)
{
	struct embeds *s = bot_embeds(b);
	for (size_t i = 0; i < s->count; i++)
		if (s->list[i].render)
			embeds_refresh(b, s->list[i].name);
}

size_t
embeds_edits(struct bot *b, const char *name)
{
	struct persistent_embed *e = embed_named(b, name);
	return e ? e->edits : 0;
}

void
embeds_rendered(struct bot *b, const char *name, const struct discord_embed *embed)
{
	if (bot_closing(b))
		return;
	struct embeds *s = bot_embeds(b);
	struct persistent_embed *e = embed_named(b, name);
	if (!e || !e->refreshing)
		return;
	if (!embed) {
		embed_done(e);
		return;
	}
	if (discord_message_json(&s->scratch, NULL, embed, 0, NULL) < 0 ||
	    !(e->body = mem_strdup(s->scratch.data))) {
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
	e->edits++;
	reply_request(b, "PATCH", path, e->body, "persistent embed edit", on_embed_edited, e);
}
