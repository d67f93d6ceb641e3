/* ratelimit — see ratelimit.h. */
#include "ratelimit.h"

#include <stdio.h>
#include <string.h>

#include "mem.h"

/* Bucket states kept at once: one per (bucket, major id) in use. The bot
 * touches a few dozen channels; past this, idle states are forgotten
 * (forgetting is safe: a forgotten bucket is probed again, one at a time). */
#define MAX_STATES 512
/* Route → bucket hash mappings learned; routes are a fixed, small set. */
#define MAX_ROUTES 128
/* Discord's invalid request window: 10 minutes, counted per second. */
#define INVALID_WINDOW_S 600
/* The global window is one second wide; 50 ms more absorb our clock's
 * error: the loop reads the time once per iteration, so an answer read late
 * in a busy iteration is stamped early by up to the iteration's length
 * (and a request sent exactly one second later was seen by the emulator
 * inside the same second). discord.js adds 50 ms for the same reasons. */
#define GLOBAL_WINDOW_MS 1050
/* Highest global rate accepted (Discord grants large bots more than 50). */
#define MAX_GLOBAL_PER_SECOND 1000

struct bucket_state {
	char key[80]; /* "h:" + bucket hash, or "r:" + route while the hash is unknown */
	char major[RATELIMIT_MAJOR_MAX];
	int known; /* limit/remaining/reset came from a response */
	long limit;
	long remaining;   /* requests we may still start before reset_at */
	int64_t reset_at; /* when remaining returns to limit; 0: nothing pending */
	int in_flight;
	int64_t last_used;
};

struct route_bucket {
	char route[RATELIMIT_ROUTE_MAX];
	char bucket[64];
};

struct ratelimit {
	struct bucket_state states[MAX_STATES];
	size_t state_count;
	struct route_bucket routes[MAX_ROUTES];
	size_t route_count;

	int64_t blocked_until; /* global 429, Cloudflare block, 401 */

	/* The global window as the server can see it. A request reaches
	 * Discord somewhere between its start and its answer, so it counts
	 * from its start (global_in_flight) until one window after its answer
	 * (global_done, a ring of the last global_per_second answer times).
	 * Counting start times alone let a request delayed on its way (behind
	 * a TLS handshake) land in the same server-side second as the 50 sent
	 * a second after it: the emulator saw 56 in one second and sent 429s. */
	int64_t global_done[MAX_GLOBAL_PER_SECOND];
	int global_per_second;
	int global_next, global_count;
	int global_in_flight;

	/* invalid requests per second over the last INVALID_WINDOW_S seconds */
	int64_t invalid_second[INVALID_WINDOW_S];
	long invalid_count[INVALID_WINDOW_S];
};

struct ratelimit *
ratelimit_new(int global_per_second)
{
	struct ratelimit *rl = mem_calloc(1, sizeof *rl);
	if (!rl)
		return NULL;
	if (global_per_second < 1)
		global_per_second = 1;
	if (global_per_second > MAX_GLOBAL_PER_SECOND)
		global_per_second = MAX_GLOBAL_PER_SECOND;
	rl->global_per_second = global_per_second;
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	mem_free(rl);
}

/* ------------------------------------------------------------ routes */

static int
all_digits(const char *s, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int
append(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len + n + 1 > cap)
		return -1;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
	return 0;
}

