/* cache_stats — see cache_stats.h. */
#include "cache_stats.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "mem.h"

/* "channel_activity_rebuild:" + 20 digits */
#define CACHE_STATS_KEY_MAX 64
#define CACHE_STATS_NUM     32
#define CACHE_STATS_WEEK    (CACHE_STATS_DAYS * 86400)

static int64_t
cache_stats_int(const redisReply *r)
{
	if (!r)
		return 0;
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r->type == REDIS_REPLY_STRING && r->str)
		return strtoll(r->str, NULL, 10);
	return 0; /* nil: a channel without stats */
}

/* ------------------------------------------------------------ read */

struct cache_stats_read_job {
	struct cache_stats_row *rows;
	size_t n;
	int64_t now;
	cache_stats_read_fn *fn;
	void *data;
	/* the strings of the command being built (valid until the next) */
	char key[CACHE_STATS_KEY_MAX], min[CACHE_STATS_NUM], max[CACHE_STATS_NUM];
};

static int
cache_stats_read_build(void *data, size_t index, const char **argv)
{
	struct cache_stats_read_job *j = data;
	const struct cache_stats_row *row = &j->rows[index / CACHE_STATS_COMMANDS];
	unsigned long long id = (unsigned long long)row->channel_id;
	size_t cmd = index % CACHE_STATS_COMMANDS;
	int64_t week_ago = j->now - CACHE_STATS_WEEK;
	if (cmd == 0) {
		snprintf(j->key, sizeof j->key, "channel_stats:%llu", id);
		argv[0] = "HMGET";
		argv[1] = j->key;
		argv[2] = "total_messages";
		argv[3] = "last_message_timestamp";
		return 4;
	}
	snprintf(j->key, sizeof j->key, "channel_activity:%llu", id);
	argv[1] = j->key;
	argv[2] = j->min;
	argv[3] = j->max;
	if (cmd == 1) {
		argv[0] = "ZCOUNT";
		snprintf(j->min, sizeof j->min, "%lld", (long long)week_ago);
		snprintf(j->max, sizeof j->max, "+inf");
	} else if (cmd < 2 + CACHE_STATS_DAYS) {
		/* day d covers [now - (7-d) days, now - (6-d) days); the last one
		 * is open above, so a message stamped a second ahead of our
		 * clock still counts today */
		int d = (int)cmd - 2;
		argv[0] = "ZCOUNT";
		snprintf(j->min, sizeof j->min, "%lld",
		         (long long)(j->now - (int64_t)(CACHE_STATS_DAYS - d) * 86400));
		if (d == CACHE_STATS_DAYS - 1)
			snprintf(j->max, sizeof j->max, "+inf");
		else
			snprintf(j->max, sizeof j->max, "(%lld",
			         (long long)(j->now - (int64_t)(CACHE_STATS_DAYS - 1 - d) * 86400));
	} else {
		/* "(" = exclusive: an entry AT week_ago was just counted and stays */
		argv[0] = "ZREMRANGEBYSCORE";
		snprintf(j->min, sizeof j->min, "-inf");
		snprintf(j->max, sizeof j->max, "(%lld", (long long)week_ago);
	}
	return 4;
}

static void
cache_stats_read_each(void *data, size_t index, const struct redisReply *reply)
{
	struct cache_stats_read_job *j = data;
	if (!reply || reply->type == REDIS_REPLY_ERROR)
		return; /* done() reports it */
	struct cache_stats_row *row = &j->rows[index / CACHE_STATS_COMMANDS];
	size_t cmd = index % CACHE_STATS_COMMANDS;
	if (cmd == 0) {
		if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
			row->total_messages = cache_stats_int(reply->element[0]);
			row->last_message_timestamp = cache_stats_int(reply->element[1]);
		}
	} else if (cmd == 1) {
		row->recent_count = cache_stats_int(reply);
	} else if (cmd < 2 + CACHE_STATS_DAYS) {
		row->daily[cmd - 2] = cache_stats_int(reply);
	} else {
		row->trimmed = cache_stats_int(reply);
	}
}

static void
cache_stats_read_done(void *data, size_t replies, const char *error)
{
	(void)replies;
	struct cache_stats_read_job *j = data;
	j->fn(j->data, error ? NULL : j->rows, error ? 0 : j->n, error);
	mem_free(j->rows);
	mem_free(j);
}

/* n == 0: nothing to send, but the answer must still come later; a PING
 * carries it. */
static int
cache_stats_ping_build(void *data, size_t index, const char **argv)
{
	(void)data;
	(void)index;
	argv[0] = "PING";
	return 1;
}

