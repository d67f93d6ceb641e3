/* reply — see reply.h. */
#include "reply.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "bot.h"
#include "buf.h"
#include "job.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "mem.h"

/* Interactions being handled at once: each is a user waiting; past this
 * many something is stuck, and new ones run without the guard. */
#define REPLIES_MAX 64

struct pending_answer {
	int in_use;
	int deferred;
	struct interaction it; /* id, token, name: what an answer needs */
	struct bot *bot;
	struct loop_timer timer;
};

/* An interaction the guard gave up on, remembered while its token lives,
 * so that a late answer edits the apology instead of a refused callback. */
struct given_up {
	uint64_t id;
	int64_t at_ms;
};

struct replies {
	struct bot *bot;
	int64_t guard_ms, give_up_ms;
	struct pending_answer answers[REPLIES_MAX];
	/* a ring: the oldest is forgotten first (long expired by then: at
	 * most one give-up per guarded interaction, REPLIES_MAX at a time) */
	struct given_up given_up[REPLIES_MAX];
	size_t given_up_next;
	struct buf scratch; /* request bodies, built and handed to rest (which copies) */
};

struct replies *
replies_new(struct bot *b)
{
	struct replies *r = mem_calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->bot = b;
	r->guard_ms = REPLY_GUARD_MS;
	r->give_up_ms = REPLY_GIVE_UP_MS;
	buf_init(&r->scratch, 1 << 20);
	return r;
}

void
reply_set_guard_times(struct bot *b, int64_t guard_ms, int64_t give_up_ms)
{
	struct replies *r = bot_replies(b);
	r->guard_ms = guard_ms > 0 ? guard_ms : REPLY_GUARD_MS;
	r->give_up_ms = give_up_ms > 0 ? give_up_ms : REPLY_GIVE_UP_MS;
}

/* 1 when the guard apologized for interaction id (within the token's
 * lifetime): its answer must be an edit now. */
static int
was_given_up(struct bot *b, uint64_t id)
{
	struct replies *r = bot_replies(b);
	int64_t now = loop_now(bot_loop(b));
	for (size_t i = 0; i < REPLIES_MAX; i++)
		if (r->given_up[i].id == id && now - r->given_up[i].at_ms < REPLY_TOKEN_LIFETIME_MS)
			return 1;
	return 0;
}

static void
forget_answer(struct bot *b, struct pending_answer *a)
{
	loop_timer_stop(bot_loop(b), &a->timer);
	a->in_use = 0;
}

void
replies_free(struct replies *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < REPLIES_MAX; i++)
		if (r->answers[i].in_use)
			forget_answer(r->bot, &r->answers[i]);
	buf_free(&r->scratch);
	mem_free(r);
}

/* Logs a failed request; for calls whose outcome needs no other care. */
static void
log_failure(int status, const struct json_value *body, const char *error, void *data)
{
	(void)body;
	if (error)
		log_warn("bot", "%s failed: %s (HTTP %d)", (const char *)data, error, status);
}

void
reply_request(struct bot *b, const char *method, const char *path, const char *body,
              const char *what, rest_done_fn *fn, void *data)
{
	struct rest *rest = bot_rest(b);
	const char *error = "REST not started";
	if (rest && rest_request(rest, method, path, body, NULL, fn ? fn : log_failure,
	                         fn ? data : (void *)what) == 0)
		return;
	if (rest)
		error = rest_error(rest);
	log_warn("bot", "%s not sent: %s", what, error);
	/* the callback still runs once, from the loop (job.h) */
	if (fn)
		job_rest_later(b, NULL, fn, data, error);
}

static uint64_t
application_id(struct bot *b, const struct interaction *it)
{
	return it->application_id ? it->application_id : bot_application_id(b);
}

static void
edit_original(struct bot *b, const struct interaction *it, const char *content,
              const struct discord_embed *embed, const char *components_json)
{
	struct replies *r = bot_replies(b);
	char path[DISCORD_TOKEN_MAX + 64];
	snprintf(path, sizeof path, "/webhooks/%llu/%s/messages/@original",
	         (unsigned long long)application_id(b, it), it->token);
	if (discord_message_json(&r->scratch, content, embed, 0, components_json) < 0) {
		log_error("bot", "edit of the answer to %s does not fit", it->name);
		return;
	}
	reply_request(b, "PATCH", path, r->scratch.data, "interaction edit", NULL, NULL);
}