int
ratelimit_route_of(const char *method, const char *path, struct ratelimit_route *out)
{
	memset(out, 0, sizeof *out);
	size_t rlen = 0, mlen = 0;
	if (append(out->route, sizeof out->route, &rlen, method, strlen(method)) < 0 ||
	    append(out->route, sizeof out->route, &rlen, " ", 1) < 0)
		return -1;
	/* the base's version prefix is not part of the route */
	if (strncmp(path, "/api/v", 6) == 0) {
		const char *slash = strchr(path + 6, '/');
		path = slash ? slash : "/";
	}
	size_t path_len = strcspn(path, "?#");

	/* walk the segments; index counts them */
	const char *first = NULL;
	size_t first_len = 0;
	const char *prev = NULL;
	size_t prev_len = 0;
	int index = 0;
	size_t pos = 0;
	while (pos < path_len) {
		if (path[pos] == '/') {
			if (append(out->route, sizeof out->route, &rlen, "/", 1) < 0)
				return -1;
			pos++;
			continue;
		}
		const char *seg = path + pos;
		size_t len = strcspn(seg, "/");
		if (pos + len > path_len)
			len = path_len - pos;
		pos += len;

		const char *put = seg;
		size_t put_len = len;
		int is_major = 0;
		if (index == 1 && first &&
		    ((first_len == 8 && memcmp(first, "channels", 8) == 0) ||
		     (first_len == 6 && memcmp(first, "guilds", 6) == 0) ||
		     (first_len == 8 && memcmp(first, "webhooks", 8) == 0) ||
		     (first_len == 12 && memcmp(first, "interactions", 12) == 0)) &&
		    all_digits(seg, len)) {
			/* the top-level resource: kept as the major id */
			is_major = 1;
			put = "{}";
			put_len = 2;
		} else if (index == 2 && first &&
		           ((first_len == 8 && memcmp(first, "webhooks", 8) == 0) ||
		            (first_len == 12 && memcmp(first, "interactions", 12) == 0))) {
			/* webhook and interaction tokens: part of the major resource */
			is_major = first[0] == 'w';
			put = ":token";
			put_len = 6;
		} else if (all_digits(seg, len)) {
			put = ":id";
			put_len = 3;
		} else if (prev && prev_len == 9 && memcmp(prev, "reactions", 9) == 0) {
			put = ":emoji";
			put_len = 6;
		}
		if (is_major) {
			if (mlen && append(out->major, sizeof out->major, &mlen, "/", 1) < 0)
				return -1;
			if (append(out->major, sizeof out->major, &mlen, seg, len) < 0)
				return -1;
		}
		if (append(out->route, sizeof out->route, &rlen, put, put_len) < 0)
			return -1;
		if (index == 0) {
			first = seg;
			first_len = len;
		}
		prev = seg;
		prev_len = len;
		index++;
	}
	/* "Interaction endpoints are not bound to the bot's Global Rate
	 * Limit": callbacks, and the webhook endpoints of interaction tokens
	 * (the only webhooks this bot uses) */
	out->global_exempt =
	        first && ((first_len == 12 && memcmp(first, "interactions", 12) == 0) ||
	                  (first_len == 8 && memcmp(first, "webhooks", 8) == 0));
	return 0;
}

/* ------------------------------------------------------------ states */

static const char *
bucket_of_route(const struct ratelimit *rl, const char *route)
{
	for (size_t i = 0; i < rl->route_count; i++)
		if (strcmp(rl->routes[i].route, route) == 0)
			return rl->routes[i].bucket;
	return NULL;
}

static void
state_key(const struct ratelimit *rl, const struct ratelimit_route *route, char *key, size_t cap)
{
	const char *bucket = bucket_of_route(rl, route->route);
	if (bucket)
		snprintf(key, cap, "h:%s", bucket);
	else
		snprintf(key, cap, "r:%.76s", route->route);
}

static struct bucket_state *
find_state(struct ratelimit *rl, const char *key, const char *major)
{
	for (size_t i = 0; i < rl->state_count; i++)
		if (strcmp(rl->states[i].key, key) == 0 && strcmp(rl->states[i].major, major) == 0)
			return &rl->states[i];
	return NULL;
}

/* Forgets the least recently used idle state; 0 if one was freed. */
static int
evict_one(struct ratelimit *rl, int64_t now)
{
	size_t victim = SIZE_MAX;
	for (size_t i = 0; i < rl->state_count; i++) {
		struct bucket_state *s = &rl->states[i];
		if (s->in_flight || (s->reset_at > now && s->remaining <= 0))
			continue; /* still holding back requests: keep */
		if (victim == SIZE_MAX || s->last_used < rl->states[victim].last_used)
			victim = i;
	}
	if (victim == SIZE_MAX)
		return -1;
	rl->states[victim] = rl->states[--rl->state_count];
	return 0;
}

