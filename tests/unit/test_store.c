/* test_store — every query of src/store.c against the real PostgreSQL
 * (tests/services.sh), on a schema made by the embedded migrations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "db.h"
#include "loop.h"
#include "migrate.h"
#include "services.h"
#include "store.h"
#include "test.h"

struct store_test {
	struct loop *loop;
	struct db *db;
};

/* A connected, migrated, emptied database; 0, or -1 (skip or failure). */
static int
store_test_open(struct store_test *t, const char *name)
{
	memset(t, 0, sizeof *t);
	t->loop = loop_new();
	t->db = services_migrated_db(t->loop, name,
	                             "proposals, reports, tracked_channels, persistent_embeds");
	if (!t->db) {
		loop_free(t->loop);
		return -1;
	}
	return 0;
}

static void
store_test_close(struct store_test *t)
{
	db_free(t->db);
	loop_free(t->loop);
}

/* Waits for the reply of a store_* call that returned rc. */
static void
store_test_wait(struct store_test *t, int rc, struct services_reply *r)
{
	CHECK_INT(rc, 0);
	if (rc == 0)
		services_wait(t->loop, &r->done, 10000);
	CHECK_INT(r->done, 1);
}

#define STORE_CALL(t, r, call)                                                                     \
	do {                                                                                       \
		memset(&(r), 0, sizeof(r));                                                        \
		store_test_wait((t), (call), &(r));                                                \
	} while (0)

/* Parses row 0 of a proposal reply inside the callback (strings are
 * borrowed there) and keeps copies. */
struct store_test_proposal {
	int done, parsed, rows;
	struct store_proposal p;
	char type[16], status[16], text[128], suggestion[128], final_name[128], url[128];
	char proposer[64];
	int suggestion_null, final_null, url_null;
};

static void
store_test_proposal_fn(void *data, const struct db_reply *reply)
{
	struct store_test_proposal *o = data;
	o->done++;
	o->rows = reply->error ? -1 : db_rows(reply);
	if (reply->error || db_rows(reply) < 1)
		return;
	o->parsed = store_proposal_row(reply, 0, &o->p) == 0;
	if (!o->parsed)
		return;
	snprintf(o->type, sizeof o->type, "%s", o->p.type);
	snprintf(o->status, sizeof o->status, "%s", o->p.status);
	snprintf(o->text, sizeof o->text, "%s", o->p.original_text);
	o->suggestion_null = !o->p.llm_suggestion;
	o->final_null = !o->p.final_name;
	o->url_null = !o->p.file_url;
	snprintf(o->suggestion, sizeof o->suggestion, "%s",
	         o->p.llm_suggestion ? o->p.llm_suggestion : "");
	snprintf(o->final_name, sizeof o->final_name, "%s", o->p.final_name ? o->p.final_name : "");
	snprintf(o->url, sizeof o->url, "%s", o->p.file_url ? o->p.file_url : "");
	snprintf(o->proposer, sizeof o->proposer, "%s",
	         o->p.proposer_name ? o->p.proposer_name : "");
}

static void
store_test_proposal_call(struct store_test *t, int rc, struct store_test_proposal *o)
{
	CHECK_INT(rc, 0);
	if (rc == 0)
		services_wait(t->loop, &o->done, 10000);
	CHECK_INT(o->done, 1);
}

