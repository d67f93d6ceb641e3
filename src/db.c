/* db.c — see db.h. One connection, a FIFO of queries, one in flight.
 *
 * States: IDLE (no connection; a retry timer may be running), RESOLVING
 * (net.h looks the host up on its thread), CONNECTING (PQconnectPoll driven
 * by socket readiness), READY (connected; `current` is the query in
 * flight, if any). db_query never does I/O: it queues and starts a 0 ms "kick"
 * timer that runs after the caller's callback returns, so no callback ever runs
 * from inside db_query. */
#include "db.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "log.h"
#include "mem.h"
#include "net.h"

/* Longest message kept: libpq's are a line or two. */
#define DB_ERROR_MAX 320

enum db_state { DB_IDLE, DB_RESOLVING, DB_CONNECTING, DB_READY };

struct db_query {
	struct db_query *next;
	struct db *db;
	db_query_fn *fn;
	void *data;
	struct loop_timer timer; /* its timeout */
	int script;              /* PQsendQuery instead of PQsendQueryParams */
	int nparams;
	const char *params[DB_MAX_PARAMS];
	char *sql; /* points into text, which also holds the parameters */
	char text[];
};

/* A call refused at once (a full queue, too large, no memory for it, a
 * closed db): its callback still runs exactly once, from the loop. */
struct db_refusal {
	struct db_refusal *next;
	db_query_fn *fn;
	void *data;
	char error[DB_ERROR_MAX];
};

struct db {
	struct loop *loop;
	enum db_state state;
	int closing;               /* db_free ran: no new queries, nothing more runs */
	int callback_depth;        /* inside a callback of ours: db_free defers the free */
	struct loop_defer release; /* frees the memory after such a db_free */
	/* config (strings owned) */
	char *host, *dbname, *user, *password;
	uint16_t port;
	int connect_timeout_ms, query_timeout_ms;
	db_state_fn *on_state;
	void *state_data;

	struct net_resolve resolve;
	PGconn *conn;
	struct loop_watch watch;
	short want; /* what the watch waits for */
	struct loop_timer connect_timer;
	struct backoff retry;         /* when to connect again (backoff.h) */
	struct loop_timer kick;       /* 0 ms: runs the queue on the next iteration */
	int64_t login_cpu_ns;         /* libpq's CPU in this connect (SCRAM), for the log */
	char what[NET_HOST_MAX + 48]; /* "PostgreSQL at HOST:PORT", for logs */

	struct db_refusal *refused, *refused_tail; /* to answer, in order */
	struct loop_timer refusals;                /* 0 ms: answers them */
	struct db_query *head, *tail;              /* queued, not yet sent */
	size_t queued;
	struct db_query *current; /* sent, awaiting its results */
	PGresult *result;         /* the current query's result so far */
	int result_is_error;

	char error[DB_ERROR_MAX];
};

static void db_kick(struct loop *loop, struct loop_timer *t);
static void db_answer_refusals(struct db *db);
static void db_release(struct loop *loop, struct loop_defer *d);
static void db_start_connect(struct db *db);

/* ------------------------------------------------------------ helpers */

/* libpq messages end in '\n' and may span lines ("\n\tIs the server
 * running..."): collapse every whitespace run to one space. */
static void
db_set_error(char *out, size_t cap, const char *prefix, const char *msg)
{
	size_t n = 0;
	int space = 0;
	char text[DB_ERROR_MAX];
	snprintf(text, sizeof text, "%s%s", prefix, msg ? msg : "");
	for (const char *p = text; *p && n + 1 < cap; p++) {
		if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
			space = n > 0;
			continue;
		}
		if (space && n + 2 < cap)
			out[n++] = ' ';
		space = 0;
		out[n++] = *p;
	}
	out[n] = '\0';
}

static void
db_notice(void *arg, const char *message)
{
	(void)arg;
	char line[DB_ERROR_MAX];
	db_set_error(line, sizeof line, "", message);
	log_debug("db", "server notice: %s", line);
}

