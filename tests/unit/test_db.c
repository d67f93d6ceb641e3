/* test_db — src/db.c and src/migrate.c against a real PostgreSQL 15 started
 * by tests/services.sh (scram-sha-256 password auth over TCP). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "loop.h"
#include "mem.h"
#include "migrate.h"
#include "services.h"
#include "test.h"

/* ------------------------------------------------------------ no server */

TEST(migrate_check_rejects_bad_lists)
{
	char why[160];
	const struct migration good[] = {{1, "001_a.sql", "SELECT 1"}, {3, "003_b_c.sql", ""}};
	CHECK_INT(migrate_check(good, 2, why, sizeof why), 0);
	const struct migration order[] = {{2, "002_a.sql", ""}, {1, "001_b.sql", ""}};
	CHECK_INT(migrate_check(order, 2, why, sizeof why), -1);
	CHECK(strstr(why, "ascend") != NULL);
	const struct migration dup[] = {{1, "001_a.sql", ""}, {1, "001_b.sql", ""}};
	CHECK_INT(migrate_check(dup, 2, why, sizeof why), -1);
	const struct migration mismatch[] = {{2, "001_a.sql", ""}};
	CHECK_INT(migrate_check(mismatch, 1, why, sizeof why), -1);
	const struct migration quote[] = {{1, "001_a'b.sql", ""}};
	CHECK_INT(migrate_check(quote, 1, why, sizeof why), -1);
	const struct migration zero[] = {{0, "000_a.sql", ""}};
	CHECK_INT(migrate_check(zero, 1, why, sizeof why), -1);
}

/* The build embeds every sql/NNN_*.sql byte for byte, in order. */
TEST(migrate_embedded_matches_sql_dir)
{
	CHECK(migrate_embedded_count >= 1);
	char why[160];
	CHECK_INT(migrate_check(migrate_embedded, migrate_embedded_count, why, sizeof why), 0);
	for (size_t i = 0; i < migrate_embedded_count; i++) {
		char path[256];
		snprintf(path, sizeof path, "sql/%s", migrate_embedded[i].name);
		char *text = test_read_file(path, NULL);
		CHECK(text != NULL);
		if (text)
			CHECK(strcmp(text, migrate_embedded[i].sql) == 0);
		free(text);
	}
	CHECK_STR(migrate_embedded[0].name, "001_initial.sql");
}

/* Without a server: queries fail with "database unavailable", never hang. */
TEST(db_unreachable_server_fails_fast)
{
	struct loop *loop = loop_new();
	struct db_config cfg = {.host = "127.0.0.1",
	                        .port = 1,
	                        .dbname = "x",
	                        .user = "x",
	                        .backoff_initial_ms = 50,
	                        .backoff_max_ms = 100};
	struct db *db = db_new(loop, &cfg);
	CHECK(db != NULL);
	int never = 0;
	services_wait(loop, &never, 100); /* the first attempt is refused */
	struct services_reply r;
	int64_t t0 = services_now_ms();
	services_query(loop, db, "SELECT 1", 0, NULL, &r);
	CHECK_INT(r.done, 1);
	CHECK(r.is_error);
	CHECK(strstr(r.error, "database unavailable") != NULL);
	CHECK(strstr(r.error, "refused") != NULL);
	CHECK(r.at_ms - t0 < 1000);
	CHECK(!db_connected(db));
	db_free(db);
	loop_free(loop);
}

/* ------------------------------------------------------------ with server */