TEST(store_proposals)
{
	struct store_test t;
	if (store_test_open(&t, "store_proposals") < 0)
		return;
	struct services_reply r;
	const uint64_t user = 1234567890123456789ull; /* snowflake-sized */

	STORE_CALL(&t, r,
	           store_proposal_pending_exists(t.db, user, "channel", services_reply_fn, &r));
	CHECK_STR(r.value[0][0], "f");
	STORE_CALL(&t, r,
	           store_proposal_insert(t.db, user, "channel", "a place for 'bread' & \"jam\"",
	                                 NULL, "Bób 🍞", services_reply_fn, &r));
	CHECK_STR(r.error, "");
	CHECK_STR(r.value[0][0], "1");
	STORE_CALL(&t, r,
	           store_proposal_pending_exists(t.db, user, "channel", services_reply_fn, &r));
	CHECK_STR(r.value[0][0], "t");
	STORE_CALL(&t, r,
	           store_proposal_pending_exists(t.db, user, "emoji", services_reply_fn, &r));
	CHECK_STR(r.value[0][0], "f");
	/* a second pending proposal of one type: the unique index refuses */
	STORE_CALL(&t, r,
	           store_proposal_insert(t.db, user, "channel", "again", NULL, NULL,
	                                 services_reply_fn, &r));
	CHECK_STR(r.sqlstate, STORE_UNIQUE_VIOLATION);
	STORE_CALL(&t, r,
	           store_proposal_insert(t.db, user, "emoji", "party_parrot",
	                                 "https://cdn.example/a.png", NULL, services_reply_fn, &r));
	CHECK_STR(r.value[0][0], "3"); /* the refused insert used up id 2 */
	CHECK_INT(store_proposal_insert(t.db, user, "sticker", "x", NULL, NULL, services_reply_fn,
	                                &r),
	          -1);

	struct store_test_proposal o;
	memset(&o, 0, sizeof o);
	store_test_proposal_call(&t, store_proposal_get(t.db, 1, store_test_proposal_fn, &o), &o);
	CHECK(o.parsed);
	CHECK_INT(o.p.id, 1);
	CHECK(o.p.user_id == user);
	CHECK_STR(o.type, "channel");
	CHECK_STR(o.status, "pending");
	CHECK_STR(o.text, "a place for 'bread' & \"jam\"");
	CHECK(o.suggestion_null && o.final_null && o.url_null);
	CHECK(o.p.created_at > 1700000000);
	CHECK_STR(o.proposer, "Bób 🍞");
	memset(&o, 0, sizeof o);
	store_test_proposal_call(&t, store_proposal_get(t.db, 99, store_test_proposal_fn, &o), &o);
	CHECK_INT(o.rows, 0);

	STORE_CALL(&t, r,
	           store_proposal_set_suggestion(t.db, 1, "bread-and-jam", services_reply_fn, &r));
	CHECK_INT(r.rows, 1);
	memset(&o, 0, sizeof o);
	store_test_proposal_call(&t, store_proposal_get(t.db, 1, store_test_proposal_fn, &o), &o);
	CHECK_STR(o.suggestion, "bread-and-jam");

	STORE_CALL(&t, r, store_proposal_list_pending(t.db, services_reply_fn, &r));
	CHECK_INT(r.rows, 2);
	CHECK_STR(r.value[0][0], "1");
	CHECK_STR(r.value[1][0], "3");
	CHECK_STR(r.value[1][7], "https://cdn.example/a.png");

	memset(&o, 0, sizeof o);
	store_test_proposal_call(
	        &t, store_proposal_approve(t.db, 1, "bread-jam", store_test_proposal_fn, &o), &o);
	CHECK_STR(o.status, "approving");
	CHECK_STR(o.final_name, "bread-jam");
	/* approving: out of the queue, still the member's open proposal, and
	 * listed for the recovery at start with its time */
	STORE_CALL(&t, r, store_proposal_list_pending(t.db, services_reply_fn, &r));
	CHECK_INT(r.rows, 1);
	STORE_CALL(&t, r,
	           store_proposal_pending_exists(t.db, user, "channel", services_reply_fn, &r));
	CHECK_STR(r.value[0][0], "t");
	STORE_CALL(&t, r, store_proposal_list_approving(t.db, services_reply_fn, &r));
	CHECK_INT(r.rows, 1);
	CHECK_STR(r.value[0][0], "1");
	/* a second approval of the same row loses */
	memset(&o, 0, sizeof o);
	store_test_proposal_call(
	        &t, store_proposal_approve(t.db, 1, "other", store_test_proposal_fn, &o), &o);
	CHECK_INT(o.rows, 0);
	/* back to pending (Discord refused), then approving and approved */
	memset(&o, 0, sizeof o);
	store_test_proposal_call(&t, store_proposal_unapprove(t.db, 1, store_test_proposal_fn, &o),
	                         &o);
	CHECK_STR(o.status, "pending");
	CHECK(o.final_null);
	memset(&o, 0, sizeof o);
	store_test_proposal_call(&t, store_proposal_approved(t.db, 1, store_test_proposal_fn, &o),
	                         &o);
	CHECK_INT(o.rows, 0); /* only an approving row becomes approved */
	memset(&o, 0, sizeof o);
	store_test_proposal_call(
	        &t, store_proposal_approve(t.db, 1, "bread-jam", store_test_proposal_fn, &o), &o);
	CHECK_STR(o.status, "approving");
	memset(&o, 0, sizeof o);
	store_test_proposal_call(&t, store_proposal_approved(t.db, 1, store_test_proposal_fn, &o),
	                         &o);
	CHECK_STR(o.status, "approved");
	CHECK_STR(o.final_name, "bread-jam");
	STORE_CALL(&t, r, store_proposal_list_approving(t.db, services_reply_fn, &r));
	CHECK_INT(r.rows, 0);
	/* the second admin loses: no longer pending */
	memset(&o, 0, sizeof o);
	store_test_proposal_call(&t, store_proposal_reject(t.db, 1, store_test_proposal_fn, &o),
	                         &o);
	CHECK_INT(o.rows, 0);
	memset(&o, 0, sizeof o);
	store_test_proposal_call(&t, store_proposal_reject(t.db, 3, store_test_proposal_fn, &o),
	                         &o);
	CHECK_STR(o.status, "rejected");
	CHECK(o.final_null);

	STORE_CALL(&t, r, store_proposal_list_pending(t.db, services_reply_fn, &r));
	CHECK_INT(r.rows, 0);
	/* approved/rejected no longer block a new proposal */
	STORE_CALL(&t, r,
	           store_proposal_pending_exists(t.db, user, "channel", services_reply_fn, &r));
	CHECK_STR(r.value[0][0], "f");
	store_test_close(&t);
}

