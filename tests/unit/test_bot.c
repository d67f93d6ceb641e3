/* test_bot.c — the bot layer against the Discord emulator the unit runner
 * starts: the answer guard (a slow handler is deferred and its answer
 * becomes an edit; an answer after the give-up replaces the apology, never
 * a second callback), persistent embeds (a burst of refreshes coalesces
 * into two edits, refreshes are paced, a deleted message is posted again)
 * and the job shape (a refused call answers exactly once, later, and at
 * teardown).
 *
 * The bot runs started but waiting for a PostgreSQL that is not there, so
 * it has its REST client and features but no gateway session: the
 * emulator records injected interactions without dispatching them, and
 * the test drives reply.c and embeds.c itself. */
#include <stdio.h>
#include <string.h>

#include "bot.h"
#include "buf.h"
#include "config.h"
#include "emulator.h"
#include "embeds.h"
#include "job.h"
#include "json.h"
#include "loop.h"
#include "reply.h"
#include "test.h"
#include "tracked.h"
#include "mem.h"

#define GUILD_ID 1200000000000000001ULL

struct fixture {
	struct loop *loop;
	struct config cfg;
	struct bot *b;
	struct json_doc doc;
};

static int
fixture_start(struct fixture *f)
{
	memset(f, 0, sizeof *f);
	if (emu_start() < 0 || !CHECK_INT(emu_call("POST", "/reset", "{}", NULL), 200))
		return -1;
	f->loop = loop_new();
	json_doc_init(&f->doc, 16u << 20);
	struct config *c = &f->cfg;
	c->discord_api_url = (char *)emu_api_base();
	c->discord_bot_token = (char *)emu_token();
	c->tls_ca_file = (char *)emu_ca_file();
	c->guild_id = GUILD_ID;
	c->admin_notification_channel_id = 1;
	c->queue_channel_id = 1;
	/* port 1 refuses at once: the bot waits for its database for ever */
	c->db_host = (char *)"127.0.0.1";
	c->db_port = 1;
	c->db_name = (char *)"agora";
	c->db_user = (char *)"agora";
	c->redis_host = (char *)"127.0.0.1";
	c->redis_port = 1;
	c->stats_recalculation_month_limit = 12;
	c->max_proposed_channels = 10;
	c->llm_timeout_seconds = 10;
	char err[256];
	f->b = bot_new(f->loop, c, err, sizeof err);
	if (!CHECK(f->b != NULL) || !CHECK_INT(bot_start(f->b, err, sizeof err), 0)) {
		fprintf(stderr, "    bot: %s\n", err);
		return -1;
	}
	return 0;
}

static void
fixture_stop(struct fixture *f)
{
	bot_free(f->b);
	loop_free(f->loop);
	json_doc_free(&f->doc);
}

/* GET on the control API, parsed into f->doc (valid until the next call). */
static const struct json_value *
control_get(struct fixture *f, const char *path)
{
	struct buf out;
	buf_init(&out, 64u << 20);
	int status = emu_call("GET", path, NULL, &out);
	const struct json_value *v =
	        status == 200 ? json_parse(&f->doc, buf_str(&out), out.len) : NULL;
	buf_free(&out);
	return v;
}

/* Injects /status (never dispatched: no session) and reads it back. */
static int
inject(struct fixture *f, struct interaction *it)
{
	struct buf out;
	buf_init(&out, 1 << 20);
	int status = emu_call("POST", "/inject/slash", "{\"name\": \"status\"}", &out);
	const struct json_value *v =
	        status == 200 ? json_parse(&f->doc, buf_str(&out), out.len) : NULL;
	char err[128];
	int r = v && json_path_int64(v, "sessions", &(int64_t){0}) == 0 &&
	                        interaction_parse(json_get(v, "payload"), it, err, sizeof err) == 0
	                ? 0
	                : -1;
	it->data = NULL;
	buf_free(&out);
	return r;
}

