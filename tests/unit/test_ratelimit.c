/* test_ratelimit.c — Discord's rate-limit rules as arithmetic, with a
 * made-up clock: buckets learned from headers, shared buckets, major ids,
 * the one-probe rule for unknown routes, the global limit and its exempt
 * interaction routes, 429s, and the invalid-request count. */
#include <stdio.h>
#include <string.h>

#include "ratelimit.h"
#include "test.h"

static struct ratelimit_route
route(const char *method, const char *path)
{
	struct ratelimit_route r;
	ratelimit_route_of(method, path, &r);
	return r;
}

static struct ratelimit_response
headers(int status, long limit, long remaining, int64_t reset_after_ms, const char *bucket)
{
	struct ratelimit_response resp;
	memset(&resp, 0, sizeof resp);
	resp.status = status;
	resp.has_limit_headers = 1;
	resp.limit = limit;
	resp.remaining = remaining;
	resp.reset_after_ms = reset_after_ms;
	strncpy(resp.bucket, bucket, sizeof resp.bucket - 1);
	return resp;
}

TEST(ratelimit_routes_keep_only_the_major_id)
{
	struct ratelimit_route r = route("PATCH", "/api/v10/channels/123/messages/456?x=1");
	CHECK_STR(r.route, "PATCH /channels/{}/messages/:id");
	CHECK_STR(r.major, "123");
	CHECK_INT(r.global_exempt, 0);

	r = route("POST", "/guilds/99/channels");
	CHECK_STR(r.route, "POST /guilds/{}/channels");
	CHECK_STR(r.major, "99");

	r = route("POST", "/interactions/777/tok-en/callback");
	CHECK_STR(r.route, "POST /interactions/{}/:token/callback");
	CHECK_STR(r.major, "777");
	CHECK_INT(r.global_exempt, 1);

	r = route("PATCH", "/webhooks/55/aToken/messages/@original");
	CHECK_STR(r.route, "PATCH /webhooks/{}/:token/messages/@original");
	CHECK_STR(r.major, "55/aToken");
	CHECK_INT(r.global_exempt, 1);

	r = route("PUT", "/channels/1/messages/2/reactions/%F0%9F%91%8D/@me");
	CHECK_STR(r.route, "PUT /channels/{}/messages/:id/reactions/:emoji/@me");

	r = route("GET", "/gateway/bot");
	CHECK_STR(r.route, "GET /gateway/bot");
	CHECK_STR(r.major, "");

	char long_path[400];
	memset(long_path, 'a', sizeof long_path - 1);
	long_path[0] = '/';
	long_path[sizeof long_path - 1] = '\0';
	struct ratelimit_route too_long;
	CHECK_INT(ratelimit_route_of("GET", long_path, &too_long), -1);
}

TEST(ratelimit_unknown_route_probes_one_at_a_time)
{
	struct ratelimit *rl = ratelimit_new(50);
	struct ratelimit_route r = route("POST", "/channels/1/messages");
	CHECK_INT(ratelimit_acquire(rl, &r, 1000), RATELIMIT_GO);
	/* no limit known yet: the second waits for the first's answer */
	CHECK_INT(ratelimit_acquire(rl, &r, 1001), RATELIMIT_WAIT_RESPONSE);
	struct ratelimit_response h = headers(200, 5, 4, 5000, "abc");
	ratelimit_done(rl, &r, &h, 1100);
	/* now 4 more may go at once, the 5th waits for the reset */
	for (int i = 0; i < 4; i++)
		CHECK_INT(ratelimit_acquire(rl, &r, 1200), RATELIMIT_GO);
	CHECK_INT(ratelimit_acquire(rl, &r, 1200), 6100 - 1200);
	/* the four answer (the window's end stays where it was) */
	for (long left = 3; left >= 0; left--) {
		h = headers(200, 5, left, 4800, "abc");
		ratelimit_done(rl, &r, &h, 1300);
	}
	/* after the reset the whole limit is back */
	CHECK_INT(ratelimit_acquire(rl, &r, 6100), RATELIMIT_GO);
	ratelimit_free(rl);
}

TEST(ratelimit_in_flight_requests_are_not_counted_twice)
{
	struct ratelimit *rl = ratelimit_new(50);
	struct ratelimit_route r = route("PATCH", "/channels/1/messages/9");
	CHECK_INT(ratelimit_acquire(rl, &r, 0), RATELIMIT_GO);
	struct ratelimit_response h = headers(200, 3, 2, 1000, "b");
	ratelimit_done(rl, &r, &h, 10);
	CHECK_INT(ratelimit_acquire(rl, &r, 20), RATELIMIT_GO);
	CHECK_INT(ratelimit_acquire(rl, &r, 20), RATELIMIT_GO);
	CHECK(ratelimit_acquire(rl, &r, 20) > 0);
	/* the first answer says 1 left, but one more is still in flight */
	h = headers(200, 3, 1, 990, "b");
	ratelimit_done(rl, &r, &h, 30);
	CHECK(ratelimit_acquire(rl, &r, 31) > 0);
	ratelimit_free(rl);
}

