/* cache.c — see cache.h.
 *
 * hiredis owns the socket and the protocol; we own when it runs. The
 * adapter (cache_ev_*) maps hiredis's addRead/delRead/addWrite/delWrite to
 * one loop watcher, and its cleanup hook is where we learn that a context
 * is gone (hiredis frees a context by itself on any connection error, after
 * running every pending callback with a NULL reply), so cleanup is the one
 * place that schedules the reconnect.
 *
 * The write FIFO is a ring of records: [head, head+sent) are in flight (a
 * MULTI..EXEC each, acknowledged in order, since Redis replies in order),
 * [head+sent, head+count) wait. An EXEC reply pops the head; a lost
 * connection only resets `sent` to 0, so the same records go out again. */
#include "cache.h"

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "buf.h"
#include "log.h"
#include "mem.h"
#include "net.h"

#define CACHE_ERROR_MAX 256
/* "channel_activity:" + 20 digits */
#define CACHE_KEY_MAX 48

/* HANDSHAKE: TCP is up and our PING is out. Only its PONG makes the
 * connection READY (and healthy for the backoff): a server that accepts
 * and closes at once, or answers "max number of clients reached", never
 * reaches READY, so it is retried with backoff instead of at once. */
enum cache_state { CACHE_IDLE, CACHE_RESOLVING, CACHE_CONNECTING, CACHE_HANDSHAKE, CACHE_READY };

struct cache_record {
	uint64_t channel_id, message_id;
	int64_t unix_time;
};

enum cache_req_kind { CACHE_REQ_STATS, CACHE_REQ_DONE, CACHE_REQ_REPLY, CACHE_REQ_PIPELINE };

/* One read/ping/command request; privdata of its hiredis callbacks. */
struct cache_req {
	struct cache_req *next; /* in the fail list */
	struct cache *c;
	enum cache_req_kind kind;
	int pending; /* replies still expected */
	int replies; /* replies seen */
	cache_stats_fn *stats_fn;
	cache_done_fn *done_fn;
	cache_reply_fn *reply_fn;
	cache_each_fn *each_fn;              /* CACHE_REQ_PIPELINE */
	cache_pipeline_done_fn *pipeline_fn; /* CACHE_REQ_PIPELINE */
	void *data;
	struct cache_channel_stats stats;
	long long value;
	char error[CACHE_ERROR_MAX + 64]; /* a prefix + the cache's error */
};

struct cache {
	struct loop *loop;
	char *host;
	uint16_t port;
	int connect_timeout_ms, command_timeout_ms;
	cache_state_fn *on_state;
	void *state_data;

	enum cache_state state;
	int closing;
	int callback_depth;        /* inside a callback of ours: cache_free defers */
	struct loop_defer release; /* frees the memory after such a cache_free */
	struct net_resolve resolve;
	redisAsyncContext *ac;
	struct loop_watch watch;
	int reading, writing; /* what hiredis asked for */
	struct loop_timer connect_timer, kick, watchdog;
	struct backoff retry; /* when to connect again (backoff.h) */
	unsigned addr_turn;   /* which resolved address to try: advances per failure */
	unsigned long connect_attempts;
	char what[NET_HOST_MAX + 48]; /* "Redis at HOST:PORT", for logs */

	/* the write FIFO; `sent` records are in the batches in flight */
	struct cache_record *ring;
	size_t cap, head, count, sent;
	size_t batch_sizes[CACHE_MAX_BATCHES]; /* records per batch in flight */
	size_t batch_first, batches_in_flight;
	struct buf batch; /* the command being built, reused */
	uint64_t lost, lost_at_outage_start;
	uint64_t counted, duplicates; /* what Redis said of the records */
	int loss_logged;
	struct log_limit refused_log;
	/* back-pressure */
	cache_pressure_fn *on_pressure;
	void *pressure_data;
	int paused;
	unsigned long pauses;

	/* replies owed by the server, and when it last made progress */
	size_t outstanding;
	int64_t progress_ms;

	struct cache_req *fail_head, *fail_tail; /* failed before being sent */
	char error[CACHE_ERROR_MAX];
	char drop_reason[CACHE_ERROR_MAX]; /* why WE dropped the connection */
};

static void cache_start_connect(struct cache *c);
static void cache_pump(struct cache *c);
static void cache_pressure(struct cache *c);
static void cache_release(struct loop *loop, struct loop_defer *d);
static void cache_owe_reply(struct cache *c);
static int cache_watchdog_period(const struct cache *c);

/* ------------------------------------------------------------ adapter */

static void
cache_ev_update(struct cache *c)
{
	short events = (short)((c->reading ? POLLIN : 0) | (c->writing ? POLLOUT : 0));
	if (!c->ac || !events || c->ac->c.fd < 0) {
		loop_watch_stop(c->loop, &c->watch);
		return;
	}
	if (loop_watch_start(c->loop, &c->watch, c->ac->c.fd, events) < 0)
		log_error("cache", "cannot watch the Redis socket: out of memory");
}

static void
cache_ev_add_read(void *privdata)
{
	struct cache *c = privdata;
	c->reading = 1;
	cache_ev_update(c);
}

static void
cache_ev_del_read(void *privdata)
{
	struct cache *c = privdata;
	c->reading = 0;
	cache_ev_update(c);
}

