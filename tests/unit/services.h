/* services.h — the real PostgreSQL and Redis of tests/services.sh, for the
 * db, store and cache tests.
 *
 * ./build.sh test starts both and exports AGORA_TEST_* (see
 * tests/services.sh); run by hand, the tests that need them print a SKIP
 * line and pass without checking anything, unless
 * AGORA_TEST_REQUIRE_SERVICES is set (services.sh sets it): then a missing
 * variable is a failure, so a broken setup cannot pass by skipping. */
#ifndef AGORA_TEST_SERVICES_H
#define AGORA_TEST_SERVICES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache.h"
#include "db.h"
#include "loop.h"

/* Fills cfg (strings point into the environment) with the test role and
 * database and short timeouts/backoff for fast tests. 0, or -1 after
 * printing "SKIP <test>: ..." when the environment lacks the service. */
int services_pg(const char *test, struct db_config *cfg);
/* Host and port of the test Redis; 0, or -1 after printing a SKIP line. */
int services_redis(const char *test, const char **host, uint16_t *port);
/* Runs `tests/services.sh ARGS` ("stop pg", "start redis"...); its exit
 * status (0 = done). */
int services_control(const char *args);
/* Runs the loop until *flag != 0 or timeout_ms passed; returns *flag. */
int services_wait(struct loop *loop, const int *flag, int timeout_ms);
/* Milliseconds on CLOCK_MONOTONIC, for timing checks. */
int64_t services_now_ms(void);

/* A db reply copied out of its callback, for checks after the loop ran. */
#define SERVICES_ROWS 8
#define SERVICES_COLS 8
struct services_reply {
	int done;     /* callbacks seen: every check wants exactly 1 */
	int is_error; /* reply->error was set */
	char error[512];
	char sqlstate[8];
	int rows, cols;
	long long affected;
	int64_t at_ms; /* when the callback ran */
	int null[SERVICES_ROWS][SERVICES_COLS];
	char value[SERVICES_ROWS][SERVICES_COLS][128];
};
/* db_query_fn that fills the services_reply passed as data. */
void services_reply_fn(void *data, const struct db_reply *reply);
/* Runs query through db and waits (10 s at most) for its reply in *out. */
void services_query(struct loop *loop, struct db *db, const char *sql, int nparams,
                    const char *const *params, struct services_reply *out);
/* A db connected with cfg: waits up to 5 s; NULL if it never connected. */
struct db *services_db(struct loop *loop, const struct db_config *cfg);
/* The database fixture of the store tests: the test database connected,
 * every embedded migration applied, and `truncate` (a comma-separated
 * table list, NULL: none) emptied with their ids restarted. NULL after a
 * SKIP line or a failed check. */
struct db *services_migrated_db(struct loop *loop, const char *test, const char *truncate);

/* The Redis fixture of the cache tests: a cache on the test Redis with a
 * short backoff and buffer_max (0: the default), connected (waits up to
 * 5 s). NULL after a SKIP line or a failed check. */
struct cache *services_cache(struct loop *loop, const char *test, size_t buffer_max);
/* One cache command's answer, copied out by services_int_fn (a
 * cache_reply_fn): its integer, a string's number, an array's length, or
 * -1 for nil; the error text, "" for none. */
struct services_int {
	int done; /* callbacks seen */
	long long value;
	char error[512];
};
struct redisReply;
void services_int_fn(void *data, const struct redisReply *reply, const char *error);
/* Runs one command through c and waits (5 s at most) for its one answer,
 * checked to be without error: its integer, a string's number, an array's
 * length, or -1 for nil. */
long long services_cache_int(struct loop *loop, struct cache *c, int argc, const char **argv);

/* A test peer: a python3 script (tests/peers/...) whose stdin is a pipe
 * (its EOF tells it to stop) and whose first stdout line says it is ready
 * ("READY <ports>"). */
struct services_peer {
	pid_t pid; /* 0: not running */
	int stdin_fd;
};
/* Starts /usr/bin/python3 with argv (NULL-terminated; argv[0] the script)
 * and reads its first line into line (cap bytes, without the newline).
 * 0, or -1 when it could not be started. The pipes are close-on-exec, so
 * no other child of the runner keeps the peer's stdin open. */
int services_peer_start(struct services_peer *p, const char *const *argv, char *line, size_t cap);
/* Closes its stdin, sends SIGTERM and reaps it (idempotent). */
void services_peer_stop(struct services_peer *p);
#endif