struct store_test_report {
	int done, parsed, rows;
	struct store_report rep;
	char status[16], description[128], url[128];
	int url_null;
};

static void
store_test_report_fn(void *data, const struct db_reply *reply)
{
	struct store_test_report *o = data;
	o->done++;
	o->rows = reply->error ? -1 : db_rows(reply);
	if (reply->error || db_rows(reply) < 1)
		return;
	o->parsed = store_report_row(reply, 0, &o->rep) == 0;
	if (!o->parsed)
		return;
	snprintf(o->status, sizeof o->status, "%s", o->rep.status);
	snprintf(o->description, sizeof o->description, "%s", o->rep.description);
	o->url_null = !o->rep.file_url;
	snprintf(o->url, sizeof o->url, "%s", o->rep.file_url ? o->rep.file_url : "");
}

TEST(store_reports)
{
	struct store_test t;
	if (store_test_open(&t, "store_reports") < 0)
		return;
	struct services_reply r;
	STORE_CALL(&t, r,
	           store_report_insert(t.db, 42, "spam in #general", NULL, services_reply_fn, &r));
	CHECK_STR(r.value[0][0], "1");
	STORE_CALL(&t, r,
	           store_report_insert(t.db, 43, "rude", "https://cdn.example/s.png",
	                               services_reply_fn, &r));
	CHECK_STR(r.value[0][0], "2");
	STORE_CALL(&t, r,
	           store_report_set_notification(t.db, 1, 1100000000000000001ull, services_reply_fn,
	                                         &r));
	CHECK_INT(r.rows, 1);
	STORE_CALL(&t, r, store_report_set_notification(t.db, 77, 1, services_reply_fn, &r));
	CHECK_INT(r.rows, 0);

	struct store_test_report o;
	memset(&o, 0, sizeof o);
	CHECK_INT(store_report_get(t.db, 1, store_test_report_fn, &o), 0);
	services_wait(t.loop, &o.done, 5000);
	CHECK(o.parsed);
	CHECK_INT(o.rep.id, 1);
	CHECK(o.rep.user_id == 42);
	CHECK_STR(o.status, "pending");
	CHECK_STR(o.description, "spam in #general");
	CHECK(o.url_null);
	CHECK(o.rep.notification_message_id == 1100000000000000001ull);

	memset(&o, 0, sizeof o);
	CHECK_INT(store_report_set_status(t.db, 1, "investigating", store_test_report_fn, &o), 0);
	services_wait(t.loop, &o.done, 5000);
	CHECK_STR(o.status, "investigating");
	CHECK_INT(store_report_set_status(t.db, 1, "pending", store_test_report_fn, &o), -1);
	CHECK_INT(store_report_set_status(t.db, 1, "bogus", store_test_report_fn, &o), -1);

	STORE_CALL(&t, r, store_report_list_open(t.db, services_reply_fn, &r));
	CHECK_INT(r.rows, 2);
	CHECK_STR(r.value[0][2], "investigating");
	CHECK_STR(r.value[1][2], "pending");
	CHECK_STR(r.value[1][4], "https://cdn.example/s.png");

	memset(&o, 0, sizeof o);
	CHECK_INT(store_report_set_status(t.db, 2, "resolved", store_test_report_fn, &o), 0);
	services_wait(t.loop, &o.done, 5000);
	CHECK_STR(o.status, "resolved");
	/* a resolved report is never reopened */
	memset(&o, 0, sizeof o);
	CHECK_INT(store_report_set_status(t.db, 2, "investigating", store_test_report_fn, &o), 0);
	services_wait(t.loop, &o.done, 5000);
	CHECK_INT(o.rows, 0);

	STORE_CALL(&t, r, store_report_list_open(t.db, services_reply_fn, &r));
	CHECK_INT(r.rows, 1);
	CHECK_STR(r.value[0][0], "1");
	store_test_close(&t);
}