static struct pending_answer *
find_answer(struct bot *b, uint64_t id)
{
	struct replies *r = bot_replies(b);
	for (size_t i = 0; i < REPLIES_MAX; i++)
		if (r->answers[i].in_use && r->answers[i].it.id == id)
			return &r->answers[i];
	return NULL;
}

static void
on_answer_timer(struct loop *loop, struct loop_timer *t)
{
	struct pending_answer *a = t->data;
	struct bot *b = a->bot;
	struct replies *r = bot_replies(b);
	if (!a->deferred) {
		/* the handler is still working: acknowledge now, answer later */
		log_info("bot", "%s is taking long; deferring its answer", a->it.name);
		a->deferred = 1;
		int type = a->it.type == INTERACTION_COMPONENT ? CALLBACK_DEFER_UPDATE
		                                               : CALLBACK_DEFER;
		char path[DISCORD_TOKEN_MAX + 64];
		snprintf(path, sizeof path, "/interactions/%llu/%s/callback",
		         (unsigned long long)a->it.id, a->it.token);
		discord_callback_json(&r->scratch, type, NULL, NULL, 1, NULL);
		reply_request(b, "POST", path, r->scratch.data, "interaction defer", NULL, NULL);
		loop_timer_start(loop, t, r->give_up_ms);
		return;
	}
	log_error("bot", "%s never answered; telling the user", a->it.name);
	edit_original(b, &a->it, "Sorry, this took too long. Please try again later.", NULL, NULL);
	r->given_up[r->given_up_next].id = a->it.id;
	r->given_up[r->given_up_next].at_ms = loop_now(loop);
	r->given_up_next = (r->given_up_next + 1) % REPLIES_MAX;
	forget_answer(b, a);
}

void
reply_guard(struct bot *b, const struct interaction *it)
{
	struct replies *r = bot_replies(b);
	struct pending_answer *a = NULL;
	for (size_t i = 0; i < REPLIES_MAX && !a; i++)
		if (!r->answers[i].in_use)
			a = &r->answers[i];
	if (!a) {
		log_warn("bot", "more than %d interactions in progress; %s runs unguarded",
		         REPLIES_MAX, it->name);
		return;
	}
	a->in_use = 1;
	a->deferred = 0;
	a->it = *it;
	a->it.data = NULL;
	a->bot = b;
	loop_timer_init(&a->timer, on_answer_timer, a);
	loop_timer_start(bot_loop(b), &a->timer, r->guard_ms);
}

/* Sends an interaction callback of the given type, or, once the guard
 * deferred it, the equivalent edit of the original response. */
static void
respond(struct bot *b, const struct interaction *it, int type, const char *content,
        const struct discord_embed *embed, int ephemeral, const char *components_json)
{
	struct replies *r = bot_replies(b);
	struct pending_answer *a = find_answer(b, it->id);
	if ((a && a->deferred) || (!a && was_given_up(b, it->id))) {
		/* acknowledged already (the guard's defer): the answer replaces
		 * "thinking..." or the apology */
		if (a)
			forget_answer(b, a);
		else
			log_info("bot", "%s answered after the guard gave up; editing", it->name);
		edit_original(b, it, content, embed, components_json);
		return;
	}
	if (a)
		forget_answer(b, a);
	char path[DISCORD_TOKEN_MAX + 64];
	snprintf(path, sizeof path, "/interactions/%llu/%s/callback", (unsigned long long)it->id,
	         it->token);
	if (discord_callback_json(&r->scratch, type, content, embed, ephemeral, components_json) <
	    0) {
		log_error("bot", "answer to %s does not fit", it->name);
		return;
	}
	reply_request(b, "POST", path, r->scratch.data, "interaction response", NULL, NULL);
}

void
reply_message(struct bot *b, const struct interaction *it, const char *content,
              const struct discord_embed *embed, int ephemeral)
{
	respond(b, it, CALLBACK_MESSAGE, content, embed, ephemeral, NULL);
}

void
reply_components(struct bot *b, const struct interaction *it, const char *content,
                 const struct discord_embed *embed, int ephemeral, const char *components_json)
{
	respond(b, it, CALLBACK_MESSAGE, content, embed, ephemeral, components_json);
}