static void
cache_ev_add_write(void *privdata)
{
	struct cache *c = privdata;
	c->writing = 1;
	cache_ev_update(c);
}

static void
cache_ev_del_write(void *privdata)
{
	struct cache *c = privdata;
	c->writing = 0;
	cache_ev_update(c);
}

static void
cache_notify(struct cache *c, int connected)
{
	if (c->on_state && !c->closing) {
		c->callback_depth++;
		c->on_state(c->state_data, connected, connected ? NULL : c->error);
		c->callback_depth--;
	}
}

/* hiredis is freeing the context: every pending callback has run. */
static void
cache_ev_cleanup(void *privdata)
{
	struct cache *c = privdata;
	redisAsyncContext *ac = c->ac;
	c->reading = c->writing = 0;
	loop_watch_stop(c->loop, &c->watch);
	loop_timer_stop(c->loop, &c->connect_timer);
	loop_timer_stop(c->loop, &c->watchdog);
	c->ac = NULL;
	/* unacknowledged records go out again on reconnect: ZADD NX makes
	 * the ones Redis had applied count once */
	c->sent = 0;
	c->batches_in_flight = 0;
	c->batch_first = 0;
	c->outstanding = 0;
	if (c->closing)
		return;
	int was_ready = c->state == CACHE_READY;
	if (c->drop_reason[0])
		snprintf(c->error, sizeof c->error, "%s", c->drop_reason);
	else if (ac && ac->err && ac->errstr)
		snprintf(c->error, sizeof c->error, "%s", ac->errstr);
	else
		snprintf(c->error, sizeof c->error, "connection closed");
	c->drop_reason[0] = '\0';
	c->state = CACHE_IDLE;
	char what[sizeof c->what + 48];
	if (was_ready) {
		c->lost_at_outage_start = c->lost;
		char why[CACHE_ERROR_MAX + 64];
		snprintf(why, sizeof why, "%s (%zu records kept for replay)", c->error, c->count);
		snprintf(what, sizeof what, "%s: connection lost", c->what);
		backoff_lost(&c->retry, what, why);
	} else {
		c->addr_turn++; /* a name with several addresses: try the next */
		snprintf(what, sizeof what, "cannot connect to %s", c->what);
		backoff_failed(&c->retry, what, c->error);
	}
	cache_pressure(c); /* an outage: read again, the bound applies */
	cache_notify(c, 0);
}

static void
cache_io(struct loop *loop, struct loop_watch *w, short revents)
{
	(void)loop;
	struct cache *c = w->data;
	/* either call may free the context (cleanup clears c->ac) */
	if (c->ac && c->reading && (revents & (POLLIN | POLLERR | POLLHUP)))
		redisAsyncHandleRead(c->ac);
	if (c->ac && c->writing && (revents & (POLLOUT | POLLERR | POLLHUP)))
		redisAsyncHandleWrite(c->ac);
}

/* ------------------------------------------------------------ connect */

/* The answer to the handshake PING: READY, or a failed attempt. */
static void
cache_on_pong(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cache *c = privdata;
	redisReply *reply = r;
	if (c->outstanding)
		c->outstanding--;
	if (!reply || c->closing || c->state != CACHE_HANDSHAKE)
		return; /* the connection is gone: cleanup counts the failure */
	if (reply->type == REDIS_REPLY_ERROR) {
		/* "max number of clients reached", LOADING, NOAUTH...: the
		 * server is there but will not serve; hiredis allows a free
		 * from inside a reply callback (it finishes it on return) */
		snprintf(c->drop_reason, sizeof c->drop_reason, "%s",
		         reply->str ? reply->str : "error reply to PING");
		redisAsyncFree(ac);
		return;
	}
	loop_timer_stop(c->loop, &c->connect_timer);
	c->state = CACHE_READY;
	c->error[0] = '\0';
	backoff_healthy(&c->retry, c->what);
	log_info("cache", "connected to %s", c->what);
	if (c->count)
		log_info("cache", "replaying %zu buffered message records", c->count);
	if (c->lost > c->lost_at_outage_start)
		log_warn("cache",
		         "%llu message records were dropped while Redis was unavailable "
		         "(buffer full)",
		         (unsigned long long)(c->lost - c->lost_at_outage_start));
	c->lost_at_outage_start = c->lost;
	c->loss_logged = 0;
	c->progress_ms = loop_now(c->loop);
	loop_timer_start(c->loop, &c->watchdog, cache_watchdog_period(c));
	cache_notify(c, 1);
	cache_pump(c);
	cache_pressure(c);
}

static void
cache_on_connect(const redisAsyncContext *ac, int status)
{
	struct cache *c = ac->data;
	if (status != REDIS_OK)
		return; /* hiredis frees the context next; cleanup retries */
	/* TCP is up; the server has not said a word yet. The connect timer
	 * keeps running: it bounds the PING as well. */
	c->state = CACHE_HANDSHAKE;
	const char *ping[] = {"PING"};
	if (redisAsyncCommandArgv(c->ac, cache_on_pong, c, 1, ping, NULL) == REDIS_OK)
		cache_owe_reply(c);
}

/* An attempt failed before hiredis had a context with our hooks. */
static void
cache_attempt_failed(struct cache *c, const char *why)
{
	snprintf(c->drop_reason, sizeof c->drop_reason, "%s", why);
	c->state = CACHE_CONNECTING; /* so cleanup counts it as a failed attempt */
	cache_ev_cleanup(c);
}