int
cache_stats_read(struct cache *c, const uint64_t *ids, size_t n, int64_t now,
                 cache_stats_read_fn *fn, void *data)
{
	if (!fn || (n && !ids) ||
	    n > SIZE_MAX / CACHE_STATS_COMMANDS / sizeof(struct cache_stats_row))
		return -1;
	struct cache_stats_read_job *j = mem_calloc(1, sizeof *j);
	if (!j)
		return -1;
	j->rows = mem_calloc(n ? n : 1, sizeof *j->rows);
	if (!j->rows) {
		mem_free(j);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		j->rows[i].channel_id = ids[i];
	j->n = n;
	j->now = now;
	j->fn = fn;
	j->data = data;
	int rc = n ? cache_pipeline(c, n * CACHE_STATS_COMMANDS, cache_stats_read_build,
	                            cache_stats_read_each, cache_stats_read_done, j)
	           : cache_pipeline(c, 1, cache_stats_ping_build, NULL, cache_stats_read_done, j);
	if (rc < 0) {
		mem_free(j->rows);
		mem_free(j);
	}
	return rc;
}

/* ------------------------------------------------------------ rebuild */

/* A few commands on one channel's side keys (kind: 0 begin, 1 add, 2
 * commit), sent as one pipeline. */
struct cache_stats_job {
	cache_stats_done_fn *fn;
	void *data;
	long long value;
	uint64_t channel_id;
	const struct cache_stats_message *msgs; /* add: borrowed during the build only */
	size_t n;
	int64_t recent_since;
	size_t zadd_chunks;
	int64_t history_last, live_since;
	int kind;
	char stats_key[CACHE_STATS_KEY_MAX], activity_key[CACHE_STATS_KEY_MAX];
	char live_stats[CACHE_STATS_KEY_MAX], live_activity[CACHE_STATS_KEY_MAX];
	char num[4][CACHE_STATS_NUM];
	/* ZADD arguments: scores and members of one chunk */
	char scores[(CACHE_PIPELINE_ARGV_MAX - 2) / 2][CACHE_STATS_NUM];
	char members[(CACHE_PIPELINE_ARGV_MAX - 2) / 2][CACHE_STATS_NUM];
	size_t chunk_start; /* index into msgs of the next recent message */
};

#define CACHE_STATS_ZADD_PAIRS ((CACHE_PIPELINE_ARGV_MAX - 2) / 2)

/* The swap (see cache_stats.h). KEYS: live stats, live activity, side
 * stats, side activity. ARGV: live_since, history_last. RENAME carries the
 * side keys' expiry along, hence PERSIST. */
static const char cache_stats_commit_script[] =
        "local merged = 0\n"
        "local last = tonumber(ARGV[2])\n"
        "local live = redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[1], '+inf', 'WITHSCORES')\n"
        "for i = 1, #live, 2 do\n"
        "  if redis.call('ZADD', KEYS[4], 'NX', live[i + 1], live[i]) == 1 then\n"
        "    merged = merged + 1\n"
        "    local t = tonumber(live[i + 1])\n"
        "    if t > last then last = t end\n"
        "  end\n"
        "end\n"
        "redis.call('HINCRBY', KEYS[3], 'total_messages', merged)\n"
        "if last > 0 then\n"
        "  redis.call('HSET', KEYS[3], 'last_message_timestamp', string.format('%d', last))\n"
        "end\n"
        "redis.call('RENAME', KEYS[3], KEYS[1])\n"
        "redis.call('PERSIST', KEYS[1])\n"
        "if redis.call('EXISTS', KEYS[4]) == 1 then\n"
        "  redis.call('RENAME', KEYS[4], KEYS[2])\n"
        "  redis.call('PERSIST', KEYS[2])\n"
        "else\n"
        "  redis.call('DEL', KEYS[2])\n"
        "end\n"
        "return merged\n";

static int
cache_stats_job_build(void *data, size_t index, const char **argv)
{
	struct cache_stats_job *j = data;
	if (j->kind == 0) {
		argv[0] = "DEL";
		argv[1] = j->stats_key;
		argv[2] = j->activity_key;
		return 3;
	}
	if (j->kind == 2) {
		snprintf(j->num[0], sizeof j->num[0], "%lld", (long long)j->live_since);
		snprintf(j->num[1], sizeof j->num[1], "%lld", (long long)j->history_last);
		argv[0] = "EVAL";
		argv[1] = cache_stats_commit_script;
		argv[2] = "4";
		argv[3] = j->live_stats;
		argv[4] = j->live_activity;
		argv[5] = j->stats_key;
		argv[6] = j->activity_key;
		argv[7] = j->num[0];
		argv[8] = j->num[1];
		return 9;
	}
	/* add: HINCRBY, the ZADD chunks, then the two PEXPIREs */
	if (index == 0) {
		snprintf(j->num[0], sizeof j->num[0], "%zu", j->n);
		argv[0] = "HINCRBY";
		argv[1] = j->stats_key;
		argv[2] = "total_messages";
		argv[3] = j->num[0];
		return 4;
	}
	if (index <= j->zadd_chunks) {
		int argc = 2;
		argv[0] = "ZADD";
		argv[1] = j->activity_key;
		size_t pairs = 0;
		while (j->chunk_start < j->n && pairs < CACHE_STATS_ZADD_PAIRS) {
			const struct cache_stats_message *m = &j->msgs[j->chunk_start++];
			if (m->unix_time < j->recent_since)
				continue;
			snprintf(j->scores[pairs], CACHE_STATS_NUM, "%lld",
			         (long long)m->unix_time);
			snprintf(j->members[pairs], CACHE_STATS_NUM, "%llu",
			         (unsigned long long)m->message_id);
			argv[argc++] = j->scores[pairs];
			argv[argc++] = j->members[pairs];
			pairs++;
		}
		return argc > 2 ? argc : -1;
	}
	snprintf(j->num[1], sizeof j->num[1], "%d", CACHE_STATS_REBUILD_TTL_MS);
	argv[0] = "PEXPIRE";
	argv[1] = index == j->zadd_chunks + 1 ? j->stats_key : j->activity_key;
	argv[2] = j->num[1];
	return 3;
}

static void
cache_stats_job_each(void *data, size_t index, const struct redisReply *reply)
{
	struct cache_stats_job *j = data;
	(void)index;
	if (j->kind == 2 && reply && reply->type == REDIS_REPLY_INTEGER)
		j->value = reply->integer;
}

static void
cache_stats_job_done(void *data, size_t replies, const char *error)
{
	(void)replies;
	struct cache_stats_job *j = data;
	j->fn(j->data, error ? 0 : j->value, error);
	mem_free(j);
}

static struct cache_stats_job *
cache_stats_job_new(uint64_t channel_id, int kind, cache_stats_done_fn *fn, void *data)
{
	struct cache_stats_job *j = mem_calloc(1, sizeof *j);
	if (!j)
		return NULL;
	j->fn = fn;
	j->data = data;
	j->kind = kind;
	j->channel_id = channel_id;
	unsigned long long id = (unsigned long long)channel_id;
	snprintf(j->stats_key, sizeof j->stats_key, "channel_stats_rebuild:%llu", id);
	snprintf(j->activity_key, sizeof j->activity_key, "channel_activity_rebuild:%llu", id);
	snprintf(j->live_stats, sizeof j->live_stats, "channel_stats:%llu", id);
	snprintf(j->live_activity, sizeof j->live_activity, "channel_activity:%llu", id);
	return j;
}

static int
cache_stats_job_run(struct cache *c, struct cache_stats_job *j, size_t count)
{
	int rc = cache_pipeline(c, count, cache_stats_job_build, cache_stats_job_each,
	                        cache_stats_job_done, j);
	if (rc < 0)
		mem_free(j);
	return rc;
}

int
cache_stats_rebuild_begin(struct cache *c, uint64_t channel_id, cache_stats_done_fn *fn, void *data)
{
	if (!fn)
		return -1;
	struct cache_stats_job *j = cache_stats_job_new(channel_id, 0, fn, data);
	return j ? cache_stats_job_run(c, j, 1) : -1;
}

int
cache_stats_rebuild_add(struct cache *c, uint64_t channel_id,
                        const struct cache_stats_message *msgs, size_t n, int64_t recent_since,
                        cache_stats_done_fn *fn, void *data)
{
	if (!fn || (n && !msgs))
		return -1;
	struct cache_stats_job *j = cache_stats_job_new(channel_id, 1, fn, data);
	if (!j)
		return -1;
	size_t recent = 0;
	for (size_t i = 0; i < n; i++)
		recent += msgs[i].unix_time >= recent_since;
	j->msgs = msgs;
	j->n = n;
	j->recent_since = recent_since;
	j->zadd_chunks = (recent + CACHE_STATS_ZADD_PAIRS - 1) / CACHE_STATS_ZADD_PAIRS;
	/* HINCRBY, ZADD chunks, PEXPIRE of each side key (the sorted set's
	 * only once it exists, or PEXPIRE would just answer 0) */
	return cache_stats_job_run(c, j, 1 + j->zadd_chunks + 1 + (j->zadd_chunks > 0));
}

int
cache_stats_rebuild_commit(struct cache *c, uint64_t channel_id, int64_t history_last,
                           int64_t live_since, cache_stats_done_fn *fn, void *data)
{
	if (!fn)
		return -1;
	struct cache_stats_job *j = cache_stats_job_new(channel_id, 2, fn, data);
	if (!j)
		return -1;
	j->history_last = history_last;
	j->live_since = live_since;
	return cache_stats_job_run(c, j, 1);
}