TEST(db_password_auth_params_and_ping)
{
	struct db_config cfg;
	if (services_pg("db_password_auth_params_and_ping", &cfg) < 0)
		return;
	struct loop *loop = loop_new();
	struct db *db = services_db(loop, &cfg);
	CHECK(db != NULL);
	if (!db) {
		loop_free(loop);
		return;
	}
	struct services_reply r;
	/* values travel as bound parameters: quotes and SQL in them are data */
	const char *params[] = {"it's'); DROP TABLE proposals; --", NULL, "42"};
	services_query(loop, db, "SELECT $1::text, $2::text IS NULL, $3::int + 1", 3, params, &r);
	CHECK_INT(r.done, 1);
	CHECK_STR(r.error, "");
	CHECK_INT(r.rows, 1);
	CHECK_STR(r.value[0][0], params[0]);
	CHECK_STR(r.value[0][1], "t");
	CHECK_STR(r.value[0][2], "43");
	/* the auth really was by password over TCP */
	services_query(loop, db, "SELECT current_user, inet_server_addr() IS NOT NULL", 0, NULL,
	               &r);
	CHECK_STR(r.value[0][0], cfg.user);
	CHECK_STR(r.value[0][1], "t");

	memset(&r, 0, sizeof r);
	CHECK_INT(db_ping(db, 2000, services_reply_fn, &r), 0);
	services_wait(loop, &r.done, 5000);
	CHECK_INT(r.done, 1);
	CHECK_STR(r.error, "");
	CHECK_STR(r.value[0][0], "1");

	/* a server-side error carries its SQLSTATE and the loop goes on */
	services_query(loop, db, "SELECT 1/0", 0, NULL, &r);
	CHECK(r.is_error);
	CHECK_STR(r.sqlstate, "22012");
	CHECK(strstr(r.error, "division by zero") != NULL);
	services_query(loop, db, "SELECT 2", 0, NULL, &r);
	CHECK_STR(r.value[0][0], "2");
	db_free(db);
	loop_free(loop);
}

TEST(db_wrong_password_is_reported)
{
	struct db_config cfg;
	if (services_pg("db_wrong_password_is_reported", &cfg) < 0)
		return;
	cfg.password = "not-the-password";
	struct loop *loop = loop_new();
	struct db *db = db_new(loop, &cfg);
	int never = 0;
	services_wait(loop, &never, 300);
	CHECK(!db_connected(db));
	CHECK(strstr(db_error(db), "password authentication failed") != NULL);
	struct services_reply r;
	services_query(loop, db, "SELECT 1", 0, NULL, &r);
	CHECK_INT(r.done, 1);
	CHECK(strstr(r.error, "database unavailable") != NULL);
	/* the secret never shows in a message */
	CHECK(strstr(r.error, "not-the-password") == NULL);
	db_free(db);
	loop_free(loop);
}

struct db_test_order {
	int seen[32];
	int count, done;
};

static void
db_test_order_fn(void *data, const struct db_reply *reply)
{
	struct db_test_order *o = data;
	const char *v = reply->error ? NULL : db_value(reply, 0, 0);
	if (o->count < 32)
		o->seen[o->count] = v ? (int)strtol(v, NULL, 10) : -1;
	o->count++;
	o->done = o->count == 20;
}

TEST(db_queue_runs_in_order)
{
	struct db_config cfg;
	if (services_pg("db_queue_runs_in_order", &cfg) < 0)
		return;
	struct loop *loop = loop_new();
	struct db *db = services_db(loop, &cfg);
	if (!CHECK(db != NULL)) {
		loop_free(loop);
		return;
	}
	struct db_test_order o = {{0}, 0, 0};
	for (int i = 0; i < 20; i++) {
		char n[16];
		snprintf(n, sizeof n, "%d", i);
		const char *p[] = {n};
		CHECK_INT(db_query(db, "SELECT $1::int", 1, p, 0, db_test_order_fn, &o), 0);
	}
	CHECK_INT(o.count, 0); /* never called back from inside db_query */
	services_wait(loop, &o.done, 5000);
	CHECK_INT(o.count, 20);
	for (int i = 0; i < 20; i++)
		CHECK_INT(o.seen[i], i);
	db_free(db);
	loop_free(loop);
}

