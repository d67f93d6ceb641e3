/* cache — Redis through hiredis's async API on OUR loop (our own adapter,
 * as hiredis's adapters/ae.h does for redis's ae), for the activity stats
 * of agora-spec.txt 5.2 and 6.5.
 *
 * Keys: `channel_stats:{id}`, a hash with total_messages (HINCRBY) and
 * last_message_timestamp (HSET); `channel_activity:{id}`, a sorted set
 * scored by the message's Unix time with the message id as member (ZADD).
 *
 * Writes: cache_record_message never fails and never waits. Each message
 * is kept in a bounded FIFO until Redis acknowledges it. Records go out in
 * batches of up to CACHE_BATCH_MAX, each ONE Lua script (EVAL; a script
 * runs whole, so the hash and the set never disagree), built by hand into
 * one reused buffer, a few batches pipelined.
 *
 * Exactly once: in the script, `ZADD NX channel_activity:{id} ts msg_id
 * ...` (one per channel in the batch) gates the HINCRBY, which adds only
 * the number of ids that were new, so a message Redis already has is not
 * counted again; last_message_timestamp only moves forward. A batch whose
 * reply was lost with the connection is sent again on reconnect, and a
 * RESUME that replays messages records them again: neither double-counts.
 *
 * Back-pressure: while Redis is up, nothing is dropped. When the FIFO is
 * full, on_pressure(data, 1) asks the owner to stop reading the gateway;
 * on_pressure(data, 0) comes once half of it is free, or when Redis goes
 * down. During an outage the FIFO fills, and on reconnect it is flushed,
 * so a short outage loses no counts; past buffer_max records the OLDEST
 * unsent record is dropped and counted (cache_lost), logged once per
 * outage.
 *
 * Reads and pings: callbacks run exactly once, always from the loop (never
 * from inside the call): with the result, or with an error:
 *   "redis unavailable: WHY"     issued while not connected (fails at once)
 *   "redis connection lost: WHY" the connection broke first
 *   "cache closed"               cache_free ran first
 *   the server's error text      the command failed
 * A Redis that stops answering (commands outstanding with no reply for
 * command_timeout_ms) is dropped and reconnected, so nothing hangs.
 *
 * Reconnecting (backoff.h, shared with db): a connection counts as up only
 * once Redis has answered a PING on it, so every failure shape — refused,
 * accepted and closed at once, "max number of clients reached", LOADING —
 * is retried with exponential backoff and full jitter up to
 * backoff_max_ms, its log lines rate-limited; only a connection that was
 * up for BACKOFF_STABLE_MS is retried at once when it breaks.
 * The host name is resolved off the loop (net.h) and hiredis is given the
 * numeric address, so it never calls getaddrinfo on a name. */
#ifndef AGORA_CACHE_H
#define AGORA_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

struct cache;
struct redisReply; /* hiredis's reply, for cache_command */

/* Default bound of the write FIFO (a build-time constant; the bot uses
 * the default, cache_config.buffer_max sets another): a busy
 * guild sends a few messages a second to tracked channels, so 10000
 * records (240 KiB) rides out outages of tens of minutes; while Redis is
 * up it is also how far reading the gateway runs ahead of Redis. */
#define CACHE_BUFFER_DEFAULT 10000
/* Records per script call: large enough that a burst costs one round trip
 * per 256 messages, small enough that one script holds Redis for well
 * under a millisecond. */
#define CACHE_BATCH_MAX 256
/* Batches in flight at once: keeps hiredis's output buffer small (about
 * 4 x 40 KiB) while a backlog is flushed, and Redis busy meanwhile. */
#define CACHE_MAX_BATCHES 4
/* Bound of the reused batch buffer: CACHE_BATCH_MAX records of at most
 * ~250 bytes each plus the script. */
#define CACHE_BATCH_BYTES_MAX (256 * 1024)

typedef void cache_state_fn(void *data, int connected, const char *error);
/* full = 1: stop reading what produces records (the gateway); 0: read
 * again. Called only on a change. */
typedef void cache_pressure_fn(void *data, int full);

struct cache_config {
	const char *host;         /* name or numeric address */
	uint16_t port;            /* 0 = 6379 */
	int connect_timeout_ms;   /* 0 = 5000 */
	int command_timeout_ms;   /* no reply for this long: reconnect; 0 = 10000 */
	int backoff_initial_ms;   /* 0 = 500 */
	int backoff_max_ms;       /* 0 = 30000 */
	size_t buffer_max;        /* write FIFO bound; 0 = CACHE_BUFFER_DEFAULT */
	cache_state_fn *on_state; /* optional: connected / disconnected */
	void *state_data;
	cache_pressure_fn *on_pressure; /* optional: back-pressure, see above */
	void *pressure_data;
};