struct seen {
	struct fixture *f;
	uint64_t id;
	size_t responses, edits;
	int first_type;
	char last_edit[200];
	size_t callbacks; /* POSTs to .../callback for this interaction */
};

/* What the emulator recorded for interaction s->id. */
static void
look(struct seen *s)
{
	char path[64];
	snprintf(path, sizeof path, "/interactions/%llu", (unsigned long long)s->id);
	const struct json_value *it = control_get(s->f, path);
	const struct json_value *responses = json_get(it, "responses");
	const struct json_value *edits = json_get(it, "edits");
	s->responses = json_len(responses);
	s->edits = json_len(edits);
	int64_t type = 0;
	json_path_int64(json_at(responses, 0), "type", &type);
	s->first_type = (int)type;
	const char *content =
	        s->edits ? json_path_str(json_at(edits, s->edits - 1), "body.content") : NULL;
	snprintf(s->last_edit, sizeof s->last_edit, "%s", content ? content : "");
	const struct json_value *requests = control_get(s->f, "/requests?method=POST");
	char needle[64];
	snprintf(needle, sizeof needle, "/interactions/%llu/", (unsigned long long)s->id);
	s->callbacks = 0;
	for (const struct json_value *r = json_first(requests); r; r = json_next(r)) {
		const char *p = json_path_str(r, "path");
		if (p && strstr(p, needle) && strstr(p, "/callback"))
			s->callbacks++;
	}
}

static int
has_responses(void *arg)
{
	struct seen *s = arg;
	look(s);
	return s->responses > 0;
}

static int
never(void *arg)
{
	(void)arg;
	return 0;
}

static size_t want_edits;
static int
has_edits(void *arg)
{
	struct seen *s = arg;
	look(s);
	return s->edits >= want_edits;
}

TEST(bot_guard_defers_a_slow_handler_and_its_answer_becomes_an_edit)
{
	struct fixture f;
	if (fixture_start(&f) < 0) {
		fixture_stop(&f);
		return;
	}
	reply_set_guard_times(f.b, 100, 60000);
	struct interaction it;
	CHECK_INT(inject(&f, &it), 0);
	struct seen s = {.f = &f, .id = it.id};
	reply_guard(f.b, &it);
	/* the handler says nothing: the guard acknowledges for it */
	CHECK(test_run_until(f.loop, has_responses, &s, 5000));
	CHECK_INT(s.first_type, CALLBACK_DEFER);
	reply_message(f.b, &it, "the slow answer", NULL, 1);
	want_edits = 1;
	CHECK(test_run_until(f.loop, has_edits, &s, 5000));
	CHECK_STR(s.last_edit, "the slow answer");
	CHECK_INT(s.responses, 1);
	CHECK_INT(s.callbacks, 1); /* the defer; the answer was an edit */

	/* a quick handler answers with the callback itself; the guard stays
	 * quiet over a window three times its delay */
	struct interaction quick;
	CHECK_INT(inject(&f, &quick), 0);
	struct seen q = {.f = &f, .id = quick.id};
	reply_guard(f.b, &quick);
	reply_message(f.b, &quick, "at once", NULL, 1);
	CHECK(test_run_until(f.loop, has_responses, &q, 5000));
	test_run_until(f.loop, never, NULL, 300);
	look(&q);
	CHECK_INT(q.first_type, CALLBACK_MESSAGE);
	CHECK_INT(q.responses, 1);
	CHECK_INT(q.edits, 0);
	CHECK_INT(q.callbacks, 1);
	fixture_stop(&f);
}