TEST(db_query_timeout_cancels_and_recovers)
{
	struct db_config cfg;
	if (services_pg("db_query_timeout_cancels_and_recovers", &cfg) < 0)
		return;
	struct loop *loop = loop_new();
	struct db *db = services_db(loop, &cfg);
	if (!CHECK(db != NULL)) {
		loop_free(loop);
		return;
	}
	struct services_reply slow, queued;
	memset(&slow, 0, sizeof slow);
	memset(&queued, 0, sizeof queued);
	int64_t t0 = services_now_ms();
	CHECK_INT(db_query(db, "SELECT pg_sleep(5)", 0, NULL, 200, services_reply_fn, &slow), 0);
	/* queued behind it: was never sent, so it runs on the new session */
	CHECK_INT(db_query(db, "SELECT 'after'", 0, NULL, 5000, services_reply_fn, &queued), 0);
	services_wait(loop, &slow.done, 3000);
	CHECK_INT(slow.done, 1);
	CHECK_STR(slow.error, "query timed out");
	CHECK(slow.at_ms - t0 >= 190);
	CHECK(slow.at_ms - t0 < 1000);
	services_wait(loop, &queued.done, 3000);
	CHECK_INT(queued.done, 1);
	CHECK_STR(queued.error, "");
	CHECK_STR(queued.value[0][0], "after");
	/* the server stopped the runaway query (the cancel request landed) */
	struct services_reply r;
	int running = 1;
	for (int i = 0; i < 100 && running; i++) {
		services_query(loop, db,
		               "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT "
		               "pg_sleep(5)' AND state = 'active'",
		               0, NULL, &r);
		running = strcmp(r.value[0][0], "0") != 0;
		if (running) {
			int never = 0;
			services_wait(loop, &never, 20);
		}
	}
	CHECK(!running);
	CHECK(services_now_ms() - t0 < 5000);
	/* a queued query times out too, without touching the connection */
	memset(&slow, 0, sizeof slow);
	memset(&queued, 0, sizeof queued);
	CHECK_INT(db_query(db, "SELECT pg_sleep(0.5)", 0, NULL, 3000, services_reply_fn, &slow), 0);
	CHECK_INT(db_query(db, "SELECT 1", 0, NULL, 100, services_reply_fn, &queued), 0);
	services_wait(loop, &slow.done, 3000);
	CHECK_INT(queued.done, 1);
	CHECK_STR(queued.error, "query timed out");
	CHECK_INT(slow.done, 1);
	CHECK_STR(slow.error, "");
	db_free(db);
	loop_free(loop);
}

TEST(db_free_fails_every_pending_query_once)
{
	struct db_config cfg;
	if (services_pg("db_free_fails_every_pending_query_once", &cfg) < 0)
		return;
	struct loop *loop = loop_new();
	struct db *db = services_db(loop, &cfg);
	if (!CHECK(db != NULL)) {
		loop_free(loop);
		return;
	}
	struct services_reply r[3];
	memset(r, 0, sizeof r);
	CHECK_INT(db_query(db, "SELECT pg_sleep(1)", 0, NULL, 0, services_reply_fn, &r[0]), 0);
	int never = 0;
	services_wait(loop, &never, 50); /* the first is on the wire now */
	CHECK_INT(db_query(db, "SELECT 1", 0, NULL, 0, services_reply_fn, &r[1]), 0);
	CHECK_INT(db_query(db, "SELECT 2", 0, NULL, 0, services_reply_fn, &r[2]), 0);
	db_free(db);
	for (int i = 0; i < 3; i++) {
		CHECK_INT(r[i].done, 1);
		CHECK_STR(r[i].error, "database closed");
	}
	/* nothing fires later on freed memory (ASan would see it) */
	services_wait(loop, &never, 50);
	for (int i = 0; i < 3; i++)
		CHECK_INT(r[i].done, 1);
	loop_free(loop);
}

/* PostgreSQL goes away and comes back: the query in flight fails with
 * "connection lost" (not re-run), queries while it is down fail fast, and
 * the connection comes back by itself after the restart. */
struct db_test_states {
	int up, down;
	char error[512];
};

static void
db_test_state_fn(void *data, int connected, const char *error)
{
	struct db_test_states *s = data;
	if (connected)
		s->up++;
	else
		s->down++;
	snprintf(s->error, sizeof s->error, "%s", error ? error : "");
}

