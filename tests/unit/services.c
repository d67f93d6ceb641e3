/* services.c — see services.h. */
#include "services.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

struct cache *
services_cache(struct loop *loop, const char *test, size_t buffer_max)
{
	struct cache_config cfg;
	memset(&cfg, 0, sizeof cfg);
	if (services_redis(test, &cfg.host, &cfg.port) < 0)
		return NULL;
	cfg.backoff_initial_ms = 50;
	cfg.backoff_max_ms = 200;
	cfg.buffer_max = buffer_max;
	struct cache *c = cache_new(loop, &cfg);
	if (!CHECK(c != NULL))
		return NULL;
	int64_t end = services_now_ms() + 5000;
	while (!cache_connected(c) && services_now_ms() < end) {
		int never = 0;
		services_wait(loop, &never, 5);
	}
	CHECK(cache_connected(c));
	return c;
}

void
services_int_fn(void *data, const struct redisReply *reply, const char *error)
{
	struct services_int *r = data;
	r->done++;
	snprintf(r->error, sizeof r->error, "%s", error ? error : "");
	if (!reply)
		return;
	if (reply->type == REDIS_REPLY_INTEGER)
		r->value = reply->integer;
	else if (reply->type == REDIS_REPLY_STRING)
		r->value = strtoll(reply->str, NULL, 10);
	else if (reply->type == REDIS_REPLY_NIL)
		r->value = -1;
	else if (reply->type == REDIS_REPLY_ARRAY)
		r->value = (long long)reply->elements;
}

long long
services_cache_int(struct loop *loop, struct cache *c, int argc, const char **argv)
{
	struct services_int r;
	memset(&r, 0, sizeof r);
	CHECK_INT(cache_command(c, argc, argv, services_int_fn, &r), 0);
	services_wait(loop, &r.done, 5000);
	CHECK_INT(r.done, 1);
	CHECK_STR(r.error, "");
	return r.value;
}

int
services_peer_start(struct services_peer *p, const char *const *argv, char *line, size_t cap)
{
	memset(p, 0, sizeof *p);
	line[0] = 0;
	int in[2], out[2];
	if (pipe(in) < 0)
		return -1;
	if (pipe(out) < 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	/* pipe2 is not POSIX (glibc hides it without _GNU_SOURCE) */
	for (int i = 0; i < 2; i++) {
		fcntl(in[i], F_SETFD, FD_CLOEXEC);
		fcntl(out[i], F_SETFD, FD_CLOEXEC);
	}
	const char *args[16];
	size_t n = 0;
	args[n++] = "python3";
	for (size_t i = 0; argv[i] && n < sizeof args / sizeof args[0] - 1; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execv("/usr/bin/python3", (char *const *)args);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
		return -1;
	}
	p->pid = pid;
	p->stdin_fd = in[1];
	size_t len = 0;
	while (len < cap - 1) {
		ssize_t got = read(out[0], line + len, 1);
		if (got <= 0 || line[len] == '\n')
			break;
		len++;
	}
	line[len] = 0;
	close(out[0]);
	return 0;
}

void
services_peer_stop(struct services_peer *p)
{
	if (p->pid > 0) {
		close(p->stdin_fd);
		kill(p->pid, SIGTERM);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
}