TEST(bot_guard_answer_after_give_up_replaces_the_apology)
{
	struct fixture f;
	if (fixture_start(&f) < 0) {
		fixture_stop(&f);
		return;
	}
	reply_set_guard_times(f.b, 50, 200);
	struct interaction it;
	CHECK_INT(inject(&f, &it), 0);
	struct seen s = {.f = &f, .id = it.id};
	reply_guard(f.b, &it);
	want_edits = 1;
	CHECK(test_run_until(f.loop, has_edits, &s, 5000));
	CHECK_STR(s.last_edit, "Sorry, this took too long. Please try again later.");
	/* the answer comes after all: an edit, not a second callback that
	 * Discord refuses with 40060 */
	reply_message(f.b, &it, "here it is after all", NULL, 1);
	want_edits = 2;
	CHECK(test_run_until(f.loop, has_edits, &s, 5000));
	CHECK_STR(s.last_edit, "here it is after all");
	CHECK_INT(s.responses, 1);
	CHECK_INT(s.callbacks, 1);
	/* a defer after the give-up is a no-op too */
	reply_defer(f.b, &it, 1);
	test_run_until(f.loop, never, NULL, 100);
	look(&s);
	CHECK_INT(s.callbacks, 1);
	fixture_stop(&f);
}

/* ------------------------------------------------------------ persistent embeds */

#define TEST_EMBED "test_embed"

/* The renderer: draws "version N" at once, recording when it was asked. */
static int embed_version;
static int64_t render_at[64];
static size_t renders;

static void
render_test_embed(struct bot *b, const char *name)
{
	if (renders < sizeof render_at / sizeof render_at[0])
		render_at[renders] = loop_now(bot_loop(b));
	renders++;
	char text[64];
	snprintf(text, sizeof text, "version %d", embed_version);
	struct discord_embed e = {.title = "Test", .description = text};
	embeds_rendered(b, name, &e);
}

/* The one live message in channel_id, parsed into f->doc; NULL if none or
 * more than one. */
static const struct json_value *
live_message(struct fixture *f, uint64_t channel_id)
{
	char path[80];
	snprintf(path, sizeof path, "/channels/%llu/messages", (unsigned long long)channel_id);
	const struct json_value *all = control_get(f, path), *live = NULL;
	size_t n = 0;
	for (const struct json_value *m = json_first(all); m; m = json_next(m))
		if (json_bool(json_get(m, "deleted")) != 1) {
			live = m;
			n++;
		}
	return n == 1 ? live : NULL;
}

struct embed_wait {
	struct fixture *f;
	uint64_t channel_id;
	const char *want; /* description */
	uint64_t not_id;  /* a message id it must not be (0: any) */
	uint64_t id;      /* the message found */
};

static int
embed_shows(void *arg)
{
	struct embed_wait *w = arg;
	const struct json_value *m = live_message(w->f, w->channel_id);
	const char *d = json_path_str(json_at(json_get(m, "embeds"), 0), "description");
	if (!d || strcmp(d, w->want) != 0 || json_path_id(m, "id", &w->id) < 0)
		return 0;
	return w->id != w->not_id;
}

static void
on_deleted(int status, const struct json_value *body, const char *error, void *data)
{
	(void)body;
	int *done = data;
	*done = !error && status / 100 == 2 ? 1 : -1;
}

static int
flag_set(void *arg)
{
	return *(int *)arg != 0;
}

/* The bot has saved w->id as the embed's message: the emulator shows the
 * re-posted message before the bot has read the POST's answer. */
static int
embed_saved(void *arg)
{
	struct embed_wait *w = arg;
	uint64_t ch, msg;
	return embeds_find(w->f->b, TEST_EMBED, &ch, &msg) == 0 && msg == w->id;
}

static size_t want_renders;
static int
rendered_enough(void *arg)
{
	(void)arg;
	return renders >= want_renders;
}

/* A channel of the emulator's default guild to keep the embed in. */
static uint64_t
text_channel(struct fixture *f)
{
	struct interaction it;
	return inject(f, &it) == 0 ? it.channel_id : 0;
}