static void
db_watch_for(struct db *db, short events)
{
	int fd = db->conn ? PQsocket(db->conn) : -1;
	if (fd < 0) {
		loop_watch_stop(db->loop, &db->watch);
		return;
	}
	db->want = events;
	/* the socket may change between PQconnectPoll calls (libpq tries each
	 * address with a new socket): restart on the current one */
	if (db->watch.slot >= 0 && db->watch.fd != fd)
		loop_watch_stop(db->loop, &db->watch);
	if (loop_watch_start(db->loop, &db->watch, fd, events) < 0)
		log_error("db", "cannot watch the database socket: out of memory");
}

/* Runs q's callback once and frees it. */
static void
db_finish(struct db_query *q, const char *error, const char *sqlstate, PGresult *result)
{
	struct db *db = q->db;
	loop_timer_stop(db->loop, &q->timer);
	struct db_reply reply = {error, sqlstate ? sqlstate : "", error ? NULL : result};
	db->callback_depth++;
	q->fn(q->data, &reply);
	db->callback_depth--;
	mem_free(q);
}

/* Fails every query queued NOW; queries a callback queues meanwhile stay
 * for the next connection (or fail fast by the kick if there is none). */
static void
db_fail_queued(struct db *db, const char *error)
{
	struct db_query *q = db->head;
	db->head = db->tail = NULL;
	db->queued = 0;
	while (q) {
		struct db_query *next = q->next;
		db_finish(q, error, NULL, NULL);
		q = next;
	}
}

static void
db_clear_result(struct db *db)
{
	if (db->result)
		PQclear(db->result);
	db->result = NULL;
	db->result_is_error = 0;
}

static void
db_close_conn(struct db *db)
{
	loop_watch_stop(db->loop, &db->watch);
	loop_timer_stop(db->loop, &db->connect_timer);
	net_resolve_cancel(&db->resolve);
	db_clear_result(db);
	if (db->conn)
		PQfinish(db->conn);
	db->conn = NULL;
}

static void
db_notify_state(struct db *db, int connected)
{
	if (db->on_state && !db->closing) {
		db->callback_depth++;
		db->on_state(db->state_data, connected, connected ? NULL : db->error);
		db->callback_depth--;
	}
}

/* An attempt failed: everything waiting for it fails, retry later. */
static void
db_attempt_failed(struct db *db, const char *why)
{
	/* why may point into the connection: copy it before closing */
	db_set_error(db->error, sizeof db->error, "", why);
	db_close_conn(db);
	db->state = DB_IDLE;
	char what[sizeof db->what + 32];
	snprintf(what, sizeof what, "cannot connect to %s", db->what);
	backoff_failed(&db->retry, what, db->error);
	/* the callbacks come last: one may call db_free */
	char msg[DB_ERROR_MAX + 32];
	snprintf(msg, sizeof msg, "database unavailable: %s", db->error);
	db_fail_queued(db, msg);
	db_notify_state(db, 0);
}

/* A working connection broke: fail what was sent and what waited (none of
 * it is re-run: the server may have applied it), reconnect at once. */
static void
db_connection_lost(struct db *db, const char *why)
{
	char msg[DB_ERROR_MAX + 32];
	db_set_error(db->error, sizeof db->error, "", why);
	snprintf(msg, sizeof msg, "database connection lost: %s", db->error);
	struct db_query *current = db->current;
	db->current = NULL;
	db_close_conn(db);
	db->state = DB_IDLE;
	/* reconnects at once after a stable connection, else backs off */
	char what[sizeof db->what + 32];
	snprintf(what, sizeof what, "%s connection lost", db->what);
	backoff_lost(&db->retry, what, db->error);
	/* the FIFO order holds for the failures too: the one sent first */
	struct db_query *waiting = db->head;
	db->head = db->tail = NULL;
	db->queued = 0;
	if (current)
		db_finish(current, msg, NULL, NULL);
	while (waiting) {
		struct db_query *next = waiting->next;
		db_finish(waiting, msg, NULL, NULL);
		waiting = next;
	}
	db_notify_state(db, 0);
}