static void
cache_resolved(struct net_resolve *r, const struct net_addr *addrs, size_t count, void *data)
{
	struct cache *c = data;
	if (count == 0) {
		cache_attempt_failed(c, net_resolve_error(r));
		return;
	}
	/* hiredis takes one address; failed attempts walk through the rest */
	char ip[INET6_ADDRSTRLEN];
	const struct sockaddr *sa = (const struct sockaddr *)&addrs[c->addr_turn % count].addr;
	const void *bytes = sa->sa_family == AF_INET6
	                            ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
	                            : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
	if (!inet_ntop(sa->sa_family, bytes, ip, sizeof ip)) {
		cache_attempt_failed(c, "cannot format the address");
		return;
	}
	/* numeric address: hiredis's getaddrinfo does no lookup */
	redisAsyncContext *ac = redisAsyncConnect(ip, c->port);
	if (!ac) {
		cache_attempt_failed(c, "out of memory");
		return;
	}
	if (ac->err) {
		char why[CACHE_ERROR_MAX];
		snprintf(why, sizeof why, "%s", ac->errstr ? ac->errstr : "connect failed");
		redisAsyncFree(ac); /* no hooks attached yet: no cleanup call */
		cache_attempt_failed(c, why);
		return;
	}
	ac->data = c;
	ac->ev.data = c;
	ac->ev.addRead = cache_ev_add_read;
	ac->ev.delRead = cache_ev_del_read;
	ac->ev.addWrite = cache_ev_add_write;
	ac->ev.delWrite = cache_ev_del_write;
	ac->ev.cleanup = cache_ev_cleanup;
	c->ac = ac;
	c->state = CACHE_CONNECTING;
	/* the connect callback fires on the first writable event; setting it
	 * asks for that event (hiredis calls addWrite) */
	redisAsyncSetConnectCallback(ac, cache_on_connect);
}

static void
cache_start_connect(struct cache *c)
{
	c->connect_attempts++;
	c->state = CACHE_RESOLVING;
	loop_timer_start(c->loop, &c->connect_timer, c->connect_timeout_ms);
	if (net_resolve_start(c->loop, &c->resolve, c->host, c->port, cache_resolved, c) < 0)
		cache_attempt_failed(c, net_resolve_error(&c->resolve));
}

static void
cache_retry(void *data)
{
	struct cache *c = data;
	if (c->state == CACHE_IDLE && !c->closing)
		cache_start_connect(c);
}

/* Drops the connection from a timer (never from a hiredis callback). */
static void
cache_drop(struct cache *c, const char *why)
{
	if (c->ac) {
		snprintf(c->drop_reason, sizeof c->drop_reason, "%s", why);
		redisAsyncFree(c->ac); /* runs the callbacks, then cleanup */
	} else if (c->state == CACHE_RESOLVING) {
		net_resolve_cancel(&c->resolve);
		cache_attempt_failed(c, why);
	}
}

static void
cache_connect_timeout(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct cache *c = t->data;
	if (c->state == CACHE_RESOLVING || c->state == CACHE_CONNECTING ||
	    c->state == CACHE_HANDSHAKE)
		cache_drop(c, "connection attempt timed out");
}

/* a third of the timeout, so a silent server is noticed within 4/3 of it,
 * but at most once a second (and at least every 50 ms) */
static int
cache_watchdog_period(const struct cache *c)
{
	int period = c->command_timeout_ms / 3;
	return period < 50 ? 50 : period > 1000 ? 1000 : period;
}

static void
cache_watchdog(struct loop *loop, struct loop_timer *t)
{
	struct cache *c = t->data;
	if (c->state != CACHE_READY)
		return;
	if (c->outstanding > 0 && loop_now(loop) - c->progress_ms > c->command_timeout_ms) {
		char why[96];
		snprintf(why, sizeof why, "no reply from Redis for %d ms", c->command_timeout_ms);
		cache_drop(c, why);
		return;
	}
	loop_timer_start(loop, t, cache_watchdog_period(c));
}

/* ------------------------------------------------------------ writes */

static void
cache_owe_reply(struct cache *c)
{
	if (c->outstanding++ == 0)
		c->progress_ms = loop_now(c->loop);
}

/* The one script. Records come grouped by channel (a run of consecutive
 * records of one channel is one group): per group, one
 * `ZADD NX channel_activity:{id} ts1 id1 ts2 id2 ...` adds the message ids
 * Redis does not have yet and says how many it added; only those are
 * counted (HINCRBY by that number), so a record Redis already has (a batch
 * resent after its reply was lost with the connection, a RESUME replaying
 * old messages) changes nothing. last_message_timestamp only moves
 * forward, so a replay cannot move it back.
 * KEYS: per group, the stats hash then the activity set. ARGV: per group,
 * the record count n, then n (Unix time, message id) pairs. redis.pcall: a
 * key of the wrong type fails its group only. Returns {counted, already
 * counted, failed}. */