TEST(db_server_restart_fails_fast_then_recovers)
{
	struct db_config cfg;
	if (services_pg("db_server_restart_fails_fast_then_recovers", &cfg) < 0)
		return;
	struct db_test_states states = {0, 0, ""};
	cfg.on_state = db_test_state_fn;
	cfg.state_data = &states;
	struct loop *loop = loop_new();
	struct db *db = services_db(loop, &cfg);
	if (!CHECK(db != NULL)) {
		loop_free(loop);
		return;
	}
	struct services_reply inflight;
	memset(&inflight, 0, sizeof inflight);
	CHECK_INT(db_query(db, "SELECT pg_sleep(3)", 0, NULL, 0, services_reply_fn, &inflight), 0);
	int never = 0;
	services_wait(loop, &never, 100);
	CHECK_INT(services_control("stop pg"), 0);
	services_wait(loop, &inflight.done, 2000);
	CHECK_INT(inflight.done, 1);
	CHECK(strstr(inflight.error, "database connection lost") != NULL);
	CHECK_INT(states.up, 1);
	CHECK(states.down >= 1);

	/* the automatic reconnect is refused while the server is down */
	services_wait(loop, &never, 300);
	CHECK(!db_connected(db));
	struct services_reply r;
	int64_t t0 = services_now_ms();
	services_query(loop, db, "SELECT 1", 0, NULL, &r);
	CHECK_INT(r.done, 1);
	CHECK(strstr(r.error, "database unavailable") != NULL);
	CHECK(strstr(r.error, "refused") != NULL);
	CHECK(r.at_ms - t0 < 1000);

	CHECK_INT(services_control("start pg"), 0);
	int64_t end = services_now_ms() + 5000;
	while (!db_connected(db) && services_now_ms() < end)
		services_wait(loop, &never, 10);
	CHECK(db_connected(db));
	CHECK_INT(states.up, 2); /* told once per connection */
	services_query(loop, db, "SELECT 'back'", 0, NULL, &r);
	CHECK_STR(r.error, "");
	CHECK_STR(r.value[0][0], "back");
	db_free(db);
	loop_free(loop);
}

/* ------------------------------------------------------------ migrations */

struct db_test_migrated {
	int done, applied;
	char error[512];
};

static void
db_test_migrated_fn(void *data, int applied, const char *error)
{
	struct db_test_migrated *m = data;
	m->done++;
	m->applied = applied;
	snprintf(m->error, sizeof m->error, "%s", error ? error : "");
}

static void
db_test_migrate(struct loop *loop, struct db *db, const struct migration *list, size_t count,
                struct db_test_migrated *out)
{
	memset(out, 0, sizeof *out);
	CHECK_INT(migrate_run(db, list, count, db_test_migrated_fn, out), 0);
	services_wait(loop, &out->done, 10000);
	CHECK_INT(out->done, 1);
}