void
reply_update(struct bot *b, const struct interaction *it, const char *content,
             const struct discord_embed *embed, const char *components_json)
{
	respond(b, it, CALLBACK_UPDATE_MESSAGE, content, embed, 0, components_json);
}

void
reply_modal(struct bot *b, const struct interaction *it, const char *data_json)
{
	struct replies *r = bot_replies(b);
	struct pending_answer *a = find_answer(b, it->id);
	if ((a && a->deferred) || (!a && was_given_up(b, it->id))) {
		/* too late: a deferred interaction cannot open a modal any more */
		if (a)
			forget_answer(b, a);
		edit_original(b, it, "Sorry, this took too long. Please click again.", NULL, NULL);
		return;
	}
	if (a)
		forget_answer(b, a);
	char path[DISCORD_TOKEN_MAX + 64];
	snprintf(path, sizeof path, "/interactions/%llu/%s/callback", (unsigned long long)it->id,
	         it->token);
	buf_reset(&r->scratch);
	if (buf_printf(&r->scratch, "{\"type\":%d,\"data\":%s}", CALLBACK_MODAL, data_json) < 0) {
		log_error("bot", "modal for %s does not fit", it->name);
		return;
	}
	reply_request(b, "POST", path, r->scratch.data, "interaction modal", NULL, NULL);
}

void
reply_defer(struct bot *b, const struct interaction *it, int ephemeral)
{
	struct replies *r = bot_replies(b);
	struct pending_answer *a = find_answer(b, it->id);
	if ((a && a->deferred) || (!a && was_given_up(b, it->id)))
		return; /* the guard did it already */
	char path[DISCORD_TOKEN_MAX + 64];
	snprintf(path, sizeof path, "/interactions/%llu/%s/callback", (unsigned long long)it->id,
	         it->token);
	discord_callback_json(&r->scratch, CALLBACK_DEFER, NULL, NULL, ephemeral, NULL);
	reply_request(b, "POST", path, r->scratch.data, "interaction defer", NULL, NULL);
	if (a) {
		/* keep watching: the final edit must still come */
		a->deferred = 1;
		loop_timer_start(bot_loop(b), &a->timer, r->give_up_ms);
	}
}

void
reply_edit(struct bot *b, const struct interaction *it, const char *content,
           const struct discord_embed *embed)
{
	struct pending_answer *a = find_answer(b, it->id);
	if (a)
		forget_answer(b, a);
	edit_original(b, it, content, embed, NULL);
}

void
reply_followup(struct bot *b, const struct interaction *it, const char *content, int ephemeral)
{
	struct replies *r = bot_replies(b);
	char path[DISCORD_TOKEN_MAX + 64];
	snprintf(path, sizeof path, "/webhooks/%llu/%s", (unsigned long long)application_id(b, it),
	         it->token);
	if (discord_message_json(&r->scratch, content, NULL, ephemeral, NULL) < 0) {
		log_error("bot", "follow-up to %s does not fit", it->name);
		return;
	}
	reply_request(b, "POST", path, r->scratch.data, "interaction follow-up", NULL, NULL);
}

void
reply_autocomplete(struct bot *b, const struct interaction *it, const struct reply_choice *choices,
                   size_t count)
{
	struct replies *r = bot_replies(b);
	if (count > REPLY_CHOICES_MAX)
		count = REPLY_CHOICES_MAX;
	struct json_writer w;
	buf_reset(&r->scratch);
	json_writer_init(&w, &r->scratch);
	json_write_object_begin(&w);
	json_write_key_int64(&w, "type", 8); /* APPLICATION_COMMAND_AUTOCOMPLETE_RESULT */
	json_write_key(&w, "data");
	json_write_object_begin(&w);
	json_write_key(&w, "choices");
	json_write_array_begin(&w);
	for (size_t i = 0; i < count; i++) {
		json_write_object_begin(&w);
		json_write_key_string(&w, "name", choices[i].name);
		json_write_key(&w, "value");
		if (choices[i].string_value)
			json_write_string(&w, choices[i].string_value);
		else
			json_write_int64(&w, choices[i].int_value);
		json_write_object_end(&w);
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0) {
		log_error("bot", "autocomplete answer to %s does not fit", it->name);
		return;
	}
	char path[DISCORD_TOKEN_MAX + 64];
	snprintf(path, sizeof path, "/interactions/%llu/%s/callback", (unsigned long long)it->id,
	         it->token);
	reply_request(b, "POST", path, r->scratch.data, "autocomplete answer", NULL, NULL);
}