static const char cache_count_script[] =
        "local counted, seen, failed = 0, 0, 0\n"
        "local a = 1\n"
        "for k = 1, #KEYS, 2 do\n"
        "  local n = tonumber(ARGV[a])\n"
        "  local added = redis.pcall('ZADD', KEYS[k+1], 'NX', unpack(ARGV, a + 1, a + 2 * n))\n"
        "  if type(added) ~= 'number' then\n"
        "    failed = failed + n\n"
        "  elseif added > 0 then\n"
        "    local ok = redis.pcall('HINCRBY', KEYS[k], 'total_messages', added)\n"
        "    if type(ok) ~= 'number' then\n"
        "      failed = failed + added\n"
        "    else\n"
        "      local newest, newest_text = -1, nil\n"
        "      for i = a + 1, a + 2 * n, 2 do\n"
        "        local t = tonumber(ARGV[i])\n"
        "        if t > newest then newest, newest_text = t, ARGV[i] end\n"
        "      end\n"
        "      local cur = redis.pcall('HGET', KEYS[k], 'last_message_timestamp')\n"
        "      if type(cur) ~= 'string' or (tonumber(cur) or -1) < newest then\n"
        "        redis.pcall('HSET', KEYS[k], 'last_message_timestamp', newest_text)\n"
        "      end\n"
        "      counted = counted + added\n"
        "    end\n"
        "    seen = seen + n - added\n"
        "  else\n"
        "    seen = seen + n\n"
        "  end\n"
        "  a = a + 1 + 2 * n\n"
        "end\n"
        "return {counted, seen, failed}\n";

/* Decimal digits of v into out (at least 20 bytes); returns the length. */
static size_t
cache_u64_digits(char *out, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

/* Appends one RESP bulk string "$LEN\r\nBYTES\r\n" (the Redis protocol
 * spec, "Bulk strings"); the caller reserved room. */
static char *
cache_put_bulk(char *p, const char *bytes, size_t len)
{
	*p++ = '$';
	p += cache_u64_digits(p, len);
	*p++ = '\r';
	*p++ = '\n';
	memcpy(p, bytes, len);
	p += len;
	*p++ = '\r';
	*p++ = '\n';
	return p;
}

/* A bulk string "PREFIX<id>". */
static char *
cache_put_key(char *p, const char *prefix, size_t prefix_len, uint64_t id)
{
	char key[CACHE_KEY_MAX];
	memcpy(key, prefix, prefix_len);
	size_t len = prefix_len + cache_u64_digits(key + prefix_len, id);
	return cache_put_bulk(p, key, len);
}

/* The most bytes one record adds to a batch: two keys and two numbers, each
 * "$NN\r\n" + text + "\r\n". */
#define CACHE_RECORD_BYTES (4 * (1 + 20 + 2 + 2) + CACHE_KEY_MAX * 2 + 2 * 20)

/* The record at position i of the batch starting at `first`. */
static const struct cache_record *
cache_batch_record(const struct cache *c, size_t first, size_t i)
{
	return &c->ring[(c->head + first + i) % c->cap];
}

/* Builds EVAL script 2g KEYS... ARGV... for n records from `first` (g
 * groups of consecutive records of one channel) into the reused batch
 * buffer, by hand: no formatting call and no allocation per record (the
 * buffer grows once, to the largest batch). */
static int
cache_build_batch(struct cache *c, size_t first, size_t n)
{
	size_t need = 64 + sizeof cache_count_script + n * CACHE_RECORD_BYTES;
	buf_reset(&c->batch);
	if (buf_reserve(&c->batch, need) < 0)
		return -1;
	size_t groups = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || cache_batch_record(c, first, i)->channel_id !=
		                      cache_batch_record(c, first, i - 1)->channel_id)
			groups++;
	char *p = c->batch.data;
	char digits[20];
	*p++ = '*';
	p += cache_u64_digits(p, 3 + 3 * (uint64_t)groups + 2 * (uint64_t)n);
	*p++ = '\r';
	*p++ = '\n';
	p = cache_put_bulk(p, "EVAL", 4);
	p = cache_put_bulk(p, cache_count_script, sizeof cache_count_script - 1);
	p = cache_put_bulk(p, digits, cache_u64_digits(digits, 2 * (uint64_t)groups));
	for (size_t i = 0; i < n; i++) {
		const struct cache_record *r = cache_batch_record(c, first, i);
		if (i > 0 && r->channel_id == cache_batch_record(c, first, i - 1)->channel_id)
			continue;
		p = cache_put_key(p, "channel_stats:", 14, r->channel_id);
		p = cache_put_key(p, "channel_activity:", 17, r->channel_id);
	}
	for (size_t i = 0; i < n;) {
		uint64_t channel = cache_batch_record(c, first, i)->channel_id;
		size_t end = i;
		while (end < n && cache_batch_record(c, first, end)->channel_id == channel)
			end++;
		p = cache_put_bulk(p, digits, cache_u64_digits(digits, end - i));
		for (; i < end; i++) {
			const struct cache_record *r = cache_batch_record(c, first, i);
			/* Unix times are positive (snowflakes start in 2015) */
			uint64_t ts = r->unix_time > 0 ? (uint64_t)r->unix_time : 0;
			p = cache_put_bulk(p, digits, cache_u64_digits(digits, ts));
			p = cache_put_bulk(p, digits, cache_u64_digits(digits, r->message_id));
		}
	}
	c->batch.len = (size_t)(p - c->batch.data);
	c->batch.data[c->batch.len] = '\0';
	return 0;
}