TEST(migrate_fresh_database_then_nothing_then_failure_rolls_back)
{
	struct db_config cfg;
	if (services_pg("migrate_fresh_database_then_nothing_then_failure_rolls_back", &cfg) < 0)
		return;
	struct loop *loop = loop_new();
	struct db *admin = services_db(loop, &cfg);
	if (!CHECK(admin != NULL)) {
		loop_free(loop);
		return;
	}
	struct services_reply r;
	services_query(loop, admin, "DROP DATABASE IF EXISTS agora_migtest", 0, NULL, &r);
	CHECK_STR(r.error, "");
	services_query(loop, admin, "CREATE DATABASE agora_migtest", 0, NULL, &r);
	CHECK_STR(r.error, "");
	cfg.dbname = "agora_migtest";
	struct db *db = services_db(loop, &cfg);
	if (!CHECK(db != NULL)) {
		db_free(admin);
		loop_free(loop);
		return;
	}

	struct db_test_migrated m;
	db_test_migrate(loop, db, migrate_embedded, migrate_embedded_count, &m);
	CHECK_STR(m.error, "");
	CHECK_INT(m.applied, (long long)migrate_embedded_count);
	services_query(
	        loop, db,
	        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' "
	        "AND table_name IN ('proposals', 'reports', 'tracked_channels', "
	        "'persistent_embeds', 'schema_migrations')",
	        0, NULL, &r);
	CHECK_STR(r.value[0][0], "5");
	services_query(loop, db,
	               "SELECT version, name, applied_at IS NOT NULL FROM schema_migrations", 0,
	               NULL, &r);
	CHECK_INT(r.rows, (long long)migrate_embedded_count);
	CHECK_STR(r.value[0][0], "1");
	CHECK_STR(r.value[0][1], "001_initial.sql");
	CHECK_STR(r.value[0][2], "t");
	/* the CHECK constraints hold */
	services_query(loop, db,
	               "INSERT INTO proposals (user_id, proposal_type, status, original_text) "
	               "VALUES (1, 'channel', 'bogus', 'x')",
	               0, NULL, &r);
	CHECK_STR(r.sqlstate, "23514");
	services_query(loop, db,
	               "INSERT INTO reports (user_id, status, description) VALUES (1, 'lost', 'x')",
	               0, NULL, &r);
	CHECK_STR(r.sqlstate, "23514");
	services_query(loop, db,
	               "INSERT INTO tracked_channels (channel_id, category) VALUES (1, 'other')", 0,
	               NULL, &r);
	CHECK_STR(r.sqlstate, "23514");
	services_query(loop, db,
	               "INSERT INTO proposals (user_id, proposal_type, original_text) "
	               "VALUES (1, 'sticker', 'x')",
	               0, NULL, &r);
	CHECK_STR(r.sqlstate, "23514");

	/* a second start applies nothing */
	db_test_migrate(loop, db, migrate_embedded, migrate_embedded_count, &m);
	CHECK_STR(m.error, "");
	CHECK_INT(m.applied, 0);

	/* a failing migration: rolled back whole, named, and nothing after it */
	struct migration list[8];
	size_t n = 0;
	for (; n < migrate_embedded_count && n < 5; n++)
		list[n] = migrate_embedded[n];
	int v = list[n - 1].version;
	char name2[32], name3[32];
	snprintf(name2, sizeof name2, "%03d_broken.sql", v + 1);
	snprintf(name3, sizeof name3, "%03d_after.sql", v + 2);
	list[n++] = (struct migration){v + 1, name2,
	                               "CREATE TABLE mig_partial (x int);\n"
	                               "INSERT INTO mig_partial VALUES (1);\n"
	                               "SELECT no_such_function(); -- fails"};
	list[n++] = (struct migration){v + 2, name3, "CREATE TABLE mig_after (x int)"};
	db_test_migrate(loop, db, list, n, &m);
	CHECK(strstr(m.error, name2) != NULL);
	CHECK(strstr(m.error, "no_such_function") != NULL);
	CHECK_INT(m.applied, 0);
	services_query(
	        loop, db,
	        "SELECT to_regclass('mig_partial') IS NULL, to_regclass('mig_after') IS NULL, "
	        "(SELECT count(*) FROM schema_migrations)",
	        0, NULL, &r);
	CHECK_STR(r.value[0][0], "t");
	CHECK_STR(r.value[0][1], "t");
	char count[16];
	snprintf(count, sizeof count, "%zu", migrate_embedded_count);
	CHECK_STR(r.value[0][2], count);
	/* the session is usable after the rollback */
	services_query(loop, db, "SELECT 1", 0, NULL, &r);
	CHECK_STR(r.error, "");

	db_free(db);
	services_query(loop, admin, "DROP DATABASE IF EXISTS agora_migtest", 0, NULL, &r);
	CHECK_STR(r.error, "");
	db_free(admin);
	loop_free(loop);
}

/* A host NAME goes through net.h's resolver (off the loop) and libpq gets
 * every address as hostaddr, trying them in turn (localhost may be ::1
 * first, where nothing listens). */
TEST(db_connects_by_host_name)
{
	struct db_config cfg;
	if (services_pg("db_connects_by_host_name", &cfg) < 0)
		return;
	cfg.host = "localhost";
	struct loop *loop = loop_new();
	struct db *db = services_db(loop, &cfg);
	CHECK(db != NULL);
	if (db) {
		struct services_reply r;
		services_query(loop, db, "SELECT host(inet_server_addr())", 0, NULL, &r);
		CHECK_STR(r.value[0][0], "127.0.0.1");
		db_free(db);
	}
	loop_free(loop);
}

static void
db_test_count_fn(void *data, const struct db_reply *reply)
{
	(void)reply;
	(*(int *)data)++;
}

/* Allocation failure anywhere in db_new / db_query / db_free: no crash, no
 * leak (ASan), and a callback exactly once for each accepted query. */
TEST(db_allocation_failure_sweep)
{
	struct loop *loop = loop_new();
	struct db_config cfg = {
	        .host = "127.0.0.1", .port = 1, .dbname = "x", .user = "x", .password = "pw"};
	for (long n = 0; n < 200; n++) {
		mem_fail_after(n);
		int calls = 0, rc = -1;
		struct db *db = db_new(loop, &cfg);
		if (db) {
			const char *p[] = {"a", "b"};
			rc = db_query(db, "SELECT $1, $2", 2, p, 0, db_test_count_fn, &calls);
			db_free(db);
		}
		long used = mem_fail_after(-1);
		CHECK_INT(calls, rc == 0 ? 1 : 0);
		if (used < n)
			break; /* nothing failed this round: every allocation covered */
	}
	loop_free(loop);
}

