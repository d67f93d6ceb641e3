/* db — PostgreSQL through libpq in non-blocking mode, driven by the loop.
 *
 * What it does: keeps one connection to the server, connected by address
 * (the host name is resolved off the loop by net.h, then handed to libpq as
 * `hostaddr` with the name as `host`, so libpq never calls getaddrinfo on
 * the loop thread), and runs queued queries one at a time in FIFO order
 * over it: PQsendQueryParams (values are always bound parameters, never
 * pasted into SQL), PQflush until the request is out, then
 * PQconsumeInput / PQisBusy / PQgetResult as the socket becomes readable.
 * What it does not: pooling, pipelining, COPY, LISTEN/NOTIFY, TLS (libpq is
 * built without OpenSSL; the database lives on a private Docker network).
 *
 * Every accepted query's callback runs exactly once, always from the loop
 * (never from inside db_query): with the result, or with a one-line error:
 *   - "database unavailable: WHY"    issued while there is no connection and
 *                                    no attempt under way (fails at once)
 *   - "database connection lost: WHY" the connection broke while the query
 *                                    was sent or queued. It is NOT re-run:
 *                                    the server may have applied it.
 *   - "query timed out"              its timeout passed (queued or running)
 *   - "database closed"              db_free() ran first
 *   - the server's message           the query itself failed (sqlstate set)
 *
 * Reconnecting (backoff.h, shared with cache): when a connection that was
 * up for a while breaks, a new one is attempted at once; failed attempts
 * are retried after an exponential backoff with full jitter
 * (backoff_initial_ms doubling up to backoff_max_ms), failure lines
 * rate-limited.
 *
 * A query that times out while running: its callback fails at once, the
 * server is asked to cancel it from a short-lived detached thread (PQcancel
 * blocks: it opens its own connection), and our connection is dropped and
 * re-opened at once. Dropping rather than waiting for the cancel to land
 * means a late cancel can never hit the NEXT query on the same session (the
 * race PQcancel documents), and the queue does not wait on a server that
 * may be stuck; the cancel still stops the runaway query on the server
 * instead of letting it run to completion. Queries queued behind it were
 * never sent, so they simply wait for the new connection. */
#ifndef AGORA_DB_H
#define AGORA_DB_H

#include <stdint.h>

#include "loop.h"

struct db;
struct pg_result; /* libpq's PGresult */

/* Bound parameters per query: the widest query in store.c has 6. */
#define DB_MAX_PARAMS 16
/* Queries waiting at once: past this db_query refuses ("queue full")
 * instead of letting a stuck server grow memory without end. */
#define DB_MAX_QUEUE 1024
/* SQL text + parameters of one query: Discord texts are at most 4000
 * characters, so 1 MiB is generous; migrations are ours. */
#define DB_MAX_QUERY_BYTES (1024 * 1024)

/* What a callback receives. Borrowed: valid only during the callback. */
struct db_reply {
	const char *error;        /* NULL on success, else a one-line message */
	const char *sqlstate;     /* the server's SQLSTATE ("23505"), or "" */
	struct pg_result *result; /* NULL on error */
};

typedef void db_query_fn(void *data, const struct db_reply *reply);
/* Called with connected = 1 each time a connection is ready, 0 when one
 * breaks or an attempt fails (error says why). */
typedef void db_state_fn(void *data, int connected, const char *error);

struct db_config {
	const char *host; /* name or numeric address */
	uint16_t port;
	const char *dbname;
	const char *user;
	const char *password;   /* NULL: none (server trusts the user) */
	int connect_timeout_ms; /* resolve + connect + auth; 0 = 10000 */
	int query_timeout_ms;   /* default per query; 0 = 30000 */
	int backoff_initial_ms; /* first retry delay; 0 = 500 */
	int backoff_max_ms;     /* cap; 0 = 30000 */
	db_state_fn *on_state;  /* optional */
	void *state_data;
};

/* Copies config (strings included) and starts connecting. NULL when out of
 * memory or config lacks host/dbname/user. */
struct db *db_new(struct loop *loop, const struct db_config *config);
/* Closes the connection; every pending callback runs once, now, with
 * "database closed". Safe from inside any db callback (a query's or
 * on_state): the memory then goes in a deferred call, as ws_free does. */
void db_free(struct db *db);

/* 1 when a connection is up and ready for queries. */
int db_connected(const struct db *db);
/* Why the last connection attempt failed or broke ("" if none did). */
const char *db_error(const struct db *db);

/* Queues sql with nparams text parameters ($1..$n; a NULL entry is SQL
 * NULL); copies sql and params. timeout_ms 0 = the configured default; it
 * counts from now, waiting in the queue included. fn(data) follows exactly
 * once, later, from the loop (never inside the call): also when the call
 * is refused at once (bad arguments, a full queue, too large, no memory, a
 * db being freed), then with the reason as the reply's error (and in
 * db_error). Refusals not answered yet answer in db_free. Returns 0; -1
 * only without db or fn, or when not even the refusal could be kept (out
 * of memory): then fn never runs. */
int db_query(struct db *db, const char *sql, int nparams, const char *const *params, int timeout_ms,
             db_query_fn *fn, void *data);
/* Like db_query, but sends sql with PQsendQuery (the simple protocol, so
 * several ';'-separated statements run in one round trip) and no
 * parameters. ONLY for SQL text that is ours (migrations), never for text
 * built from outside values. The reply carries the last statement's
 * result, or the first error. */
int db_query_script(struct db *db, const char *sql, int timeout_ms, db_query_fn *fn, void *data);
/* SELECT 1 round trip for /status; the reply says whether it worked. */
int db_ping(struct db *db, int timeout_ms, db_query_fn *fn, void *data);

/* Result accessors (reply->result must be non-NULL). */
int db_rows(const struct db_reply *reply);
int db_cols(const struct db_reply *reply);
/* The text of a value; NULL for SQL NULL or out-of-range row/col. */
const char *db_value(const struct db_reply *reply, int row, int col);
/* Rows a command touched (INSERT/UPDATE/DELETE), from PQcmdTuples. */
long long db_affected(const struct db_reply *reply);

#endif