static void
cache_batch_acked(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cache *c = privdata;
	redisReply *reply = r;
	if (c->outstanding)
		c->outstanding--;
	if (!reply || c->closing || c->batches_in_flight == 0)
		return; /* connection gone: cleanup resets `sent`, we resend */
	c->progress_ms = loop_now(c->loop);
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
		/* the whole batch refused (OOM, READONLY, LOADING, BUSY...):
		 * nothing or part of it was applied, and resending it is safe
		 * (ZADD NX), so this is an outage: drop the connection and
		 * reconnect with backoff; the records stay in the FIFO.
		 * hiredis finishes a free from inside a reply callback. */
		snprintf(c->drop_reason, sizeof c->drop_reason, "Redis refused a batch: %s",
		         reply->type == REDIS_REPLY_ERROR && reply->str ? reply->str
		                                                        : "unexpected reply");
		redisAsyncFree(ac);
		return;
	}
	size_t n = c->batch_sizes[c->batch_first];
	c->batch_first = (c->batch_first + 1) % CACHE_MAX_BATCHES;
	c->batches_in_flight--;
	c->counted += (uint64_t)reply->element[0]->integer;
	c->duplicates += (uint64_t)reply->element[1]->integer;
	if (reply->element[2]->integer > 0) {
		/* a key of the wrong type: retrying cannot help */
		c->lost += (uint64_t)reply->element[2]->integer;
		log_limited(&c->refused_log, BACKOFF_LOG_INTERVAL_MS, LOG_WARNING, "cache",
		            "%lld message records refused by Redis (a key of the wrong type?)",
		            reply->element[2]->integer);
	}
	c->head = (c->head + n) % c->cap;
	c->count -= n;
	c->sent -= n;
	cache_pump(c);
	cache_pressure(c);
}

/* Sends waiting records while connected: batches of up to CACHE_BATCH_MAX
 * records, at most CACHE_MAX_BATCHES in flight. */
static void
cache_pump(struct cache *c)
{
	while (!c->closing && c->state == CACHE_READY && c->ac && c->sent < c->count &&
	       c->batches_in_flight < CACHE_MAX_BATCHES) {
		size_t n = c->count - c->sent;
		if (n > CACHE_BATCH_MAX)
			n = CACHE_BATCH_MAX;
		if (cache_build_batch(c, c->sent, n) < 0) {
			log_error("cache", "cannot build a Redis batch: out of memory");
			return; /* the kick or the next ack tries again */
		}
		if (redisAsyncFormattedCommand(c->ac, cache_batch_acked, c, c->batch.data,
		                               c->batch.len) != REDIS_OK)
			return; /* disconnecting: cleanup follows */
		cache_owe_reply(c);
		c->batch_sizes[(c->batch_first + c->batches_in_flight) % CACHE_MAX_BATCHES] = n;
		c->batches_in_flight++;
		c->sent += n;
	}
}

/* Back-pressure (issue 13.1): while Redis is up and the FIFO is full, the
 * owner stops reading the gateway (nothing is dropped, the socket buffers
 * and TCP slow Discord down); it reads again once half the FIFO is free,
 * or at once when Redis goes down (then the bound applies, and what
 * passes it is dropped, counted and logged once per outage). */
static void
cache_pressure(struct cache *c)
{
	if (c->closing)
		return; /* the owner is tearing down: no more calls into it */
	int want;
	if (c->state != CACHE_READY)
		want = 0;
	else if (c->count >= c->cap)
		want = 1;
	else if (c->count <= c->cap / 2)
		want = 0;
	else
		want = c->paused; /* in between: keep what we asked for */
	if (want == c->paused)
		return;
	c->paused = want;
	if (want)
		c->pauses++;
	if (c->on_pressure) {
		c->callback_depth++;
		c->on_pressure(c->pressure_data, want);
		c->callback_depth--;
	}
}

void
cache_record_message(struct cache *c, uint64_t channel_id, uint64_t message_id, int64_t unix_time)
{
	if (!c || c->closing)
		return;
	struct cache_record rec = {channel_id, message_id, unix_time};
	if (c->count == c->cap) {
		c->lost++;
		if (!c->loss_logged) {
			log_warn(
			        "cache",
			        "message buffer full (%zu records) while Redis is %s: dropping the "
			        "%s; activity counts will be low",
			        c->cap, c->state == CACHE_READY ? "up" : "unavailable",
			        c->sent < c->count ? "oldest unsent records" : "newest records");
			c->loss_logged = 1;
		}
		if (c->sent == c->count)
			return; /* everything is in flight: the new record goes */
		/* drop the oldest UNSENT record (the in-flight ones ahead of it
		 * are acknowledged by position): shift the in-flight run up */
		size_t victim = c->sent;
		for (size_t i = victim; i > 0; i--)
			c->ring[(c->head + i) % c->cap] = c->ring[(c->head + i - 1) % c->cap];
		c->head = (c->head + 1) % c->cap;
		c->count--;
	}
	c->ring[(c->head + c->count) % c->cap] = rec;
	c->count++;
	if (c->state == CACHE_READY) {
		/* a full batch goes now (hiredis only queues it: the write
		 * happens when the loop polls); a partial one waits for the
		 * kick, so a burst read in one go is batched */
		if (c->count - c->sent >= CACHE_BATCH_MAX)
			cache_pump(c);
		if (!loop_timer_active(&c->kick))
			loop_timer_start(c->loop, &c->kick, 0);
		cache_pressure(c);
	}
}