TEST(ratelimit_major_ids_have_their_own_limits)
{
	struct ratelimit *rl = ratelimit_new(50);
	struct ratelimit_route a = route("POST", "/channels/1/messages");
	struct ratelimit_route b = route("POST", "/channels/2/messages");
	CHECK_INT(ratelimit_acquire(rl, &a, 0), RATELIMIT_GO);
	struct ratelimit_response h = headers(200, 1, 0, 1000, "msg");
	ratelimit_done(rl, &a, &h, 5);
	CHECK(ratelimit_acquire(rl, &a, 6) > 0);
	/* another channel is another bucket instance */
	CHECK_INT(ratelimit_acquire(rl, &b, 6), RATELIMIT_GO);
	ratelimit_free(rl);
}

TEST(ratelimit_routes_sharing_a_bucket_share_its_limit)
{
	struct ratelimit *rl = ratelimit_new(50);
	struct ratelimit_route edit = route("PATCH", "/channels/1/messages/5");
	struct ratelimit_route post = route("POST", "/channels/1/messages");
	CHECK_INT(ratelimit_acquire(rl, &edit, 0), RATELIMIT_GO);
	struct ratelimit_response h = headers(200, 2, 1, 1000, "shared");
	ratelimit_done(rl, &edit, &h, 1);
	CHECK_INT(ratelimit_acquire(rl, &post, 2), RATELIMIT_GO);
	h = headers(200, 2, 0, 999, "shared");
	ratelimit_done(rl, &post, &h, 3);
	/* both routes now point at bucket "shared", which is used up */
	CHECK(ratelimit_acquire(rl, &edit, 4) > 0);
	CHECK(ratelimit_acquire(rl, &post, 4) > 0);
	ratelimit_free(rl);
}

TEST(ratelimit_global_limit_and_exempt_interactions)
{
	struct ratelimit *rl = ratelimit_new(50);
	char path[64];
	int went = 0;
	static struct ratelimit_route sent[60];
	/* 60 different channels: buckets are free, the global limit is not */
	for (int i = 0; i < 60; i++) {
		snprintf(path, sizeof path, "/channels/%d/messages", i + 1);
		struct ratelimit_route r = route("POST", path);
		if (ratelimit_acquire(rl, &r, 100) == RATELIMIT_GO)
			sent[went++] = r;
	}
	CHECK_INT(went, 50);
	/* 50 in flight: the next waits for an answer */
	struct ratelimit_route r = route("POST", "/channels/999/messages");
	CHECK_INT(ratelimit_acquire(rl, &r, 100), RATELIMIT_WAIT_RESPONSE);
	/* answered at 150: each counts until one second after its answer */
	struct ratelimit_response ok = headers(200, 5, 4, 5000, "");
	for (int i = 0; i < went; i++)
		ratelimit_done(rl, &sent[i], &ok, 150);
	/* (one second, and 50 ms for our clock's error) */
	CHECK_INT(ratelimit_acquire(rl, &r, 150), 1050);
	CHECK_INT(ratelimit_acquire(rl, &r, 1200), RATELIMIT_GO);
	/* interaction callbacks are exempt from the global limit */
	struct ratelimit *busy = ratelimit_new(1);
	struct ratelimit_route any = route("GET", "/gateway/bot");
	CHECK_INT(ratelimit_acquire(busy, &any, 0), RATELIMIT_GO);
	struct ratelimit_route cb = route("POST", "/interactions/1/t/callback");
	CHECK_INT(ratelimit_acquire(busy, &cb, 0), RATELIMIT_GO);
	ratelimit_free(busy);
	ratelimit_free(rl);
}