/* ------------------------------------------------------------ connect */

static void
db_connected_now(struct db *db)
{
	loop_timer_stop(db->loop, &db->connect_timer);
	if (PQsetnonblocking(db->conn, 1) != 0) {
		db_attempt_failed(db, PQerrorMessage(db->conn));
		return;
	}
	PQsetNoticeProcessor(db->conn, db_notice, db);
	db->state = DB_READY;
	db->error[0] = '\0';
	/* the server ran the whole startup exchange: a healthy connection */
	backoff_healthy(&db->retry, db->what);
	log_info("db", "connected to PostgreSQL at %s:%u (database %s; login %.2f ms CPU)",
	         db->host, db->port, db->dbname, (double)db->login_cpu_ns / 1e6);
	/* idle, we still read: the server may close or send a FATAL notice */
	db_watch_for(db, POLLIN);
	loop_timer_start(db->loop, &db->kick, 0);
	db_notify_state(db, 1);
}

static int64_t
db_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
db_connect_poll(struct db *db)
{
	int64_t t0 = db_cpu_ns();
	PostgresPollingStatusType st = PQconnectPoll(db->conn);
	db->login_cpu_ns += db_cpu_ns() - t0;
	switch (st) {
	case PGRES_POLLING_READING:
		db_watch_for(db, POLLIN);
		break;
	case PGRES_POLLING_WRITING:
		db_watch_for(db, POLLOUT);
		break;
	case PGRES_POLLING_OK:
		db_connected_now(db);
		break;
	default:
		db_attempt_failed(db, PQerrorMessage(db->conn));
		break;
	}
}

static void
db_resolved(struct net_resolve *r, const struct net_addr *addrs, size_t count, void *data)
{
	struct db *db = data;
	if (count == 0) {
		db_attempt_failed(db, net_resolve_error(r));
		return;
	}
	/* libpq takes lists: host[i] names hostaddr[i]; it tries each in turn
	 * (the name is kept for messages and .pgpass, never looked up) */
	char hostaddr[NET_MAX_ADDRS * (INET6_ADDRSTRLEN + 1)];
	char hosts[NET_MAX_ADDRS * (NET_HOST_MAX + 1)];
	char port[8];
	size_t ha = 0, hn = 0;
	hostaddr[0] = hosts[0] = '\0';
	for (size_t i = 0; i < count && i < NET_MAX_ADDRS; i++) {
		char ip[INET6_ADDRSTRLEN];
		const struct sockaddr *sa = (const struct sockaddr *)&addrs[i].addr;
		const void *bytes =
		        sa->sa_family == AF_INET6
		                ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
		                : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
		if (!inet_ntop(sa->sa_family, bytes, ip, sizeof ip))
			continue;
		ha += (size_t)snprintf(hostaddr + ha, sizeof hostaddr - ha, "%s%s", ha ? "," : "",
		                       ip);
		hn += (size_t)snprintf(hosts + hn, sizeof hosts - hn, "%s%s", hn ? "," : "",
		                       db->host);
	}
	snprintf(port, sizeof port, "%u", db->port);
	/* sslmode=disable: libpq is built without TLS; the database is on a
	 * private network. No password: the key is left out, so libpq may
	 * still use a .pgpass file. */
	const char *keys[10], *values[10];
	int n = 0;
	keys[n] = "host", values[n++] = hosts;
	keys[n] = "hostaddr", values[n++] = hostaddr;
	keys[n] = "port", values[n++] = port;
	keys[n] = "dbname", values[n++] = db->dbname;
	keys[n] = "user", values[n++] = db->user;
	if (db->password)
		keys[n] = "password", values[n++] = db->password;
	keys[n] = "client_encoding", values[n++] = "UTF8";
	keys[n] = "application_name", values[n++] = "agora";
	keys[n] = "sslmode", values[n++] = "disable";
	keys[n] = NULL, values[n] = NULL;
	int64_t t0 = db_cpu_ns();
	db->conn = PQconnectStartParams(keys, values, 0);
	db->login_cpu_ns = db_cpu_ns() - t0;
	if (!db->conn) {
		db_attempt_failed(db, "out of memory");
		return;
	}
	if (PQstatus(db->conn) == CONNECTION_BAD) {
		db_attempt_failed(db, PQerrorMessage(db->conn));
		return;
	}
	db->state = DB_CONNECTING;
	/* libpq's docs: after PQconnectStart, behave as if PQconnectPoll had
	 * returned PGRES_POLLING_WRITING */
	db_watch_for(db, POLLOUT);
}