size_t
cache_buffered(const struct cache *c)
{
	return c ? c->count : 0;
}

void
cache_get_stats(const struct cache *c, struct cache_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!c)
		return;
	out->buffered = c->count;
	out->in_flight = c->sent;
	out->counted = c->counted;
	out->duplicates = c->duplicates;
	out->lost = c->lost;
	out->pauses = c->pauses;
	out->paused = c->paused;
	out->connect_attempts = c->connect_attempts;
}

unsigned long
cache_connect_attempts(const struct cache *c)
{
	return c ? c->connect_attempts : 0;
}

uint64_t
cache_lost(const struct cache *c)
{
	return c ? c->lost : 0;
}

/* ------------------------------------------------------------ reads */

static void
cache_req_finish(struct cache_req *q, const redisReply *reply)
{
	const char *error = q->error[0] ? q->error : NULL;
	struct cache *c = q->c;
	c->callback_depth++;
	switch (q->kind) {
	case CACHE_REQ_STATS:
		q->stats_fn(q->data, error ? NULL : &q->stats, error);
		break;
	case CACHE_REQ_DONE:
		q->done_fn(q->data, error ? 0 : q->value, error);
		break;
	case CACHE_REQ_REPLY:
		q->reply_fn(q->data, error ? NULL : reply, error);
		break;
	case CACHE_REQ_PIPELINE:
		q->pipeline_fn(q->data, (size_t)q->replies, error);
		break;
	}
	c->callback_depth--;
	mem_free(q);
}

static int64_t
cache_reply_int(const redisReply *r)
{
	if (!r)
		return 0;
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r->type == REDIS_REPLY_STRING && r->str)
		return strtoll(r->str, NULL, 10);
	return 0;
}

static void
cache_req_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cache_req *q = privdata;
	struct cache *c = q->c;
	redisReply *reply = r;
	if (c->outstanding)
		c->outstanding--;
	int index = q->replies++;
	if (q->kind == CACHE_REQ_PIPELINE && q->each_fn)
		q->each_fn(q->data, (size_t)index, reply);
	if (!reply) {
		if (!q->error[0]) {
			const char *why = c->drop_reason[0]             ? c->drop_reason
			                  : ac && ac->err && ac->errstr ? ac->errstr
			                                                : "connection closed";
			if (c->closing)
				snprintf(q->error, sizeof q->error, "cache closed");
			else if (c->state == CACHE_READY)
				snprintf(q->error, sizeof q->error, "redis connection lost: %s",
				         why);
			else
				snprintf(q->error, sizeof q->error, "redis unavailable: %s", why);
		}
	} else {
		c->progress_ms = loop_now(c->loop);
		if (reply->type == REDIS_REPLY_ERROR && !q->error[0]) {
			snprintf(q->error, sizeof q->error, "%s",
			         reply->str ? reply->str : "error");
		} else if (q->kind == CACHE_REQ_STATS && index == 0 &&
		           reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
			q->stats.total_messages = cache_reply_int(reply->element[0]);
			q->stats.last_message_timestamp = cache_reply_int(reply->element[1]);
		} else if (q->kind == CACHE_REQ_STATS && index == 1) {
			q->stats.recent_count = cache_reply_int(reply);
		} else if (q->kind == CACHE_REQ_DONE) {
			q->value = cache_reply_int(reply);
		}
	}
	if (--q->pending > 0)
		return;
	cache_req_finish(q, reply);
}

static void
cache_kick(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct cache *c = t->data;
	while (c->fail_head) {
		struct cache_req *q = c->fail_head;
		c->fail_head = q->next;
		if (!c->fail_head)
			c->fail_tail = NULL;
		cache_req_finish(q, NULL);
	}
	cache_pump(c);
}

static void
cache_fail_later(struct cache *c, struct cache_req *q, const char *error)
{
	snprintf(q->error, sizeof q->error, "%s", error);
	q->next = NULL;
	if (c->fail_tail)
		c->fail_tail->next = q;
	else
		c->fail_head = q;
	c->fail_tail = q;
	loop_timer_start(c->loop, &c->kick, 0);
}

/* A request; on a closing cache too, so that its refusal is answered
 * like any failure (cache_req_send). NULL only without c or memory. */
static struct cache_req *
cache_req_new(struct cache *c, enum cache_req_kind kind, void *data)
{
	if (!c)
		return NULL;
	struct cache_req *q = mem_calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->c = c;
	q->kind = kind;
	q->data = data;
	return q;
}

/* Sends the commands of q (each argv NULL-terminated in cmds), or queues
 * its failure for the next iteration. */