TEST(bot_embed_burst_coalesces_paced_and_reposted_after_404)
{
	struct fixture f;
	if (fixture_start(&f) < 0) {
		fixture_stop(&f);
		return;
	}
	uint64_t channel = text_channel(&f);
	CHECK(channel != 0);
	renders = 0;
	embed_version = 1;
	CHECK_INT(embeds_register(f.b, TEST_EMBED, channel, render_test_embed), 0);

	/* a burst of 100 changes in one loop turn: one refresh now, one more
	 * after it (the last state), nothing else */
	for (int i = 0; i < 100; i++) {
		embed_version = i + 1;
		embeds_refresh(f.b, TEST_EMBED);
	}
	struct embed_wait w = {.f = &f, .channel_id = channel, .want = "version 100"};
	CHECK(test_run_until(f.loop, embed_shows, &w, 10000));
	uint64_t first_id = w.id;
	test_run_until(f.loop, never, NULL, EMBEDS_MIN_INTERVAL_MS + 500);
	CHECK_INT(renders, 2);
	CHECK_INT(embeds_edits(f.b, TEST_EMBED), 2); /* one POST, one PATCH */
	if (renders == 2)
		CHECK(render_at[1] - render_at[0] >= EMBEDS_MIN_INTERVAL_MS);
	uint64_t ch = 0, msg = 0;
	CHECK_INT(embeds_find(f.b, TEST_EMBED, &ch, &msg), 0);
	CHECK(ch == channel && msg == first_id);

	/* paced: a change every 100 ms for 3 s is drawn at most once per
	 * EMBEDS_MIN_INTERVAL_MS */
	size_t before = renders;
	for (int i = 0; i < 30; i++) {
		embed_version = 200 + i;
		embeds_refresh(f.b, TEST_EMBED);
		test_run_until(f.loop, never, NULL, 100);
	}
	want_renders = renders + 1;
	test_run_until(f.loop, rendered_enough, NULL, EMBEDS_MIN_INTERVAL_MS + 1000);
	w.want = "version 229";
	CHECK(test_run_until(f.loop, embed_shows, &w, 10000));
	CHECK(renders - before <= 3);
	for (size_t i = 1; i < renders && i < 64; i++)
		CHECK(render_at[i] - render_at[i - 1] >= EMBEDS_MIN_INTERVAL_MS);
	CHECK(w.id == first_id); /* edited in place */

	/* deleted by hand: the edit meets 404 and a new message is posted */
	char path[96];
	snprintf(path, sizeof path, "/channels/%llu/messages/%llu", (unsigned long long)channel,
	         (unsigned long long)first_id);
	int deleted = 0;
	reply_request(f.b, "DELETE", path, NULL, "test delete", on_deleted, &deleted);
	CHECK(test_run_until(f.loop, flag_set, &deleted, 5000));
	CHECK_INT(deleted, 1);
	embed_version = 300;
	test_run_until(f.loop, never, NULL, EMBEDS_MIN_INTERVAL_MS);
	embeds_refresh(f.b, TEST_EMBED);
	w.want = "version 300";
	w.not_id = first_id;
	CHECK(test_run_until(f.loop, embed_shows, &w, 10000));
	CHECK(w.id != first_id && w.id != 0);
	CHECK(test_run_until(f.loop, embed_saved, &w, 5000));
	fixture_stop(&f);
}

/* ------------------------------------------------------------ the job shape */

static void
count_db(void *data, const struct db_reply *reply)
{
	int *n = data;
	(*n)++;
	CHECK(reply->error != NULL);
}

static void
count_rest(int status, const struct json_value *body, const char *error, void *data)
{
	(void)status;
	(void)body;
	int *n = data;
	(*n)++;
	CHECK(error != NULL);
}

struct count_wait {
	int *count;
	int want;
};

static int
count_reached(void *arg)
{
	struct count_wait *w = arg;
	return *w->count >= w->want;
}