/* Copies config and starts connecting. NULL when out of memory or no host. */
struct cache *cache_new(struct loop *loop, const struct cache_config *config);
/* Closes the connection; every pending callback runs once, now, with
 * "cache closed"; unsent records are dropped (logged). Safe from inside
 * any cache callback (the memory then goes in a deferred call, as ws_free
 * and db_free do). */
void cache_free(struct cache *c);

int cache_connected(const struct cache *c);
/* Why the last attempt failed or the connection broke ("" if none did). */
const char *cache_error(const struct cache *c);
/* Records waiting in the write FIFO (unsent or unacknowledged). */
size_t cache_buffered(const struct cache *c);
/* Counters for logs, tests and benchmarks. */
struct cache_stats {
	size_t buffered, in_flight;
	uint64_t counted;     /* records Redis counted */
	uint64_t duplicates;  /* records Redis already had (resent, replayed) */
	uint64_t lost;        /* dropped: FIFO full during an outage, or refused */
	unsigned long pauses; /* times on_pressure(1) was asked */
	int paused;
	unsigned long connect_attempts;
};
void cache_get_stats(const struct cache *c, struct cache_stats *out);
/* Connection attempts started since cache_new (for logs and tests). */
unsigned long cache_connect_attempts(const struct cache *c);
/* Records dropped because the FIFO was full, since cache_new. */
uint64_t cache_lost(const struct cache *c);

/* One message in a tracked channel (spec 6.5 on_message): total_messages
 * + 1, last_message_timestamp = unix_time, ZADD unix_time message_id.
 * Never blocks and never fails (see the FIFO above). */
void cache_record_message(struct cache *c, uint64_t channel_id, uint64_t message_id,
                          int64_t unix_time);

/* What the scoring task reads per channel. */
struct cache_channel_stats {
	int64_t total_messages;         /* 0 when the channel has no stats */
	int64_t last_message_timestamp; /* 0 when unknown */
	int64_t recent_count;           /* ZCOUNT [since, +inf] */
};
typedef void cache_stats_fn(void *data, const struct cache_channel_stats *stats, const char *error);
/* HMGET channel_stats:{id} + ZCOUNT channel_activity:{id} since +inf,
 * pipelined; stats is NULL on error. Returns 0, or -1 at once without a
 * callback on bad arguments or no memory. Like every call below, fn runs
 * exactly once, later (never inside the call): also while Redis is down
 * ("redis unavailable: ...") and on a cache being freed ("cache closed",
 * answered by cache_free). */
int cache_channel_stats(struct cache *c, uint64_t channel_id, int64_t since, cache_stats_fn *fn,
                        void *data);

/* value: the command's integer result (removed members, deleted keys, 0
 * for PING). */
typedef void cache_done_fn(void *data, long long value, const char *error);
/* ZREMRANGEBYSCORE channel_activity:{id} -inf (before — drops entries
 * strictly older than `before`, so a trim and a ZCOUNT from the same
 * instant agree on the boundary. value = entries removed. */
int cache_trim_activity(struct cache *c, uint64_t channel_id, int64_t before, cache_done_fn *fn,
                        void *data);
/* DEL both keys of a channel (/recalculate_stats wipes before rebuilding). */
int cache_wipe_channel(struct cache *c, uint64_t channel_id, cache_done_fn *fn, void *data);
/* PING round trip for /status. */
int cache_ping(struct cache *c, cache_done_fn *fn, void *data);

/* Any command, as argv strings (binary-safe lengths from strlen). The
 * reply is hiredis's, borrowed; NULL on error. For tests and tools. */
typedef void cache_reply_fn(void *data, const struct redisReply *reply, const char *error);
int cache_command(struct cache *c, int argc, const char **argv, cache_reply_fn *fn, void *data);

/* ---- pipelines: many commands, one round trip */

/* Most arguments of one pipelined command (a ZADD of a 100-message page
 * is 2 + 200). */
#define CACHE_PIPELINE_ARGV_MAX 256
/* Fills argv with command `index` (at most CACHE_PIPELINE_ARGV_MAX
 * strings, which must stay valid until the next call) and returns argc;
 * -1 stops the pipeline there (the commands built so far still run). */
typedef int cache_build_fn(void *data, size_t index, const char **argv);
/* Runs for each reply, in order; reply borrowed, NULL when the command
 * failed without one (connection lost). */
typedef void cache_each_fn(void *data, size_t index, const struct redisReply *reply);
/* Runs once after the last reply: error NULL when every command got a
 * non-error reply, else the first error (same sentences as above). */
typedef void cache_pipeline_done_fn(void *data, size_t replies, const char *error);
/* Builds `count` commands with build and queues them all at once, before
 * any reply is read: one round trip to Redis however many there are (the
 * stats task reads 1,000 channels this way). each may be NULL. Returns 0
 * and done runs exactly once, later; or -1 at once without callbacks (no
 * memory, count 0). */
int cache_pipeline(struct cache *c, size_t count, cache_build_fn *build, cache_each_fn *each,
                   cache_pipeline_done_fn *done, void *data);

#endif