static int
cache_req_send(struct cache *c, struct cache_req *q, int ncmds, const int *argcs,
               const char **const *argvs)
{
	/* cache_free ran (a callback asks again): answered once, later, or
	 * by the teardown itself */
	if (c->closing) {
		cache_fail_later(c, q, "cache closed");
		return 0;
	}
	/* while connecting hiredis keeps commands until the socket is up
	 * (and fails them if it never is); otherwise fail fast */
	if (!c->ac || (c->state != CACHE_READY && c->state != CACHE_CONNECTING &&
	               c->state != CACHE_HANDSHAKE)) {
		char msg[CACHE_ERROR_MAX + 32];
		snprintf(msg, sizeof msg, "redis unavailable: %.*s", CACHE_ERROR_MAX,
		         c->error[0] ? c->error : "not connected");
		cache_fail_later(c, q, msg);
		return 0;
	}
	q->pending = ncmds;
	for (int i = 0; i < ncmds; i++) {
		if (redisAsyncCommandArgv(c->ac, cache_req_reply, q, argcs[i], argvs[i], NULL) !=
		    REDIS_OK) {
			if (i == 0) {
				cache_fail_later(c, q, "redis unavailable: disconnecting");
				return 0;
			}
			/* the sent ones will still call back (with NULL) */
			q->pending = i;
			snprintf(q->error, sizeof q->error, "redis unavailable: disconnecting");
			return 0;
		}
		cache_owe_reply(c);
	}
	return 0;
}

int
cache_channel_stats(struct cache *c, uint64_t channel_id, int64_t since, cache_stats_fn *fn,
                    void *data)
{
	if (!fn)
		return -1;
	struct cache_req *q = cache_req_new(c, CACHE_REQ_STATS, data);
	if (!q)
		return -1;
	q->stats_fn = fn;
	char stats_key[CACHE_KEY_MAX], activity_key[CACHE_KEY_MAX], min[24];
	snprintf(stats_key, sizeof stats_key, "channel_stats:%llu", (unsigned long long)channel_id);
	snprintf(activity_key, sizeof activity_key, "channel_activity:%llu",
	         (unsigned long long)channel_id);
	snprintf(min, sizeof min, "%lld", (long long)since);
	const char *hmget[] = {"HMGET", stats_key, "total_messages", "last_message_timestamp"};
	const char *zcount[] = {"ZCOUNT", activity_key, min, "+inf"};
	const int argcs[] = {4, 4};
	const char **const argvs[] = {hmget, zcount};
	return cache_req_send(c, q, 2, argcs, argvs);
}

int
cache_trim_activity(struct cache *c, uint64_t channel_id, int64_t before, cache_done_fn *fn,
                    void *data)
{
	if (!fn)
		return -1;
	struct cache_req *q = cache_req_new(c, CACHE_REQ_DONE, data);
	if (!q)
		return -1;
	q->done_fn = fn;
	char key[CACHE_KEY_MAX], max[32];
	snprintf(key, sizeof key, "channel_activity:%llu", (unsigned long long)channel_id);
	/* "(" = exclusive: an entry AT `before` is still counted by ZCOUNT */
	snprintf(max, sizeof max, "(%lld", (long long)before);
	const char *argv[] = {"ZREMRANGEBYSCORE", key, "-inf", max};
	const int argcs[] = {4};
	const char **const argvs[] = {argv};
	return cache_req_send(c, q, 1, argcs, argvs);
}

int
cache_wipe_channel(struct cache *c, uint64_t channel_id, cache_done_fn *fn, void *data)
{
	if (!fn)
		return -1;
	struct cache_req *q = cache_req_new(c, CACHE_REQ_DONE, data);
	if (!q)
		return -1;
	q->done_fn = fn;
	char stats_key[CACHE_KEY_MAX], activity_key[CACHE_KEY_MAX];
	snprintf(stats_key, sizeof stats_key, "channel_stats:%llu", (unsigned long long)channel_id);
	snprintf(activity_key, sizeof activity_key, "channel_activity:%llu",
	         (unsigned long long)channel_id);
	const char *argv[] = {"DEL", stats_key, activity_key};
	const int argcs[] = {3};
	const char **const argvs[] = {argv};
	return cache_req_send(c, q, 1, argcs, argvs);
}

int
cache_ping(struct cache *c, cache_done_fn *fn, void *data)
{
	if (!fn)
		return -1;
	struct cache_req *q = cache_req_new(c, CACHE_REQ_DONE, data);
	if (!q)
		return -1;
	q->done_fn = fn;
	const char *argv[] = {"PING"};
	const int argcs[] = {1};
	const char **const argvs[] = {argv};
	return cache_req_send(c, q, 1, argcs, argvs);
}

int
cache_command(struct cache *c, int argc, const char **argv, cache_reply_fn *fn, void *data)
{
	if (!fn || argc < 1 || !argv)
		return -1;
	struct cache_req *q = cache_req_new(c, CACHE_REQ_REPLY, data);
	if (!q)
		return -1;
	q->reply_fn = fn;
	const int argcs[] = {argc};
	const char **const argvs[] = {argv};
	return cache_req_send(c, q, 1, argcs, argvs);
}