TEST(ratelimit_429_blocks_the_bucket_or_everything)
{
	struct ratelimit *rl = ratelimit_new(50);
	struct ratelimit_route r = route("POST", "/channels/1/messages");
	struct ratelimit_route other = route("POST", "/guilds/1/channels");
	CHECK_INT(ratelimit_acquire(rl, &r, 0), RATELIMIT_GO);
	struct ratelimit_response h;
	memset(&h, 0, sizeof h);
	h.status = 429;
	h.retry_after_ms = 1500;
	ratelimit_done(rl, &r, &h, 10);
	CHECK_INT(ratelimit_acquire(rl, &r, 20), 1490);
	CHECK_INT(ratelimit_acquire(rl, &other, 20), RATELIMIT_GO);
	/* a global 429 stops every route but interaction callbacks, which
	 * are not bound to the global limit (issue 12.4) */
	h.global = 1;
	h.retry_after_ms = 2000;
	ratelimit_done(rl, &other, &h, 30);
	CHECK_INT(ratelimit_acquire(rl, &other, 40), 1990);
	struct ratelimit_route cb = route("POST", "/interactions/1/t/callback");
	CHECK_INT(ratelimit_acquire(rl, &cb, 40), RATELIMIT_GO);
	/* and so does a Cloudflare block */
	ratelimit_block_all(rl, 60000);
	CHECK_INT(ratelimit_acquire(rl, &r, 3000), 57000);
	struct ratelimit_route cb2 = route("POST", "/interactions/2/t/callback");
	CHECK_INT(ratelimit_acquire(rl, &cb2, 3000), RATELIMIT_GO);
	ratelimit_free(rl);
}

TEST(ratelimit_counts_invalid_requests_over_ten_minutes)
{
	struct ratelimit *rl = ratelimit_new(50);
	struct ratelimit_route r = route("GET", "/gateway/bot");
	struct ratelimit_response h;
	memset(&h, 0, sizeof h);
	int statuses[] = {401, 403, 429, 404, 200};
	for (int i = 0; i < 5; i++) {
		ratelimit_acquire(rl, &r, 0);
		h.status = statuses[i];
		h.retry_after_ms = 1;
		ratelimit_done(rl, &r, &h, 1000 + i);
	}
	CHECK_INT(ratelimit_invalid_count(rl, 2000), 3);
	/* a 429 of scope "shared" does not count */
	h.status = 429;
	h.scope_shared = 1;
	ratelimit_done(rl, &r, &h, 5000);
	CHECK_INT(ratelimit_invalid_count(rl, 6000), 3);
	/* ten minutes later they are forgotten */
	CHECK_INT(ratelimit_invalid_count(rl, 1000 + 600 * 1000 + 1000), 0);
	ratelimit_free(rl);
}

TEST(ratelimit_block_all_and_failed_requests)
{
	struct ratelimit *rl = ratelimit_new(50);
	struct ratelimit_route r = route("GET", "/gateway/bot");
	CHECK_INT(ratelimit_acquire(rl, &r, 0), RATELIMIT_GO);
	/* a request that got no response frees its probe slot */
	ratelimit_done(rl, &r, NULL, 5);
	CHECK_INT(ratelimit_acquire(rl, &r, 6), RATELIMIT_GO);
	ratelimit_block_all(rl, 60000);
	CHECK_INT(ratelimit_acquire(rl, &r, 10000), 50000);
	ratelimit_free(rl);
}

/* A burst of 200 edits against a server that really enforces the limit:
 * a small simulation of Discord's side (5 per 1 s window per channel)
 * must never see a request that would be over the limit. */
TEST(ratelimit_burst_of_200_edits_never_exceeds_the_limit)
{
	struct ratelimit *rl = ratelimit_new(50);
	struct ratelimit_route r = route("PATCH", "/channels/7/messages/8");
	int64_t now = 0, window_start = 0;
	int used = 0, sent = 0, over = 0;
	while (sent < 200 && now < 100000) {
		int64_t wait = ratelimit_acquire(rl, &r, now);
		if (wait != RATELIMIT_GO) {
			now += wait > 0 ? wait : 1;
			continue;
		}
		/* server side: fixed windows of 1000 ms from the first request */
		if (now >= window_start + 1000) {
			window_start = now;
			used = 0;
		}
		if (++used > 5)
			over++;
		sent++;
		int64_t reply_at = now + 3; /* round trip */
		struct ratelimit_response h = headers(200, 5, used <= 5 ? 5 - used : 0,
		                                      window_start + 1000 - reply_at, "edit");
		ratelimit_done(rl, &r, &h, reply_at);
		now = reply_at;
	}
	CHECK_INT(sent, 200);
	CHECK_INT(over, 0);
	/* and it is not needlessly slow: 200 at 5/s is about 40 s */
	CHECK(now < 41000);
	ratelimit_free(rl);
}

/* Answers on different connections overtake each other: one saying 16
 * left may come after one saying 11. Within a window the count must only
 * go down, or a burst sends more than the limit (the emulator saw 27 in a
 * window of 20 before this rule). */