static void
db_start_connect(struct db *db)
{
	db->state = DB_RESOLVING;
	loop_timer_start(db->loop, &db->connect_timer, db->connect_timeout_ms);
	if (net_resolve_start(db->loop, &db->resolve, db->host, db->port, db_resolved, db) < 0)
		db_attempt_failed(db, net_resolve_error(&db->resolve));
}

static void
db_connect_timeout(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct db *db = t->data;
	if (db->state == DB_RESOLVING || db->state == DB_CONNECTING)
		db_attempt_failed(db, "connection attempt timed out");
}

static void
db_retry(void *data)
{
	struct db *db = data;
	if (db->state == DB_IDLE && !db->closing)
		db_start_connect(db);
}

/* ------------------------------------------------------------ queries */

/* Sends the next queued query if the connection is free. */
static void
db_send_next(struct db *db)
{
	if (db->state != DB_READY || db->current || !db->head)
		return;
	struct db_query *q = db->head;
	db->head = q->next;
	if (!db->head)
		db->tail = NULL;
	db->queued--;
	q->next = NULL;
	db->current = q;
	int ok = q->script ? PQsendQuery(db->conn, q->sql)
	                   : PQsendQueryParams(db->conn, q->sql, q->nparams, NULL, q->params, NULL,
	                                       NULL, 0);
	if (!ok) {
		db_connection_lost(db, PQerrorMessage(db->conn));
		return;
	}
	int flushed = PQflush(db->conn);
	if (flushed < 0) {
		db_connection_lost(db, PQerrorMessage(db->conn));
		return;
	}
	db_watch_for(db, flushed ? POLLIN | POLLOUT : POLLIN);
}

static void
db_kick(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct db *db = t->data;
	if (db->state == DB_IDLE && db->head) {
		char msg[DB_ERROR_MAX + 32];
		snprintf(msg, sizeof msg, "database unavailable: %s",
		         db->error[0] ? db->error : "not connected");
		db_fail_queued(db, msg);
		return;
	}
	db_send_next(db);
}

/* Collects results while libpq has them; completes the current query when
 * PQgetResult says there are no more. */
static void
db_collect(struct db *db)
{
	while (db->current && !PQisBusy(db->conn)) {
		PGresult *res = PQgetResult(db->conn);
		if (!res) {
			struct db_query *q = db->current;
			db->current = NULL;
			PGresult *result = db->result;
			int failed = db->result_is_error;
			db->result = NULL;
			db->result_is_error = 0;
			if (!result) {
				db_finish(q, "no result from the server", NULL, NULL);
			} else if (failed) {
				char msg[DB_ERROR_MAX];
				char state[8];
				const char *s = PQresultErrorField(result, PG_DIAG_SQLSTATE);
				snprintf(state, sizeof state, "%s", s ? s : "");
				db_set_error(msg, sizeof msg, "", PQresultErrorMessage(result));
				db_finish(q, msg, state, NULL);
			} else {
				db_finish(q, NULL, NULL, result);
			}
			PQclear(result);
			/* the callback may have called db_free: the memory is
			 * still ours (freed by a deferred call), nothing more
			 * may run */
			if (!db->closing)
				db_send_next(db);
			return;
		}
		ExecStatusType st = PQresultStatus(res);
		int is_error =
		        st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY;
		if (db->result_is_error) {
			PQclear(res); /* keep the first error */
		} else {
			db_clear_result(db);
			db->result = res;
			db->result_is_error = is_error;
		}
	}
}