TEST(store_tracked_channels)
{
	struct store_test t;
	if (store_test_open(&t, "store_tracked_channels") < 0)
		return;
	struct services_reply r;
	STORE_CALL(&t, r, store_channel_upsert(t.db, 300, "proposed", services_reply_fn, &r));
	CHECK_STR(r.error, "");
	STORE_CALL(&t, r, store_channel_upsert(t.db, 100, "permanent", services_reply_fn, &r));
	STORE_CALL(&t, r, store_channel_upsert(t.db, 200, "proposed", services_reply_fn, &r));
	/* upsert of a known channel changes its category, not the count */
	STORE_CALL(&t, r, store_channel_upsert(t.db, 200, "permanent", services_reply_fn, &r));
	CHECK_STR(r.error, "");
	CHECK_INT(store_channel_upsert(t.db, 1, "archived", services_reply_fn, &r), -1);

	STORE_CALL(&t, r, store_channel_list(t.db, services_reply_fn, &r));
	CHECK_INT(r.rows, 3);
	CHECK_STR(r.value[0][0], "100");
	CHECK_STR(r.value[1][0], "200");
	CHECK_STR(r.value[1][1], "permanent");
	CHECK_STR(r.value[2][1], "proposed");

	STORE_CALL(&t, r,
	           store_channel_set_category(t.db, 300, "permanent", services_reply_fn, &r));
	CHECK_INT(r.affected, 1);
	STORE_CALL(&t, r,
	           store_channel_set_category(t.db, 999, "permanent", services_reply_fn, &r));
	CHECK_INT(r.affected, 0);
	STORE_CALL(&t, r, store_channel_delete(t.db, 100, services_reply_fn, &r));
	CHECK_INT(r.affected, 1);
	STORE_CALL(&t, r, store_channel_delete(t.db, 100, services_reply_fn, &r));
	CHECK_INT(r.affected, 0);

	STORE_CALL(&t, r, store_channel_list(t.db, services_reply_fn, &r));
	CHECK_INT(r.rows, 2);
	CHECK_STR(r.value[0][0], "200");
	CHECK_STR(r.value[1][0], "300");
	CHECK_STR(r.value[1][1], "permanent");
	store_test_close(&t);
}