TEST(ratelimit_out_of_order_answers_never_raise_the_count)
{
	struct ratelimit *rl = ratelimit_new(50);
	struct ratelimit_route r = route("PATCH", "/channels/3/messages/4");
	CHECK_INT(ratelimit_acquire(rl, &r, 0), RATELIMIT_GO);
	struct ratelimit_response h = headers(200, 20, 19, 500, "e");
	ratelimit_done(rl, &r, &h, 2);
	for (int i = 0; i < 8; i++)
		CHECK_INT(ratelimit_acquire(rl, &r, 3), RATELIMIT_GO);
	/* 11 left locally; the server's answers come back 12, 14, then 17 */
	long said[] = {12, 14, 17};
	for (int i = 0; i < 3; i++) {
		h = headers(200, 20, said[i], 490, "e");
		ratelimit_done(rl, &r, &h, 10);
	}
	/* 5 in flight: at most 11 more in this window, whatever came last */
	int went = 0;
	while (ratelimit_acquire(rl, &r, 11) == RATELIMIT_GO)
		went++;
	CHECK(went <= 11);
	ratelimit_free(rl);
}

/* A window rolls over only when the old window's requests have answered:
 * a late answer would otherwise overwrite the new window's count. */
TEST(ratelimit_rolls_over_only_when_the_old_window_answered)
{
	struct ratelimit *rl = ratelimit_new(50);
	struct ratelimit_route r = route("PATCH", "/channels/3/messages/4");
	CHECK_INT(ratelimit_acquire(rl, &r, 0), RATELIMIT_GO);
	struct ratelimit_response h = headers(200, 2, 1, 1000, "e");
	ratelimit_done(rl, &r, &h, 0);
	CHECK_INT(ratelimit_acquire(rl, &r, 10), RATELIMIT_GO); /* slow to answer */
	CHECK(ratelimit_acquire(rl, &r, 20) > 0);
	/* the window has passed, but its last request has not answered */
	CHECK_INT(ratelimit_acquire(rl, &r, 1001), RATELIMIT_WAIT_RESPONSE);
	h = headers(200, 2, 0, 0, "e");
	ratelimit_done(rl, &r, &h, 1005);
	CHECK_INT(ratelimit_acquire(rl, &r, 1006), RATELIMIT_GO);
	CHECK_INT(ratelimit_acquire(rl, &r, 1006), RATELIMIT_GO);
	ratelimit_free(rl);
}

/* The server counts arrivals: a request whose answer took 300 ms may have
 * arrived at 299, so the next request over the limit waits until one
 * window after 300, not after 0. */
TEST(ratelimit_global_window_counts_from_the_answer)
{
	struct ratelimit *rl = ratelimit_new(2);
	struct ratelimit_route a = route("GET", "/channels/1");
	struct ratelimit_route b = route("GET", "/channels/2");
	struct ratelimit_route c = route("GET", "/channels/3");
	CHECK_INT(ratelimit_acquire(rl, &a, 0), RATELIMIT_GO);
	CHECK_INT(ratelimit_acquire(rl, &b, 0), RATELIMIT_GO);
	struct ratelimit_response ok = headers(200, 5, 4, 5000, "");
	ratelimit_done(rl, &b, &ok, 10);
	ratelimit_done(rl, &a, &ok, 300);
	/* the window is 1050 ms: one second and 50 ms for our clock's error */
	CHECK_INT(ratelimit_acquire(rl, &c, 1000), 60);
	CHECK_INT(ratelimit_acquire(rl, &c, 1060), RATELIMIT_GO);
	/* c in flight and a's answer at 300 fill the window of 2 */
	CHECK_INT(ratelimit_acquire(rl, &c, 1060), 290);
	ratelimit_done(rl, &c, &ok, 1070);
	CHECK_INT(ratelimit_acquire(rl, &c, 1070), 280);
	ratelimit_free(rl);
}

/* After a roll-over our own count is exact: the first answer to come back
 * may be the fifth request's (15 left), which must not cost the window the
 * four whose answers are still on the way (the emulator saw windows of 16
 * instead of 20 before this rule). */
TEST(ratelimit_first_answer_after_roll_over_keeps_our_count)
{
	struct ratelimit *rl = ratelimit_new(50);
	struct ratelimit_route r = route("PATCH", "/channels/3/messages/4");
	CHECK_INT(ratelimit_acquire(rl, &r, 0), RATELIMIT_GO);
	struct ratelimit_response h = headers(200, 20, 0, 500, "e");
	ratelimit_done(rl, &r, &h, 5);
	/* the window passes: the whole limit, 8 sent at once */
	for (int i = 0; i < 8; i++)
		CHECK_INT(ratelimit_acquire(rl, &r, 600), RATELIMIT_GO);
	h = headers(200, 20, 15, 495, "e");
	ratelimit_done(rl, &r, &h, 605);
	int went = 0;
	while (ratelimit_acquire(rl, &r, 606) == RATELIMIT_GO)
		went++;
	CHECK_INT(went, 12);
	ratelimit_free(rl);
}