static struct bucket_state *
get_state(struct ratelimit *rl, const struct ratelimit_route *route, int64_t now)
{
	char key[80];
	state_key(rl, route, key, sizeof key);
	struct bucket_state *s = find_state(rl, key, route->major);
	if (s)
		return s;
	if (rl->state_count == MAX_STATES && evict_one(rl, now) < 0)
		return NULL;
	s = &rl->states[rl->state_count++];
	memset(s, 0, sizeof *s);
	snprintf(s->key, sizeof s->key, "%s", key);
	snprintf(s->major, sizeof s->major, "%s", route->major);
	return s;
}

/* ------------------------------------------------------------ global */

/* 0 when a global request may start now; > 0 ms to wait; or
 * RATELIMIT_WAIT_RESPONSE when global_per_second are in flight. */
static int64_t
global_wait(const struct ratelimit *rl, int64_t now)
{
	int n = rl->global_per_second;
	if (rl->global_in_flight >= n)
		return RATELIMIT_WAIT_RESPONSE;
	/* answers within the last window, newest last in the ring */
	int recent = 0;
	while (recent < rl->global_count) {
		int at = ((rl->global_next - recent - 1) % n + n) % n;
		if (rl->global_done[at] <= now - GLOBAL_WINDOW_MS)
			break;
		recent++;
	}
	int excess = rl->global_in_flight + recent - n + 1;
	if (excess <= 0)
		return 0;
	/* the excess oldest of the recent answers must leave the window */
	int at = ((rl->global_next - recent + excess - 1) % n + n) % n;
	return rl->global_done[at] + GLOBAL_WINDOW_MS - now;
}

static void
global_record_done(struct ratelimit *rl, int64_t now)
{
	if (rl->global_in_flight > 0)
		rl->global_in_flight--;
	rl->global_done[rl->global_next] = now;
	rl->global_next = (rl->global_next + 1) % rl->global_per_second;
	if (rl->global_count < rl->global_per_second)
		rl->global_count++;
}

/* ------------------------------------------------------------ API */

int64_t
ratelimit_acquire(struct ratelimit *rl, const struct ratelimit_route *route, int64_t now)
{
	/* a global 429 or a Cloudflare block holds everything but interaction
	 * answers: they are not bound to the global limit, and an interaction
	 * not answered within 3 s fails for the user */
	if (!route->global_exempt && rl->blocked_until > now)
		return rl->blocked_until - now;
	if (!route->global_exempt) {
		int64_t wait = global_wait(rl, now);
		if (wait != 0)
			return wait;
	}
	struct bucket_state *s = get_state(rl, route, now);
	if (!s)
		return -2;
	s->last_used = now;
	if (s->reset_at && now >= s->reset_at) {
		/* The window passed: the limit is whole again, but only once every
		 * request of the old window has answered. An answer arriving after
		 * the roll-over would otherwise be taken for the new window's and
		 * overwrite its count. */
		if (s->in_flight > 0)
			return RATELIMIT_WAIT_RESPONSE;
		s->remaining = s->limit;
		s->reset_at = 0;
	}
	if (!s->known) {
		/* probe: one request until a response tells the limit */
		if (s->in_flight > 0)
			return RATELIMIT_WAIT_RESPONSE;
	} else if (s->remaining <= 0) {
		if (s->reset_at > now)
			return s->reset_at - now;
		if (s->in_flight > 0)
			return RATELIMIT_WAIT_RESPONSE;
		/* no reset pending and nothing in flight: the state is stale */
	}
	if (!route->global_exempt)
		rl->global_in_flight++;
	s->in_flight++;
	if (s->known && s->remaining > 0)
		s->remaining--;
	return RATELIMIT_GO;
}

static void
count_invalid(struct ratelimit *rl, int64_t now)
{
	int64_t second = now / 1000;
	size_t slot = (size_t)(second % INVALID_WINDOW_S);
	if (rl->invalid_second[slot] != second) {
		rl->invalid_second[slot] = second;
		rl->invalid_count[slot] = 0;
	}
	rl->invalid_count[slot]++;
}

long
ratelimit_invalid_count(struct ratelimit *rl, int64_t now)
{
	int64_t second = now / 1000;
	long total = 0;
	for (size_t i = 0; i < INVALID_WINDOW_S; i++)
		if (rl->invalid_second[i] > second - INVALID_WINDOW_S &&
		    rl->invalid_second[i] <= second)
			total += rl->invalid_count[i];
	return total;
}

