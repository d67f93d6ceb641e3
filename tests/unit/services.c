/* services.c — see services.h. */
#include "services.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "migrate.h"
#include "test.h"

static int
services_skip(const char *test, const char *var)
{
	if (getenv("AGORA_TEST_REQUIRE_SERVICES")) {
		char msg[256];
		snprintf(msg, sizeof msg, "%s is not set but AGORA_TEST_REQUIRE_SERVICES is", var);
		test_check(0, msg, __FILE__, __LINE__);
		return -1;
	}
	printf("    SKIP %s: %s is not set (run under ./build.sh test, or export the lines "
	       "`tests/services.sh start` prints)\n",
	       test, var);
	return -1;
}

int
services_pg(const char *test, struct db_config *cfg)
{
	const char *vars[] = {"AGORA_TEST_PG_HOST", "AGORA_TEST_PG_PORT", "AGORA_TEST_PG_USER",
	                      "AGORA_TEST_PG_PASSWORD", "AGORA_TEST_PG_DB"};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		if (!getenv(vars[i]))
			return services_skip(test, vars[i]);
	memset(cfg, 0, sizeof *cfg);
	cfg->host = getenv("AGORA_TEST_PG_HOST");
	cfg->port = (uint16_t)strtol(getenv("AGORA_TEST_PG_PORT"), NULL, 10);
	cfg->user = getenv("AGORA_TEST_PG_USER");
	cfg->password = getenv("AGORA_TEST_PG_PASSWORD");
	cfg->dbname = getenv("AGORA_TEST_PG_DB");
	cfg->connect_timeout_ms = 5000;
	cfg->query_timeout_ms = 10000;
	cfg->backoff_initial_ms = 50;
	cfg->backoff_max_ms = 200;
	return 0;
}

int
services_redis(const char *test, const char **host, uint16_t *port)
{
	if (!getenv("AGORA_TEST_REDIS_HOST"))
		return services_skip(test, "AGORA_TEST_REDIS_HOST");
	if (!getenv("AGORA_TEST_REDIS_PORT"))
		return services_skip(test, "AGORA_TEST_REDIS_PORT");
	*host = getenv("AGORA_TEST_REDIS_HOST");
	*port = (uint16_t)strtol(getenv("AGORA_TEST_REDIS_PORT"), NULL, 10);
	return 0;
}

int
services_control(const char *args)
{
	const char *script = getenv("AGORA_TEST_SERVICES");
	if (!script)
		return -1;
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "'%s' %s >/dev/null", script, args);
	return system(cmd);
}

int64_t
services_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct services_waiter {
	const int *flag;
	int64_t deadline;
	struct loop_timer tick;
};

static void
services_tick(struct loop *loop, struct loop_timer *t)
{
	struct services_waiter *w = t->data;
	if (*w->flag || services_now_ms() >= w->deadline) {
		loop_stop(loop);
		return;
	}
	loop_timer_start(loop, t, 2);
}

int
services_wait(struct loop *loop, const int *flag, int timeout_ms)
{
	struct services_waiter w = {flag, services_now_ms() + timeout_ms, {0}};
	if (*flag)
		return *flag;
	loop_timer_init(&w.tick, services_tick, &w);
	loop_timer_start(loop, &w.tick, 0);
	loop_run(loop);
	loop_timer_stop(loop, &w.tick);
	return *flag;
}

void
services_reply_fn(void *data, const struct db_reply *reply)
{
	struct services_reply *out = data;
	out->done++;
	out->at_ms = services_now_ms();
	out->is_error = reply->error != NULL;
	snprintf(out->error, sizeof out->error, "%s", reply->error ? reply->error : "");
	snprintf(out->sqlstate, sizeof out->sqlstate, "%s", reply->sqlstate);
	if (reply->error)
		return;
	out->rows = db_rows(reply);
	out->cols = db_cols(reply);
	out->affected = db_affected(reply);
	for (int r = 0; r < out->rows && r < SERVICES_ROWS; r++)
		for (int c = 0; c < out->cols && c < SERVICES_COLS; c++) {
			const char *v = db_value(reply, r, c);
			out->null[r][c] = v == NULL;
			snprintf(out->value[r][c], sizeof out->value[r][c], "%s", v ? v : "");
		}
}

void
services_query(struct loop *loop, struct db *db, const char *sql, int nparams,
               const char *const *params, struct services_reply *out)
{
	memset(out, 0, sizeof *out);
	if (db_query(db, sql, nparams, params, 0, services_reply_fn, out) < 0) {
		out->is_error = 1;
		snprintf(out->error, sizeof out->error, "db_query: %s", db_error(db));
		return;
	}
	services_wait(loop, &out->done, 10000);
}

struct db *
services_db(struct loop *loop, const struct db_config *cfg)
{
	struct db *db = db_new(loop, cfg);
	if (!db)
		return NULL;
	int64_t end = services_now_ms() + 5000;
	while (!db_connected(db) && services_now_ms() < end) {
		int never = 0;
		services_wait(loop, &never, 5);
	}
	if (!db_connected(db)) {
		printf("    cannot connect to the test PostgreSQL: %s\n", db_error(db));
		db_free(db);
		return NULL;
	}
	return db;
}

static void
services_migrated(void *data, int applied, const char *error)
{
	(void)applied;
	*(int *)data = error ? -1 : 1;
}

struct db *
services_migrated_db(struct loop *loop, const char *test, const char *truncate)
{
	struct db_config cfg;
	if (services_pg(test, &cfg) < 0)
		return NULL;
	struct db *db = services_db(loop, &cfg);
	if (!CHECK(db != NULL))
		return NULL;
	int done = 0;
	CHECK_INT(
	        migrate_run(db, migrate_embedded, migrate_embedded_count, services_migrated, &done),
	        0);
	services_wait(loop, &done, 10000);
	if (!CHECK_INT(done, 1)) {
		db_free(db);
		return NULL;
	}
	if (truncate) {
		char sql[512];
		snprintf(sql, sizeof sql, "TRUNCATE %s RESTART IDENTITY", truncate);
		struct services_reply r;
		services_query(loop, db, sql, 0, NULL, &r);
		if (!CHECK_STR(r.error, "")) {
			db_free(db);
			return NULL;
		}
	}
	return db;
}