int
cache_pipeline(struct cache *c, size_t count, cache_build_fn *build, cache_each_fn *each,
               cache_pipeline_done_fn *done, void *data)
{
	if (!build || !done || count == 0 || count > INT32_MAX)
		return -1;
	struct cache_req *q = cache_req_new(c, CACHE_REQ_PIPELINE, data);
	if (!q)
		return -1;
	q->each_fn = each;
	q->pipeline_fn = done;
	if (c->closing) {
		cache_fail_later(c, q, "cache closed");
		return 0;
	}
	if (!c->ac || (c->state != CACHE_READY && c->state != CACHE_CONNECTING)) {
		char msg[CACHE_ERROR_MAX + 32];
		snprintf(msg, sizeof msg, "redis unavailable: %.*s", CACHE_ERROR_MAX,
		         c->error[0] ? c->error : "not connected");
		cache_fail_later(c, q, msg);
		return 0;
	}
	/* every command goes into hiredis's output buffer now; the loop
	 * writes them together and the replies come back in order */
	const char *argv[CACHE_PIPELINE_ARGV_MAX];
	size_t sent = 0;
	for (size_t i = 0; i < count; i++) {
		int argc = build(data, i, argv);
		if (argc < 1 || argc > CACHE_PIPELINE_ARGV_MAX)
			break;
		if (redisAsyncCommandArgv(c->ac, cache_req_reply, q, argc, argv, NULL) != REDIS_OK)
			break;
		q->pending++;
		cache_owe_reply(c);
		sent++;
	}
	if (sent < count && !q->error[0])
		snprintf(q->error, sizeof q->error, "pipeline cut after %zu of %zu commands", sent,
		         count);
	if (sent == 0) {
		char msg[sizeof q->error];
		snprintf(msg, sizeof msg, "%s", q->error);
		cache_fail_later(c, q, msg);
	}
	return 0;
}

/* ------------------------------------------------------------ life */

struct cache *
cache_new(struct loop *loop, const struct cache_config *config)
{
	if (!loop || !config || !config->host)
		return NULL;
	struct cache *c = mem_calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->cap = config->buffer_max ? config->buffer_max : CACHE_BUFFER_DEFAULT;
	c->host = mem_strdup(config->host);
	c->ring = mem_calloc(c->cap, sizeof *c->ring);
	if (!c->host || !c->ring) {
		mem_free(c->host);
		mem_free(c->ring);
		mem_free(c);
		return NULL;
	}
	c->loop = loop;
	c->port = config->port ? config->port : 6379;
	c->connect_timeout_ms = config->connect_timeout_ms > 0 ? config->connect_timeout_ms : 5000;
	c->command_timeout_ms = config->command_timeout_ms > 0 ? config->command_timeout_ms : 10000;
	c->on_state = config->on_state;
	c->state_data = config->state_data;
	c->on_pressure = config->on_pressure;
	c->pressure_data = config->pressure_data;
	buf_init(&c->batch, CACHE_BATCH_BYTES_MAX);
	snprintf(c->what, sizeof c->what, "Redis at %.*s:%u", NET_HOST_MAX, c->host, c->port);
	backoff_init(&c->retry, loop, "cache",
	             config->backoff_initial_ms > 0 ? (unsigned)config->backoff_initial_ms : 0,
	             config->backoff_max_ms > 0 ? (unsigned)config->backoff_max_ms : 0, cache_retry,
	             c);
	net_resolve_init(&c->resolve);
	loop_watch_init(&c->watch, cache_io, c);
	loop_timer_init(&c->connect_timer, cache_connect_timeout, c);
	loop_defer_init(&c->release, cache_release, c);
	loop_timer_init(&c->kick, cache_kick, c);
	loop_timer_init(&c->watchdog, cache_watchdog, c);
	c->state = CACHE_IDLE;
	cache_start_connect(c);
	return c;
}

/* The memory itself: at once, or deferred when cache_free ran inside one
 * of our callbacks (hiredis, and the frames below, still hold c). */
/* Teardown: every request not sent answers "cache closed" now, and so do
 * those its callbacks make meanwhile. */
static void
cache_fail_owed(struct cache *c)
{
	while (c->fail_head) {
		struct cache_req *q = c->fail_head;
		c->fail_head = q->next;
		if (!c->fail_head)
			c->fail_tail = NULL;
		snprintf(q->error, sizeof q->error, "cache closed");
		cache_req_finish(q, NULL);
	}
}

static void
cache_release(struct loop *loop, struct loop_defer *d)
{
	(void)loop;
	struct cache *c = d->data;
	/* requests a caller made after cache_free, from a callback further
	 * up the stack, are answered before the memory goes */
	loop_timer_stop(c->loop, &c->kick);
	cache_fail_owed(c);
	buf_free(&c->batch);
	mem_free(c->ring);
	mem_free(c->host);
	mem_free(c);
}

void
cache_free(struct cache *c)
{
	if (!c || c->closing)
		return;
	c->closing = 1;
	loop_timer_stop(c->loop, &c->connect_timer);
	backoff_stop(&c->retry);
	loop_timer_stop(c->loop, &c->kick);
	loop_timer_stop(c->loop, &c->watchdog);
	net_resolve_cancel(&c->resolve);
	if (c->ac)
		redisAsyncFree(c->ac); /* pending callbacks: "cache closed" */
	loop_watch_stop(c->loop, &c->watch);
	cache_fail_owed(c);
	/* their callbacks may have asked again: refused, owed, and the kick
	 * started; release answers those */
	loop_timer_stop(c->loop, &c->kick);
	if (c->count)
		log_warn("cache", "closing with %zu message records not written to Redis",
		         c->count);
	/* as ws and db do: never free ourselves under our own callback */
	if (c->callback_depth > 0)
		loop_defer(c->loop, &c->release);
	else
		cache_release(c->loop, &c->release);
}

int
cache_connected(const struct cache *c)
{
	return c && c->state == CACHE_READY;
}

const char *
cache_error(const struct cache *c)
{
	return c ? c->error : "no cache";
}