TEST(bot_refused_calls_answer_once_later_and_at_teardown)
{
	struct fixture f;
	if (fixture_start(&f) < 0) {
		fixture_stop(&f);
		return;
	}
	struct job_later later;
	int db_answers = 0, rest_answers = 0;
	/* a store_* call that returned -1: the answer comes from the loop */
	job_db(f.b, &later, -1, count_db, &db_answers);
	job_rest_later(f.b, NULL, count_rest, &rest_answers, "refused");
	CHECK_INT(db_answers, 0);
	CHECK_INT(rest_answers, 0);
	CHECK_INT(jobs_pending(f.b), 2);
	struct count_wait one_db = {&db_answers, 1}, one_rest = {&rest_answers, 1};
	CHECK(test_run_until(f.loop, count_reached, &one_db, 5000));
	CHECK(test_run_until(f.loop, count_reached, &one_rest, 5000));
	CHECK_INT(db_answers, 1);
	CHECK_INT(rest_answers, 1);
	CHECK_INT(jobs_pending(f.b), 0);
	/* a call that was queued (0) answers through the service, not here */
	job_db(f.b, &later, 0, count_db, &db_answers);
	CHECK_INT(jobs_pending(f.b), 0);
	/* a message that cannot be built answers later too */
	reply_post(f.b, 1, NULL, NULL, count_rest, &rest_answers);
	CHECK_INT(rest_answers, 1);
	struct count_wait two = {&rest_answers, 2};
	CHECK(test_run_until(f.loop, count_reached, &two, 5000));
	CHECK_INT(rest_answers, 2);
	/* pending at teardown: answered once by bot_free */
	job_db(f.b, &later, -1, count_db, &db_answers);
	bot_free(f.b);
	f.b = NULL;
	CHECK_INT(db_answers, 2);
	loop_free(f.loop);
	json_doc_free(&f.doc);
}

/* ---- the tracked-channel set (tracked.c): membership by hash, exact
 * through adds, category changes and removals; a lookup allocates nothing */

static int tracked_answers;
static void
on_tracked_saved(void *data, const struct db_reply *reply)
{
	(void)data;
	(void)reply; /* no database in this fixture: every save fails, later */
	tracked_answers++;
}

static int
tracked_answered(void *arg)
{
	return tracked_answers >= *(int *)arg;
}

TEST(bot_tracked_set_is_exact_through_adds_moves_and_removals)
{
	struct fixture f;
	if (fixture_start(&f) < 0)
		return;
	enum { N = 3000 };
	const uint64_t base = 1250000000000000000ULL;
	tracked_answers = 0;
	for (uint64_t i = 0; i < N; i++)
		CHECK_INT(tracked_add(f.b, base + i * 4194304, TRACKED_PROPOSED, on_tracked_saved,
		                      NULL),
		          0);
	/* every third moves to permanent; every fifth is removed */
	for (uint64_t i = 0; i < N; i += 3)
		tracked_add(f.b, base + i * 4194304, TRACKED_PERMANENT, on_tracked_saved, NULL);
	for (uint64_t i = 0; i < N; i += 5)
		tracked_remove(f.b, base + i * 4194304, on_tracked_saved, NULL);
	int want = N + N / 3 + N / 5; /* N is a multiple of 15 */
	CHECK(test_run_until(f.loop, tracked_answered, &want, 10000));
	CHECK_INT(tracked_answers, want); /* each change answered exactly once */

	unsigned long long allocations = mem_allocations();
	size_t present = 0;
	int wrong = 0;
	for (uint64_t i = 0; i < N; i++) {
		enum tracked_category c = TRACKED_PROPOSED;
		int in = tracked_contains(f.b, base + i * 4194304, &c);
		present += in;
		if (in != (i % 5 != 0) ||
		    (in && c != (i % 3 == 0 ? TRACKED_PERMANENT : TRACKED_PROPOSED)))
			wrong++;
		/* ids next to tracked ones are not tracked */
		wrong += tracked_contains(f.b, base + i * 4194304 + 1, NULL);
	}
	CHECK_INT(wrong, 0);
	CHECK_INT(present, N - N / 5);
	CHECK_INT(tracked_count(f.b), N - N / 5);
	CHECK(mem_allocations() == allocations);
	fixture_stop(&f);
}