/* Answers of refused calls, counted by kind. */
struct db_refused {
	int calls, queue_full, closed, too_large, invalid;
	struct db *db;
	int requery; /* the first answer queries again, once */
};

static void
db_refused_fn(void *data, const struct db_reply *reply)
{
	struct db_refused *r = data;
	r->calls++;
	const char *e = reply->error ? reply->error : "";
	r->queue_full += strstr(e, "queue full") != NULL;
	r->closed += strcmp(e, "database closed") == 0;
	r->too_large += strstr(e, "query too large") != NULL;
	r->invalid += strstr(e, "invalid query arguments") != NULL;
	/* a flow that does not know the db is going asks again: refused, and
	 * still answered once before the memory goes */
	if (r->requery) {
		r->requery = 0;
		CHECK_INT(db_query(r->db, "SELECT 1", 0, NULL, 0, db_refused_fn, r), 0);
	}
}

/* A db with no server (port 1) and a full queue of DB_MAX_QUEUE queries,
 * each counted in *calls when it answers. */
static struct db *
db_test_full(struct loop *loop, int *calls)
{
	struct db_config cfg = {.host = "127.0.0.1", .port = 1, .dbname = "x", .user = "x"};
	struct db *db = db_new(loop, &cfg);
	for (int i = 0; i < DB_MAX_QUEUE; i++)
		CHECK_INT(db_query(db, "SELECT 1", 0, NULL, 0, db_test_count_fn, calls), 0);
	return db;
}

/* The queue is bounded: past DB_MAX_QUEUE db_query refuses, and the
 * refused call is answered exactly once, later, from the loop. */
TEST(db_queue_is_bounded)
{
	struct loop *loop = loop_new();
	int calls = 0;
	struct db *db = db_test_full(loop, &calls);
	struct db_refused r = {0};
	for (int i = 0; i < 3; i++)
		CHECK_INT(db_query(db, "SELECT 1", 0, NULL, 0, db_refused_fn, &r), 0);
	CHECK(strstr(db_error(db), "queue full") != NULL);
	CHECK_INT(r.calls, 0); /* never from inside the call */
	int never = 0;
	services_wait(loop, &never, 50);
	CHECK_INT(calls, DB_MAX_QUEUE); /* all failed (no server), each once */
	CHECK_INT(r.calls, 3);
	CHECK_INT(r.queue_full, 3);
	db_free(db);
	CHECK_INT(calls, DB_MAX_QUEUE);
	CHECK_INT(r.calls, 3);
	loop_free(loop);
}

/* Refused calls still owed when db_free runs are answered there, once,
 * and so is a call made from a callback during db_free ("database
 * closed"); nothing more runs afterwards. */
TEST(db_refused_calls_answer_once_at_teardown)
{
	struct loop *loop = loop_new();
	int calls = 0;
	struct db *db = db_test_full(loop, &calls);
	struct db_refused r = {.db = db, .requery = 1};
	CHECK_INT(db_query(db, "SELECT 1", 0, NULL, 0, db_refused_fn, &r), 0); /* queue full */
	CHECK_INT(db_query(db, NULL, 0, NULL, 0, db_refused_fn, &r), 0);       /* invalid */
	CHECK_INT(r.calls, 0);
	/* the loop never ran: everything is still owed */
	db_free(db);
	CHECK_INT(calls, DB_MAX_QUEUE); /* "database closed" */
	CHECK_INT(r.queue_full, 1);
	CHECK_INT(r.invalid, 1);
	/* the query its first answer made, inside db_free */
	CHECK_INT(r.closed, 1);
	CHECK_INT(r.calls, 3);
	int never = 0;
	services_wait(loop, &never, 50);
	CHECK_INT(r.calls, 3);
	CHECK_INT(calls, DB_MAX_QUEUE);
	loop_free(loop);
}

/* ---- db_free from inside db's own callbacks (issue 9.7)
 *
 * A query's callback frees the db while more queries wait behind it, and
 * an on_state callback frees it when the server is unreachable: every
 * callback still runs exactly once (the others with "database closed"),
 * nothing touches freed memory (the ASan build checks), and the memory
 * goes in a deferred call, as ws_free does. */