struct choices_job {
	struct bot *bot;
	struct job_later later;
	struct interaction it;
	reply_choice_fn *line;
	char typed[101]; /* the focused option's text, cut */
};

static int
contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	if (!n)
		return 1;
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return 0;
}

static void
on_choices_list(void *data, const struct db_reply *reply)
{
	struct choices_job *j = data;
	if (bot_closing(j->bot)) {
		mem_free(j);
		return;
	}
	struct reply_choice choices[REPLY_CHOICES_MAX];
	/* 100 UTF-16 units may take 300 bytes (3-byte characters) */
	char names[REPLY_CHOICES_MAX][REPLY_CHOICE_LINE_MAX];
	size_t n = 0;
	int rows = reply->error ? 0 : db_rows(reply);
	for (int i = 0; i < rows && n < REPLY_CHOICES_MAX; i++) {
		char line[REPLY_CHOICE_LINE_MAX];
		int64_t value = 0;
		if (j->line(reply, i, line, sizeof line, &value) < 0 ||
		    !contains_ci(line, j->typed))
			continue;
		size_t keep = discord_text_prefix(line, strlen(line), 100);
		memcpy(names[n], line, keep);
		names[n][keep] = 0;
		choices[n] = (struct reply_choice){names[n], NULL, value};
		n++;
	}
	reply_autocomplete(j->bot, &j->it, choices, n);
	mem_free(j);
}

void
reply_choices_matching(struct bot *b, const struct interaction *it, reply_list_fn *list,
                       reply_choice_fn *line)
{
	struct choices_job *j = mem_calloc(1, sizeof *j);
	if (!j) {
		reply_autocomplete(b, it, NULL, 0);
		return;
	}
	j->bot = b;
	j->it = *it;
	j->it.data = NULL;
	j->line = line;
	snprintf(j->typed, sizeof j->typed, "%s", interaction_focused_text(it));
	job_db(b, &j->later, list(bot_db(b), on_choices_list, j), on_choices_list, j);
}

void
reply_post(struct bot *b, uint64_t channel_id, const char *content,
           const struct discord_embed *embed, rest_done_fn *fn, void *data)
{
	struct replies *r = bot_replies(b);
	char path[64];
	snprintf(path, sizeof path, "/channels/%llu/messages", (unsigned long long)channel_id);
	if (discord_message_json(&r->scratch, content, embed, 0, NULL) < 0) {
		log_error("bot", "message to channel %llu does not fit",
		          (unsigned long long)channel_id);
		if (fn)
			job_rest_later(b, NULL, fn, data, "message too large");
		return;
	}
	reply_request(b, "POST", path, r->scratch.data, "message", fn, data);
}

/* ------------------------------------------------------------ direct messages */

/* docs: Resources, User, "Create DM": the channel is the same for the same
 * user, so opening it each time is harmless (and keeps no state here). */
struct dm_job {
	struct bot *bot;
	char *body; /* the message, built at reply_dm time */
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
	if (error || bot_closing(b)) {
		dm_finish(j, status, body, error ? error : "bot closing");
		return;
	}
	char path[64];
	snprintf(path, sizeof path, "/channels/%llu/messages", (unsigned long long)channel_id);
	reply_request(b, "POST", path, j->body, "direct message", on_dm_sent, j);
}

void
reply_dm(struct bot *b, uint64_t user_id, const char *content, const struct discord_embed *embed,
         rest_done_fn *fn, void *data)
{
	struct replies *r = bot_replies(b);
	struct dm_job *j = mem_calloc(1, sizeof *j);
	if (j && discord_message_json(&r->scratch, content, embed, 0, NULL) == 0)
		j->body = mem_strdup(r->scratch.data);
	if (!j || !j->body) {
		mem_free(j);
		if (fn)
			job_rest_later(b, NULL, fn, data,
			               "out of memory (or the message does not fit)");
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
		mem_free(j->body);
		mem_free(j);
		if (fn)
			job_rest_later(b, NULL, fn, data, "out of memory");
		return;
	}
	reply_request(b, "POST", "/users/@me/channels", open.data, "DM channel", on_dm_channel, j);
	buf_free(&open);
}
