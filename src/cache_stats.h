/* cache_stats — the activity statistics' bulk reads and rebuilds
 * (agora-spec.txt 5.2, 6.5, /recalculate_stats of 7.2) over cache.h's
 * pipelines: a constant number of Redis round trips however many channels.
 *
 * Keys are cache.h's: `channel_stats:{id}` (hash: total_messages,
 * last_message_timestamp) and `channel_activity:{id}` (sorted set: member
 * the message id, score its Unix time).
 *
 * Reading (the stats task): for every channel, in one pipeline,
 *   HMGET channel_stats total_messages last_message_timestamp
 *   ZCOUNT channel_activity now-7d +inf              the recent count
 *   ZCOUNT ... per day for the last 7 days           the sparkline
 *   ZREMRANGEBYSCORE channel_activity -inf (now-7d   the trim
 * The counts come before the trim and its bound is exclusive, so they agree.
 *
 * Rebuilding (/recalculate_stats): a channel's statistics are built from
 * its history into side keys `channel_stats_rebuild:{id}` and
 * `channel_activity_rebuild:{id}` while live counting goes on in the real
 * keys, then swapped in by one script: live entries at or after the
 * history's newest message that the history did not hold (by message id)
 * are added, and both keys are RENAMEd over the real ones. A message is
 * therefore counted once whether it came through history, live, or both,
 * and a stop mid-way leaves the real keys as they were (the side keys
 * expire after CACHE_STATS_REBUILD_TTL_MS). */
#ifndef AGORA_CACHE_STATS_H
#define AGORA_CACHE_STATS_H

#include <stddef.h>
#include <stdint.h>

struct cache;

#define CACHE_STATS_DAYS 7
/* Commands per channel in a read. */
#define CACHE_STATS_COMMANDS (3 + CACHE_STATS_DAYS)
/* Side keys of an abandoned rebuild vanish after a day. */
#define CACHE_STATS_REBUILD_TTL_MS (24 * 3600 * 1000)

struct cache_stats_row {
	uint64_t channel_id;
	int64_t total_messages;          /* 0 when the channel has no stats */
	int64_t last_message_timestamp;  /* 0 when none */
	int64_t recent_count;            /* entries in [now - 7 d, +inf) */
	int64_t daily[CACHE_STATS_DAYS]; /* oldest day first; [6] = [now - 1 d, +inf) */
	int64_t trimmed;                 /* entries older than 7 days removed */
};

/* rows[n] in the order of the ids asked; borrowed for the call. NULL
 * with error when any command failed (no partial answer). */
typedef void cache_stats_read_fn(void *data, const struct cache_stats_row *rows, size_t n,
                                 const char *error);
/* Reads (and trims) n channels in ONE pipeline. ids are copied. fn runs
 * exactly once, later. n may be 0 (fn gets no rows, still later). Returns
 * 0, or -1 at once without a callback (no memory; a closing cache
 * answers "cache closed", cache.h). */
int cache_stats_read(struct cache *c, const uint64_t *ids, size_t n, int64_t now,
                     cache_stats_read_fn *fn, void *data);

/* A message read from history. */
struct cache_stats_message {
	uint64_t message_id;
	int64_t unix_time;
};
/* value: merged live messages (commit), else 0. */
typedef void cache_stats_done_fn(void *data, long long value, const char *error);
/* Starts a rebuild of channel_id: empties its side keys. */
int cache_stats_rebuild_begin(struct cache *c, uint64_t channel_id, cache_stats_done_fn *fn,
                              void *data);
/* Adds n history messages to the side keys: all of them to total_messages,
 * those at or after recent_since to the sorted set. One pipeline. */
int cache_stats_rebuild_add(struct cache *c, uint64_t channel_id,
                            const struct cache_stats_message *msgs, size_t n, int64_t recent_since,
                            cache_stats_done_fn *fn, void *data);
/* Swaps the rebuilt statistics in, atomically (one script): live entries
 * scored at or after live_since missing from the rebuild are merged,
 * last_message_timestamp becomes the newest of history_last and them.
 * value = live messages merged. */
int cache_stats_rebuild_commit(struct cache *c, uint64_t channel_id, int64_t history_last,
                               int64_t live_since, cache_stats_done_fn *fn, void *data);

#endif
