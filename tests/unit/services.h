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

#include <stdint.h>

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
#endif