static void
db_io(struct loop *loop, struct loop_watch *w, short revents)
{
	(void)loop;
	struct db *db = w->data;
	if (db->state == DB_CONNECTING) {
		db_connect_poll(db);
		return;
	}
	if (db->state != DB_READY)
		return;
	if (revents & POLLOUT) {
		int flushed = PQflush(db->conn);
		if (flushed < 0) {
			db_connection_lost(db, PQerrorMessage(db->conn));
			return;
		}
		db_watch_for(db, flushed ? POLLIN | POLLOUT : POLLIN);
	}
	if (revents & (POLLIN | POLLERR | POLLHUP)) {
		if (!PQconsumeInput(db->conn) || PQstatus(db->conn) == CONNECTION_BAD) {
			db_connection_lost(db, PQerrorMessage(db->conn));
			return;
		}
		db_collect(db);
	}
}

/* libpq's PQcancel blocks (it connects to the server and waits for it to
 * hang up), so it runs on its own detached thread, which owns `cancel`. */
static void *
db_cancel_thread(void *arg)
{
	PGcancel *cancel = arg;
	char err[256];
	if (!PQcancel(cancel, err, sizeof err))
		log_debug("db", "cancel request failed: %s", err);
	PQfreeCancel(cancel);
	return NULL;
}

static void
db_query_timeout(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct db_query *q = t->data;
	struct db *db = q->db;
	if (q != db->current) {
		/* still queued: unlink and fail; nothing was sent */
		struct db_query **p = &db->head;
		while (*p && *p != q)
			p = &(*p)->next;
		if (!*p)
			return;
		*p = q->next;
		if (db->tail == q) {
			db->tail = NULL;
			for (struct db_query *i = db->head; i; i = i->next)
				db->tail = i;
		}
		db->queued--;
		db_finish(q, "query timed out", NULL, NULL);
		return;
	}
	/* running: see db.h for why we cancel AND drop the connection */
	PGcancel *cancel = PQgetCancel(db->conn);
	if (cancel) {
		pthread_t tid;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&tid, &attr, db_cancel_thread, cancel) != 0)
			PQfreeCancel(cancel);
		pthread_attr_destroy(&attr);
	}
	log_warn("db", "query timed out; cancelling it and reconnecting");
	db->current = NULL;
	db_close_conn(db);
	db->state = DB_IDLE;
	/* the queued queries were never sent: they wait for the new session,
	 * which starts before the callback (it may call db_free) */
	db_start_connect(db);
	db_finish(q, "query timed out", NULL, NULL);
}

static void
db_on_refusals(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	db_answer_refusals(t->data);
}

/* Answers the refusals recorded now; those a callback adds wait for the
 * next turn (or for db_free). */
static void
db_answer_refusals(struct db *db)
{
	struct db_refusal *r = db->refused;
	db->refused = db->refused_tail = NULL;
	while (r) {
		struct db_refusal *next = r->next;
		struct db_reply reply = {r->error, "", NULL};
		db->callback_depth++;
		r->fn(r->data, &reply); /* may call db_free: its memory then waits */
		db->callback_depth--;
		mem_free(r);
		r = next;
	}
}

/* A call that cannot be queued: why goes to db_error and, later, to fn.
 * 0, or -1 when not even the refusal could be kept (no memory): then fn
 * never runs, as db.h says. */
static int
db_refuse(struct db *db, db_query_fn *fn, void *data, const char *why)
{
	snprintf(db->error, sizeof db->error, "%s", why);
	struct db_refusal *r = mem_alloc(sizeof *r);
	if (!r)
		return -1;
	r->next = NULL;
	r->fn = fn;
	r->data = data;
	snprintf(r->error, sizeof r->error, "%s", why);
	if (db->refused_tail)
		db->refused_tail->next = r;
	else
		db->refused = r;
	db->refused_tail = r;
	loop_timer_start(db->loop, &db->refusals, 0);
	return 0;
}