struct store_test_rows {
	int done, ok;
	struct store_channel channel;
	uint64_t embed_channel, embed_message;
	char embed_name[64];
};

static void
store_test_rows_fn(void *data, const struct db_reply *reply)
{
	struct store_test_rows *o = data;
	o->done++;
	struct store_embed e;
	o->ok = !reply->error && store_embed_row(reply, 0, &e) == 0;
	if (o->ok) {
		o->embed_channel = e.channel_id;
		o->embed_message = e.message_id;
		snprintf(o->embed_name, sizeof o->embed_name, "%s", e.name);
	}
}

TEST(store_persistent_embeds)
{
	struct store_test t;
	if (store_test_open(&t, "store_persistent_embeds") < 0)
		return;
	struct services_reply r;
	STORE_CALL(&t, r,
	           store_embed_upsert(t.db, "proposal_queue", 10, 11, services_reply_fn, &r));
	CHECK_STR(r.error, "");
	STORE_CALL(&t, r, store_embed_upsert(t.db, "report_queue", 20, 21, services_reply_fn, &r));
	STORE_CALL(&t, r,
	           store_embed_upsert(t.db, "proposal_queue", 12, 1300000000000000000ull,
	                              services_reply_fn, &r));
	CHECK_STR(r.error, "");

	struct store_test_rows o;
	memset(&o, 0, sizeof o);
	CHECK_INT(store_embed_get(t.db, "proposal_queue", store_test_rows_fn, &o), 0);
	services_wait(t.loop, &o.done, 5000);
	CHECK(o.ok);
	CHECK_STR(o.embed_name, "proposal_queue");
	CHECK(o.embed_channel == 12);
	CHECK(o.embed_message == 1300000000000000000ull);
	memset(&o, 0, sizeof o);
	CHECK_INT(store_embed_get(t.db, "nope", store_test_rows_fn, &o), 0);
	services_wait(t.loop, &o.done, 5000);
	CHECK_INT(o.done, 1);
	CHECK(!o.ok);

	STORE_CALL(&t, r, store_embed_list(t.db, services_reply_fn, &r));
	CHECK_INT(r.rows, 2);
	CHECK_STR(r.value[0][0], "proposal_queue");
	CHECK_STR(r.value[1][0], "report_queue");
	CHECK_STR(r.value[1][2], "21");
	store_test_close(&t);
}

/* Row parsers refuse replies that are not theirs instead of misreading. */
TEST(store_row_parsers_check_shape)
{
	struct db_reply empty = {NULL, "", NULL};
	struct store_proposal p;
	struct store_report rep;
	struct store_channel c;
	struct store_embed e;
	CHECK_INT(store_proposal_row(&empty, 0, &p), -1);
	CHECK_INT(store_report_row(&empty, 0, &rep), -1);
	CHECK_INT(store_channel_row(&empty, 0, &c), -1);
	CHECK_INT(store_embed_row(&empty, 0, &e), -1);
}

/* A reply's id read through store_returned_id inside the callback. */
struct store_test_id {
	int done, rc;
	int64_t id;
	char sqlstate[8];
};

static void
store_test_id_fn(void *data, const struct db_reply *reply)
{
	struct store_test_id *o = data;
	o->done++;
	o->rc = store_returned_id(reply, &o->id);
	snprintf(o->sqlstate, sizeof o->sqlstate, "%s", reply->sqlstate);
}