struct db_free_inside {
	struct db *db;
	int calls[4];
	char error[4][128];
	int states;
};

static struct db_free_inside free_inside;

static void
db_free_inside_query(void *data, const struct db_reply *reply)
{
	int i = (int)(intptr_t)data;
	free_inside.calls[i]++;
	snprintf(free_inside.error[i], sizeof free_inside.error[i], "%s",
	         reply->error ? reply->error : "");
	if (i == 0)
		db_free(free_inside.db); /* from inside its own callback */
}

static void
db_free_inside_state(void *data, int connected, const char *error)
{
	(void)data;
	(void)error;
	free_inside.states++;
	if (!connected)
		db_free(free_inside.db);
}

TEST(db_free_inside_its_own_callback)
{
	struct db_config cfg;
	if (services_pg("db_free_inside_its_own_callback", &cfg) < 0)
		return;
	struct loop *loop = loop_new();
	memset(&free_inside, 0, sizeof free_inside);
	free_inside.db = services_db(loop, &cfg);
	if (!CHECK(free_inside.db != NULL)) {
		loop_free(loop);
		return;
	}
	for (int i = 0; i < 4; i++)
		CHECK_INT(db_query(free_inside.db, "SELECT 1", 0, NULL, 0, db_free_inside_query,
		                   (void *)(intptr_t)i),
		          0);
	int never = 0;
	services_wait(loop, &never, 500);
	CHECK_INT(free_inside.calls[0], 1);
	CHECK_STR(free_inside.error[0], "");
	for (int i = 1; i < 4; i++) {
		CHECK_INT(free_inside.calls[i], 1);
		CHECK_STR(free_inside.error[i], "database closed");
	}

	/* unreachable: the first "down" notice frees the db from on_state,
	 * with queries queued; each fails once, and no retry follows */
	memset(&free_inside, 0, sizeof free_inside);
	struct db_config bad = cfg;
	bad.host = "127.0.0.1";
	bad.port = 1;
	bad.on_state = db_free_inside_state;
	free_inside.db = db_new(loop, &bad);
	CHECK(free_inside.db != NULL);
	for (int i = 0; i < 3; i++)
		CHECK_INT(db_query(free_inside.db, "SELECT 1", 0, NULL, 0, db_free_inside_query,
		                   (void *)(intptr_t)(i + 1)),
		          0);
	services_wait(loop, &never, 500);
	CHECK_INT(free_inside.states, 1);
	for (int i = 1; i < 4; i++) {
		CHECK_INT(free_inside.calls[i], 1);
		CHECK(strstr(free_inside.error[i], "database unavailable") != NULL);
	}
	loop_free(loop);
}

/* Sizes are checked part by part: a query whose SQL and parameters pass
 * DB_MAX_QUERY_BYTES only together is refused, answered once, later. */
static void
db_never_called(void *data, const struct db_reply *reply)
{
	(void)reply;
	(*(int *)data)++;
}

TEST(db_query_size_bound_checked_per_part)
{
	struct loop *loop = loop_new();
	struct db_config cfg = {.host = "127.0.0.1", .port = 1, .dbname = "x", .user = "x"};
	struct db *db = db_new(loop, &cfg);
	CHECK(db != NULL);
	size_t half = DB_MAX_QUERY_BYTES / 2;
	char *big = malloc(half + 1);
	memset(big, 'a', half);
	big[half] = '\0';
	const char *params[3] = {big, big, "x"};
	int calls = 0;
	struct db_refused r = {0};
	CHECK_INT(db_query(db, "SELECT $1, $2, $3", 3, params, 0, db_refused_fn, &r), 0);
	CHECK(strstr(db_error(db), "query too large") != NULL);
	CHECK_INT(r.calls, 0);
	/* one part alone fits */
	CHECK_INT(db_query(db, "SELECT $1", 1, params, 0, db_never_called, &calls), 0);
	free(big);
	db_free(db);
	CHECK_INT(calls, 1); /* the accepted one, with "database closed" */
	CHECK_INT(r.calls, 1);
	CHECK_INT(r.too_large, 1);
	loop_free(loop);
}