static int
db_enqueue(struct db *db, int script, const char *sql, int nparams, const char *const *params,
           int timeout_ms, db_query_fn *fn, void *data)
{
	if (!db || !fn)
		return -1;
	if (!sql || nparams < 0 || nparams > DB_MAX_PARAMS || (nparams > 0 && !params))
		return db_refuse(db, fn, data, "invalid query arguments");
	if (db->closing)
		return db_refuse(db, fn, data, "database closed");
	if (db->queued >= DB_MAX_QUEUE) {
		char why[64];
		snprintf(why, sizeof why, "database queue full (%d queries)", DB_MAX_QUEUE);
		return db_refuse(db, fn, data, why);
	}
	/* each part is checked against the bound before it is added, so the
	 * sum (and sizeof *q + size below) cannot wrap */
	size_t size = strlen(sql);
	size = size < DB_MAX_QUERY_BYTES ? size + 1 : DB_MAX_QUERY_BYTES + 1;
	for (int i = 0; i < nparams && size <= DB_MAX_QUERY_BYTES; i++) {
		if (!params[i])
			continue;
		size_t len = strlen(params[i]);
		size = len < DB_MAX_QUERY_BYTES - size ? size + len + 1 : DB_MAX_QUERY_BYTES + 1;
	}
	if (size > DB_MAX_QUERY_BYTES) {
		char why[64];
		snprintf(why, sizeof why, "query too large (over %d bytes)", DB_MAX_QUERY_BYTES);
		return db_refuse(db, fn, data, why);
	}
	struct db_query *q = mem_alloc(sizeof *q + size);
	if (!q)
		return db_refuse(db, fn, data, "out of memory");
	memset(q, 0, sizeof *q);
	q->db = db;
	q->fn = fn;
	q->data = data;
	q->script = script;
	q->nparams = nparams;
	char *p = q->text;
	size_t len = strlen(sql) + 1;
	memcpy(p, sql, len);
	q->sql = p;
	p += len;
	for (int i = 0; i < nparams; i++) {
		if (!params[i])
			continue;
		len = strlen(params[i]) + 1;
		memcpy(p, params[i], len);
		q->params[i] = p;
		p += len;
	}
	loop_timer_init(&q->timer, db_query_timeout, q);
	/* cannot fail: timers never allocate (loop.h) */
	loop_timer_start(db->loop, &q->timer, timeout_ms > 0 ? timeout_ms : db->query_timeout_ms);
	if (db->tail)
		db->tail->next = q;
	else
		db->head = q;
	db->tail = q;
	db->queued++;
	loop_timer_start(db->loop, &db->kick, 0);
	return 0;
}

int
db_query(struct db *db, const char *sql, int nparams, const char *const *params, int timeout_ms,
         db_query_fn *fn, void *data)
{
	return db_enqueue(db, 0, sql, nparams, params, timeout_ms, fn, data);
}

int
db_query_script(struct db *db, const char *sql, int timeout_ms, db_query_fn *fn, void *data)
{
	return db_enqueue(db, 1, sql, 0, NULL, timeout_ms, fn, data);
}

int
db_ping(struct db *db, int timeout_ms, db_query_fn *fn, void *data)
{
	return db_enqueue(db, 0, "SELECT 1", 0, NULL, timeout_ms, fn, data);
}

/* ------------------------------------------------------------ results */

int
db_rows(const struct db_reply *reply)
{
	return reply->result ? PQntuples(reply->result) : 0;
}

int
db_cols(const struct db_reply *reply)
{
	return reply->result ? PQnfields(reply->result) : 0;
}

const char *
db_value(const struct db_reply *reply, int row, int col)
{
	if (!reply->result || row < 0 || col < 0 || row >= PQntuples(reply->result) ||
	    col >= PQnfields(reply->result) || PQgetisnull(reply->result, row, col))
		return NULL;
	return PQgetvalue(reply->result, row, col);
}