/* Records that route uses bucket, moving the route's state under the
 * bucket's key so that routes sharing a bucket share a state. */
static void
learn_bucket(struct ratelimit *rl, const struct ratelimit_route *route, const char *bucket)
{
	const char *known = bucket_of_route(rl, route->route);
	if (known && strcmp(known, bucket) == 0)
		return;
	char old_key[80], new_key[80];
	state_key(rl, route, old_key, sizeof old_key);
	if (known) {
		for (size_t i = 0; i < rl->route_count; i++)
			if (strcmp(rl->routes[i].route, route->route) == 0)
				snprintf(rl->routes[i].bucket, sizeof rl->routes[i].bucket, "%s",
				         bucket);
	} else if (rl->route_count < MAX_ROUTES) {
		struct route_bucket *r = &rl->routes[rl->route_count++];
		snprintf(r->route, sizeof r->route, "%s", route->route);
		snprintf(r->bucket, sizeof r->bucket, "%s", bucket);
	} else {
		return; /* table full: the route keeps its own state */
	}
	state_key(rl, route, new_key, sizeof new_key);
	/* every major id of this route moves to the bucket's key */
	for (size_t i = 0; i < rl->state_count; i++) {
		struct bucket_state *s = &rl->states[i];
		if (strcmp(s->key, old_key) != 0)
			continue;
		struct bucket_state *shared = find_state(rl, new_key, s->major);
		if (shared) {
			shared->in_flight += s->in_flight;
			rl->states[i] = rl->states[--rl->state_count];
			i--;
		} else {
			snprintf(s->key, sizeof s->key, "%s", new_key);
		}
	}
}

void
ratelimit_done(struct ratelimit *rl, const struct ratelimit_route *route,
               const struct ratelimit_response *resp, int64_t now)
{
	if (!route->global_exempt)
		global_record_done(rl, now);
	if (resp && resp->bucket[0])
		learn_bucket(rl, route, resp->bucket);
	struct bucket_state *s = get_state(rl, route, now);
	if (s && s->in_flight > 0)
		s->in_flight--;
	if (!resp)
		return;
	int status = resp->status;
	if (status == 401 || status == 403 || (status == 429 && !resp->scope_shared))
		count_invalid(rl, now);
	if (!s)
		return;
	s->last_used = now;
	if (resp->has_limit_headers && resp->limit > 0) {
		int64_t reset_at = now + (resp->reset_after_ms > 0 ? resp->reset_after_ms : 0);
		if (s->known && (s->reset_at > now || s->reset_at == 0)) {
			/* The same window (or the one we rolled over to, which
			 * starts with the whole limit and nothing in flight): our
			 * own count (the limit less what we sent) is exact, as
			 * long as no one else spends the bucket;
			 * the server's lowers it when someone does. Answers overtake
			 * each other on different connections (one saying 16 left
			 * after one saying 11), so the count only goes down, and the
			 * server's Remaining is not lowered by what is in flight:
			 * some of that was counted before this answer was written.
			 * Every answer's now + Reset-After is at or after the
			 * server's reset (computed before the answer travelled), so
			 * the earliest is the closest true bound. */
			if (resp->remaining < s->remaining)
				s->remaining = resp->remaining > 0 ? resp->remaining : 0;
			if (s->reset_at == 0 || reset_at < s->reset_at)
				s->reset_at = reset_at;
		} else {
			/* a new window: requests still in flight may have been
			 * started after the server counted this one, so they are
			 * not in its Remaining yet */
			long remaining = resp->remaining - s->in_flight;
			s->remaining = remaining > 0 ? remaining : 0;
			s->reset_at = reset_at;
		}
		s->known = 1;
		s->limit = resp->limit;
	}
	if (status == 429) {
		int64_t until = now + (resp->retry_after_ms > 0 ? resp->retry_after_ms : 1000);
		if (resp->global) {
			if (until > rl->blocked_until)
				rl->blocked_until = until;
		} else {
			s->known = 1;
			if (s->limit < 1)
				s->limit = 1;
			s->remaining = 0;
			if (until > s->reset_at)
				s->reset_at = until;
		}
	}
}

void
ratelimit_block_all(struct ratelimit *rl, int64_t until)
{
	if (until > rl->blocked_until)
		rl->blocked_until = until;
}