/* issue 9.8: one strict parser for returned ids; a reply that is not one
 * plain id in 1..2^31-1 is refused, never read as 0 or as a prefix. */
TEST(store_returned_id_is_strict)
{
	struct store_test t;
	if (store_test_open(&t, "store_returned_id_is_strict") < 0)
		return;
	static const struct {
		const char *sql;
		int rc;
		int64_t id;
	} cases[] = {
	        {"SELECT 1", 0, 1},
	        {"SELECT 2147483647", 0, 2147483647},
	        {"SELECT 2147483648", -1, 0},
	        {"SELECT 0", -1, 0},
	        {"SELECT -5", -1, 0},
	        {"SELECT '007'", -1, 0},
	        {"SELECT '+7'", -1, 0},
	        {"SELECT ' 7'", -1, 0},
	        {"SELECT '7 '", -1, 0},
	        {"SELECT '12abc'", -1, 0},
	        {"SELECT ''", -1, 0},
	        {"SELECT NULL", -1, 0},
	        {"SELECT 99999999999999999999", -1, 0},
	        {"SELECT 1 WHERE false", -1, 0},
	        {"SELECT 1 UNION ALL SELECT 2", -1, 0},
	        {"SELECT 1/0", -1, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct store_test_id o = {0};
		CHECK_INT(db_query(t.db, cases[i].sql, 0, NULL, 0, store_test_id_fn, &o), 0);
		services_wait(t.loop, &o.done, 10000);
		if (!CHECK_INT(o.rc, cases[i].rc) || !CHECK_INT(o.id, cases[i].id))
			printf("    case: %s\n", cases[i].sql);
	}
	CHECK(!store_id_in_range(0));
	CHECK(!store_id_in_range(-1));
	CHECK(store_id_in_range(1));
	CHECK(store_id_in_range(STORE_ID_MAX));
	CHECK(!store_id_in_range((int64_t)STORE_ID_MAX + 1));
	store_test_close(&t);
}

/* issue 10.1: one pending proposal per user and type is the database's
 * rule. Two connections send the same user's insert at the same moment,
 * 20 times over (for both types): each time exactly one wins and the
 * other gets the unique violation. */
TEST(store_concurrent_duplicate_inserts)
{
	struct store_test t;
	if (store_test_open(&t, "store_concurrent_duplicate_inserts") < 0)
		return;
	struct db_config cfg;
	services_pg("store_concurrent_duplicate_inserts", &cfg);
	struct db *other = services_db(t.loop, &cfg);
	if (!CHECK(other != NULL)) {
		store_test_close(&t);
		return;
	}
	static const unsigned char png[] = {0x89, 'P', 'N', 'G'};
	int wins = 0, refusals = 0, others = 0;
	for (uint64_t user = 1; user <= 20; user++) {
		struct store_test_id a = {0}, b = {0}, c = {0}, d = {0};
		CHECK_INT(store_proposal_insert(t.db, user, "channel", "one", NULL, NULL,
		                                store_test_id_fn, &a),
		          0);
		CHECK_INT(store_proposal_insert(other, user, "channel", "two", NULL, NULL,
		                                store_test_id_fn, &b),
		          0);
		CHECK_INT(store_proposal_insert_emoji(t.db, user, "e_one", NULL, png, sizeof png,
		                                      "image/png", NULL, store_test_id_fn, &c),
		          0);
		CHECK_INT(store_proposal_insert_emoji(other, user, "e_two", NULL, png, sizeof png,
		                                      "image/png", NULL, store_test_id_fn, &d),
		          0);
		struct store_test_id *all[] = {&a, &b, &c, &d};
		for (int k = 0; k < 4; k++) {
			services_wait(t.loop, &all[k]->done, 10000);
			CHECK_INT(all[k]->done, 1);
		}
		for (int pair = 0; pair < 2; pair++) {
			struct store_test_id *x = all[2 * pair], *y = all[2 * pair + 1];
			int won = (x->rc == 0) + (y->rc == 0);
			CHECK_INT(won, 1);
			wins += won;
			struct store_test_id *lost = x->rc == 0 ? y : x;
			if (strcmp(lost->sqlstate, STORE_UNIQUE_VIOLATION) == 0)
				refusals++;
			else
				others++;
		}
	}
	printf("    40 concurrent pairs: %d won, %d refused by the unique index, %d other\n", wins,
	       refusals, others);
	CHECK_INT(wins, 40);
	CHECK_INT(refusals, 40);
	struct services_reply r;
	services_query(t.loop, t.db, "SELECT count(*) FROM proposals WHERE status = 'pending'", 0,
	               NULL, &r);
	CHECK_STR(r.value[0][0], "40");
	db_free(other);
	store_test_close(&t);
}

struct store_test_image {
	int done, rows;
	char type[32];
	char *b64;
};

static void
store_test_image_fn(void *data, const struct db_reply *reply)
{
	struct store_test_image *o = data;
	o->done++;
	o->rows = reply->error ? -1 : db_rows(reply);
	if (o->rows == 1) {
		snprintf(o->type, sizeof o->type, "%s", db_value(reply, 0, 0));
		o->b64 = strdup(db_value(reply, 0, 1));
	}
}

/* issue 10.3: the validated bytes are kept with the proposal, every byte
 * value intact, and come back as the base64 of a data URI. */
TEST(store_emoji_image_round_trip)
{
	struct store_test t;
	if (store_test_open(&t, "store_emoji_image_round_trip") < 0)
		return;
	enum { N = 3000 };
	static unsigned char img[N];
	for (int i = 0; i < N; i++)
		img[i] = (unsigned char)(i * 7 + (i >> 8));
	struct store_test_id o = {0};
	CHECK_INT(store_proposal_insert_emoji(t.db, 42, "bread", "https://cdn.example/b.gif", img,
	                                      N, "image/gif", NULL, store_test_id_fn, &o),
	          0);
	services_wait(t.loop, &o.done, 10000);
	CHECK_INT(o.rc, 0);
	CHECK_INT(o.id, 1);
	struct store_test_image im = {0};
	CHECK_INT(store_proposal_emoji_image(t.db, o.id, store_test_image_fn, &im), 0);
	services_wait(t.loop, &im.done, 10000);
	CHECK_INT(im.rows, 1);
	CHECK_STR(im.type, "image/gif");
	static char want[BASE64_SIZE(N)];
	base64_encode(img, N, want, sizeof want);
	CHECK(im.b64 && strcmp(im.b64, want) == 0);
	CHECK(im.b64 && !strchr(im.b64, '\n'));
	free(im.b64);

	/* a channel proposal has no image: 0 rows */
	struct store_test_id ch = {0};
	store_proposal_insert(t.db, 42, "channel", "x", NULL, NULL, store_test_id_fn, &ch);
	services_wait(t.loop, &ch.done, 10000);
	memset(&im, 0, sizeof im);
	CHECK_INT(store_proposal_emoji_image(t.db, ch.id, store_test_image_fn, &im), 0);
	services_wait(t.loop, &im.done, 10000);
	CHECK_INT(im.rows, 0);

	/* refused before any query: empty, too large, or an unknown type */
	CHECK_INT(store_proposal_insert_emoji(t.db, 1, "a", NULL, img, 0, "image/png", NULL,
	                                      store_test_id_fn, &o),
	          -1);
	CHECK_INT(store_proposal_insert_emoji(t.db, 1, "a", NULL, img, STORE_EMOJI_IMAGE_MAX + 1,
	                                      "image/png", NULL, store_test_id_fn, &o),
	          -1);
	CHECK_INT(store_proposal_insert_emoji(t.db, 1, "a", NULL, img, 10, "image/webp", NULL,
	                                      store_test_id_fn, &o),
	          -1);
	store_test_close(&t);
}