long long
db_affected(const struct db_reply *reply)
{
	if (!reply->result)
		return 0;
	const char *n = PQcmdTuples(reply->result);
	return n && *n ? strtoll(n, NULL, 10) : 0;
}

/* ------------------------------------------------------------ life */

struct db *
db_new(struct loop *loop, const struct db_config *config)
{
	if (!loop || !config || !config->host || !config->dbname || !config->user)
		return NULL;
	struct db *db = mem_calloc(1, sizeof *db);
	if (!db)
		return NULL;
	db->loop = loop;
	db->host = mem_strdup(config->host);
	db->dbname = mem_strdup(config->dbname);
	db->user = mem_strdup(config->user);
	db->password = config->password ? mem_strdup(config->password) : NULL;
	if (!db->host || !db->dbname || !db->user || (config->password && !db->password)) {
		mem_free(db->host);
		mem_free(db->dbname);
		mem_free(db->user);
		mem_free(db->password);
		mem_free(db);
		return NULL;
	}
	db->port = config->port ? config->port : 5432;
	db->connect_timeout_ms =
	        config->connect_timeout_ms > 0 ? config->connect_timeout_ms : 10000;
	db->query_timeout_ms = config->query_timeout_ms > 0 ? config->query_timeout_ms : 30000;
	db->on_state = config->on_state;
	db->state_data = config->state_data;
	snprintf(db->what, sizeof db->what, "PostgreSQL at %.*s:%u", NET_HOST_MAX, db->host,
	         db->port);
	backoff_init(&db->retry, loop, "db",
	             config->backoff_initial_ms > 0 ? (unsigned)config->backoff_initial_ms : 0,
	             config->backoff_max_ms > 0 ? (unsigned)config->backoff_max_ms : 0, db_retry,
	             db);
	net_resolve_init(&db->resolve);
	loop_watch_init(&db->watch, db_io, db);
	loop_timer_init(&db->connect_timer, db_connect_timeout, db);
	loop_timer_init(&db->kick, db_kick, db);
	loop_timer_init(&db->refusals, db_on_refusals, db);
	loop_defer_init(&db->release, db_release, db);
	db->state = DB_IDLE;
	db_start_connect(db);
	return db;
}

/* The memory itself: at once, or deferred when db_free ran inside one of
 * our callbacks (the frames below it still hold db). */
static void
db_release(struct loop *loop, struct loop_defer *d)
{
	(void)loop;
	struct db *db = d->data;
	/* refusals a caller made after db_free, from a callback further up
	 * the stack, are answered before the memory goes */
	loop_timer_stop(db->loop, &db->refusals);
	while (db->refused)
		db_answer_refusals(db);
	mem_free(db->host);
	mem_free(db->dbname);
	mem_free(db->user);
	if (db->password) {
		/* the password does not outlive its use in memory dumps */
		volatile char *p = db->password;
		while (*p)
			*p++ = '\0';
		mem_free(db->password);
	}
	mem_free(db);
}

void
db_free(struct db *db)
{
	if (!db || db->closing)
		return;
	db->closing = 1;
	backoff_stop(&db->retry);
	loop_timer_stop(db->loop, &db->kick);
	/* no more state callbacks: the owner is tearing down */
	db->on_state = NULL;
	struct db_query *current = db->current;
	db->current = NULL;
	db_close_conn(db);
	db->state = DB_IDLE;
	if (current)
		db_finish(current, "database closed", NULL, NULL);
	db_fail_queued(db, "database closed");
	/* refused calls not answered yet, and those the callbacks above made
	 * ("database closed"), each answer once, now */
	loop_timer_stop(db->loop, &db->refusals);
	while (db->refused)
		db_answer_refusals(db);
	/* as ws does: never free ourselves under our own callback */
	if (db->callback_depth > 0)
		loop_defer(db->loop, &db->release);
	else
		db_release(db->loop, &db->release);
}

int
db_connected(const struct db *db)
{
	return db && db->state == DB_READY;
}

const char *
db_error(const struct db *db)
{
	return db ? db->error : "no database";
}
