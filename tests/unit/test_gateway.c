/* test_gateway.c — the gateway session against the Discord emulator
 * (tests/emulator/), over real TLS, real WebSocket framing and real
 * zlib-stream compression. What the bot sent is read back from the
 * emulator's control API, so each test checks both sides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emulator.h"
#include "gateway.h"
#include "guild.h"
#include "json.h"
#include "loop.h"
#include "test.h"
#include "tls.h"

struct session {
	struct loop *loop;
	struct tls_trust *trust;
	struct gateway *g;
	int ready, resumed, down, closed, fatal;
	int guild_creates, messages;
	struct guild *guild; /* fed GUILD_CREATE when set */
	int gc_members;      /* d.members present in the last GUILD_CREATE */
	int guild_updates;   /* GUILD_UPDATE: a big event without a keep rule */
	size_t update_members, update_channels;
	int raw_messages, raw_bad; /* MESSAGE_CREATEs handed over raw */
	char last_message[256];
	char session_id[128];
	int refresh_calls;
	struct loop_timer refresh_timer; /* answers the owner's URL request later */
};

static void
on_event(struct gateway *g, enum gateway_event ev, const char *name, const struct json_value *d,
         void *data)
{
	(void)g;
	struct session *s = data;
	switch (ev) {
	case GATEWAY_READY:
		s->ready++;
		snprintf(s->session_id, sizeof s->session_id, "%s",
		         json_path_str(d, "session_id") ? json_path_str(d, "session_id") : "");
		break;
	case GATEWAY_RESUMED:
		s->resumed++;
		break;
	case GATEWAY_DISPATCH:
		if (strcmp(name, "GUILD_CREATE") == 0) {
			s->guild_creates++;
			s->gc_members = json_get(d, "members") != NULL;
			if (s->guild)
				guild_on_event(s->guild, name, d);
		}
		if (strcmp(name, "GUILD_UPDATE") == 0) {
			s->guild_updates++;
			s->update_members = json_len(json_get(d, "members"));
			s->update_channels = json_len(json_get(d, "channels"));
		}
		if (strcmp(name, "MESSAGE_CREATE") == 0) {
			s->messages++;
			const char *content = json_path_str(d, "content");
			snprintf(s->last_message, sizeof s->last_message, "%s",
			         content ? content : "");
		}
		break;
	case GATEWAY_DOWN:
		s->down++;
		break;
	case GATEWAY_CLOSED:
		s->closed++;
		break;
	case GATEWAY_FATAL:
		s->fatal++;
		break;
	}
}

static int
is_ready(void *arg)
{
	struct session *s = arg;
	return s->ready > 0 && s->guild_creates > 0;
}

static int
resumed(void *arg)
{
	return ((struct session *)arg)->resumed > 0;
}

static int
fatal(void *arg)
{
	return ((struct session *)arg)->fatal > 0;
}

static int
closed(void *arg)
{
	return ((struct session *)arg)->closed > 0;
}

static int
ready_twice(void *arg)
{
	return ((struct session *)arg)->ready >= 2;
}

/* A fresh emulator world and a gateway connected to it (READY seen).
 * Returns 0, or -1 after recording a failure. */
static int
session_open(struct session *s, const struct gateway_options *extra)
{
	memset(s, 0, sizeof *s);
	if (!CHECK(emu_start() == 0))
		return -1;
	CHECK_INT(emu_call("POST", "/reset", "{}", NULL), 200);
	char err[200];
	s->loop = loop_new();
	s->trust = tls_trust_load(emu_ca_file(), err, sizeof err);
	if (!CHECK(s->loop && s->trust))
		return -1;
	struct gateway_options opt = {0};
	if (extra)
		opt = *extra;
	opt.token = emu_token();
	opt.intents = GATEWAY_INTENT_GUILDS | GATEWAY_INTENT_GUILD_MESSAGES;
	opt.url = emu_gateway_url();
	opt.trust = s->trust;
	if (!extra)
		opt.identify_remaining = 1000;
	opt.backoff_max_ms = opt.backoff_max_ms ? opt.backoff_max_ms : 1000;
	opt.identify_gap_ms = opt.identify_gap_ms ? opt.identify_gap_ms : 200;
	s->g = gateway_new(s->loop, &opt, on_event, s);
	if (!CHECK(s->g) || !CHECK_INT(gateway_start(s->g), 0))
		return -1;
	return 0;
}

static void
session_close(struct session *s)
{
	gateway_free(s->g);
	tls_trust_free(s->trust);
	loop_free(s->loop);
}

/* What the emulator recorded of the gateway (GET /gateway), parsed. */
struct emu_view {
	struct json_doc doc;
	struct buf body;
};

static const struct json_value *
view_gateway(struct emu_view *v)
{
	json_doc_init(&v->doc, 1 << 22);
	buf_init(&v->body, 1 << 22);
	emu_call("GET", "/gateway", NULL, &v->body);
	return json_parse(&v->doc, v->body.data, v->body.len);
}

static void
view_free(struct emu_view *v)
{
	json_doc_free(&v->doc);
	buf_free(&v->body);
}

TEST(gateway_identifies_over_zlib_stream_with_two_intents)
{
	struct session s;
	if (session_open(&s, NULL) < 0)
		return;
	CHECK(test_run_until(s.loop, is_ready, &s, 10000));
	CHECK(gateway_is_ready(s.g));

	struct emu_view v;
	const struct json_value *g = view_gateway(&v);
	/* GUILDS | GUILD_MESSAGES, no privileged intents */
	int64_t intents = 0;
	CHECK_INT(json_path_int64(g, "identifies[0].payload.intents", &intents), 0);
	CHECK_INT(intents, 513);
	CHECK_STR(json_path_str(g, "identifies[0].payload.token"), "<ok>");
	CHECK_STR(json_path_str(g, "connections[0].query.compress"), "zlib-stream");
	CHECK_STR(json_path_str(g, "connections[0].query.encoding"), "json");
	CHECK_STR(json_path_str(g, "connections[0].query.v"), "10");
	CHECK_INT(json_len(json_get(g, "identifies")), 1);
	view_free(&v);
	session_close(&s);
}

static int
two_acks(void *arg)
{
	struct session *s = arg;
	struct gateway_stats st;
	gateway_get_stats(s->g, &st);
	return st.acks >= 2;
}

TEST(gateway_heartbeats_with_the_last_sequence)
{
	struct session s;
	if (session_open(&s, NULL) < 0)
		return;
	CHECK(test_run_until(s.loop, is_ready, &s, 10000));
	/* the emulator's interval is 1000 ms; the first beat is jittered */
	CHECK(test_run_until(s.loop, two_acks, &s, 5000));
	struct gateway_stats st;
	gateway_get_stats(s.g, &st);
	CHECK(st.heartbeats >= 2);
	CHECK(st.last_heartbeat_rtt_ms >= 0 && st.last_heartbeat_rtt_ms < 1000);

	struct emu_view v;
	const struct json_value *g = view_gateway(&v);
	/* after READY and GUILD_CREATE the sequence is at least 2 */
	int64_t d = 0;
	CHECK_INT(json_path_int64(g, "connections[0].heartbeat_seqs[1]", &d), 0);
	CHECK(d >= 2);
	view_free(&v);
	session_close(&s);
}

TEST(gateway_resumes_after_a_dropped_connection_and_gets_missed_events)
{
	struct session s;
	if (session_open(&s, NULL) < 0)
		return;
	CHECK(test_run_until(s.loop, is_ready, &s, 10000));
	CHECK_INT(emu_call("POST", "/faults/gateway", "{\"action\": \"drop\"}", NULL), 200);
	/* an event while the bot is away is kept for its RESUME */
	CHECK_INT(
	        emu_call("POST", "/inject/message", "{\"content\": \"while you were away\"}", NULL),
	        200);
	CHECK(test_run_until(s.loop, resumed, &s, 10000));
	CHECK_INT(s.ready, 1); /* resumed, not identified again */
	CHECK(s.down >= 1);
	/* (content is empty without the privileged MESSAGE_CONTENT intent) */
	CHECK_INT(s.messages, 1);

	struct emu_view v;
	const struct json_value *g = view_gateway(&v);
	CHECK_INT(json_len(json_get(g, "identifies")), 1);
	CHECK_STR(json_path_str(g, "resumes[0].outcome"), "resumed");
	/* through resume_gateway_url, as READY said */
	CHECK_STR(json_path_str(g, "resumes[0].path"), "/resume");
	view_free(&v);
	session_close(&s);
}

/* Fault, then: the bot closed with close_code and resumed (or identified). */
static void
fault_then_recover(const char *fault, int expect_resume, int64_t expect_client_close)
{
	struct session s;
	if (session_open(&s, NULL) < 0)
		return;
	CHECK(test_run_until(s.loop, is_ready, &s, 10000));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(emu_call("POST", "/faults/gateway", fault, NULL), 200);
	if (expect_resume)
		CHECK(test_run_until(s.loop, resumed, &s, 10000));
	else
		CHECK(test_run_until(s.loop, ready_twice, &s, 15000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int64_t ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;

	struct emu_view v;
	const struct json_value *g = view_gateway(&v);
	int64_t code = 0;
	json_path_int64(g, "connections[0].close_code_from_client", &code);
	if (expect_client_close)
		CHECK_INT(code, expect_client_close);
	CHECK_INT(json_len(json_get(g, "identifies")), expect_resume ? 1 : 2);
	if (!expect_resume) {
		/* op 9 d=false: a random 1-5 s wait before identifying again */
		CHECK(ms >= 1000);
		CHECK(ms < 8000);
	}
	view_free(&v);
	session_close(&s);
}

TEST(gateway_op7_reconnect_closes_4000_and_resumes)
{
	fault_then_recover("{\"action\": \"reconnect\"}", 1, 4000);
}

TEST(gateway_op9_resumable_resumes)
{
	fault_then_recover("{\"action\": \"invalid_session\", \"resumable\": true}", 1, 4000);
}

TEST(gateway_op9_not_resumable_waits_then_identifies)
{
	fault_then_recover("{\"action\": \"invalid_session\", \"resumable\": false}", 0, 0);
}

TEST(gateway_zombie_connection_is_closed_4000_and_resumed)
{
	struct session s;
	if (session_open(&s, NULL) < 0)
		return;
	CHECK(test_run_until(s.loop, is_ready, &s, 10000));
	CHECK_INT(emu_call("POST", "/faults/gateway", "{\"action\": \"zombie\"}", NULL), 200);
	CHECK(test_run_until(s.loop, resumed, &s, 10000));
	struct gateway_stats st;
	gateway_get_stats(s.g, &st);
	CHECK_INT(st.zombies, 1);

	struct emu_view v;
	const struct json_value *g = view_gateway(&v);
	int64_t code = 0;
	json_path_int64(g, "connections[0].close_code_from_client", &code);
	CHECK_INT(code, 4000);
	CHECK_INT(json_len(json_get(g, "identifies")), 1);
	view_free(&v);
	session_close(&s);
}

TEST(gateway_server_heartbeat_request_is_answered)
{
	struct session s;
	if (session_open(&s, NULL) < 0)
		return;
	CHECK(test_run_until(s.loop, is_ready, &s, 10000));
	struct gateway_stats before, after;
	gateway_get_stats(s.g, &before);
	CHECK_INT(emu_call("POST", "/faults/gateway", "{\"action\": \"heartbeat_request\"}", NULL),
	          200);
	/* well before the next scheduled beat could explain it */
	for (int i = 0; i < 40; i++) {
		gateway_get_stats(s.g, &after);
		if (after.heartbeats > before.heartbeats)
			break;
		test_run_until(s.loop, fatal, &s, 5);
	}
	CHECK(after.heartbeats > before.heartbeats);
	session_close(&s);
}

TEST(gateway_fatal_close_codes_stop_for_good)
{
	static const char *const faults[] = {
	        "{\"action\": \"close\", \"code\": 4004, \"reason\": \"Authentication failed.\"}",
	        "{\"action\": \"close\", \"code\": 4014, \"reason\": \"Disallowed intent(s).\"}",
	};
	static const char *const expect[] = {"4004: authentication failed",
	                                     "4014: disallowed intents"};
	for (int i = 0; i < 2; i++) {
		struct session s;
		if (session_open(&s, NULL) < 0)
			return;
		CHECK(test_run_until(s.loop, is_ready, &s, 10000));
		CHECK_INT(emu_call("POST", "/faults/gateway", faults[i], NULL), 200);
		CHECK(test_run_until(s.loop, fatal, &s, 5000));
		CHECK(strstr(gateway_error(s.g), expect[i]));
		/* and it does not come back: no second connection in 1.5 s */
		test_run_until(s.loop, ready_twice, &s, 1500);
		struct gateway_stats st;
		gateway_get_stats(s.g, &st);
		CHECK_INT(st.connects, 1);
		CHECK_INT(st.identifies, 1);
		session_close(&s);
	}
}

TEST(gateway_session_timeout_4009_identifies_anew)
{
	struct session s;
	if (session_open(&s, NULL) < 0)
		return;
	CHECK(test_run_until(s.loop, is_ready, &s, 10000));
	char first[128];
	snprintf(first, sizeof first, "%s", s.session_id);
	CHECK_INT(emu_call("POST", "/faults/gateway",
	                   "{\"action\": \"close\", \"code\": 4009, \"reason\": \"Session timed "
	                   "out.\"}",
	                   NULL),
	          200);
	CHECK(test_run_until(s.loop, ready_twice, &s, 10000));
	CHECK(strcmp(first, s.session_id) != 0);
	CHECK_INT(s.resumed, 0);
	session_close(&s);
}

TEST(gateway_close_sends_1000_and_reports_closed)
{
	struct session s;
	if (session_open(&s, NULL) < 0)
		return;
	CHECK(test_run_until(s.loop, is_ready, &s, 10000));
	gateway_close(s.g);
	CHECK(test_run_until(s.loop, closed, &s, 5000));
	CHECK(!gateway_is_ready(s.g));

	struct emu_view v;
	const struct json_value *g = view_gateway(&v);
	int64_t code = 0;
	json_path_int64(g, "connections[0].close_code_from_client", &code);
	CHECK_INT(code, 1000);
	view_free(&v);
	session_close(&s);
}

TEST(gateway_split_compressed_payloads_are_reassembled)
{
	struct session s;
	if (session_open(&s, NULL) < 0)
		return;
	CHECK(test_run_until(s.loop, is_ready, &s, 10000));
	CHECK_INT(emu_call("POST", "/faults/gateway",
	                   "{\"action\": \"split\", \"parts\": 3, \"mode\": \"messages\", "
	                   "\"count\": 2}",
	                   NULL),
	          200);
	CHECK_INT(emu_call("POST", "/inject/message", "{\"content\": \"split in three\"}", NULL),
	          200);
	for (int i = 0; i < 200 && s.messages == 0; i++)
		test_run_until(s.loop, fatal, &s, 10);
	CHECK_INT(s.messages, 1);
	CHECK(gateway_is_ready(s.g));
	session_close(&s);
}

/* With no session starts left, the identify waits for the reset; and
 * identifies that get no READY are spaced further and further apart. */
TEST(gateway_identify_is_rationed)
{
	struct gateway_options opt = {0};
	opt.identify_remaining = 0;
	opt.identify_reset_after_ms = 1200;
	struct session s;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (session_open(&s, &opt) < 0)
		return;
	CHECK(test_run_until(s.loop, is_ready, &s, 10000));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int64_t ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK(ms >= 1100);
	session_close(&s);
}

/* A token Discord refuses: one IDENTIFY, close 4004, fatal, no retry. */
TEST(gateway_wrong_token_is_fatal_after_one_identify)
{
	struct session s;
	if (session_open(&s, NULL) < 0)
		return;
	/* the emulator now expects another token than the bot has */
	CHECK_INT(emu_call("POST", "/config", "{\"token\": \"rotated-token\"}", NULL), 200);
	CHECK(test_run_until(s.loop, fatal, &s, 10000));
	CHECK(strstr(gateway_error(s.g), "4004: authentication failed: the bot token is wrong"));
	test_run_until(s.loop, ready_twice, &s, 1500);
	struct gateway_stats st;
	gateway_get_stats(s.g, &st);
	CHECK_INT(st.identifies, 1);
	CHECK_INT(st.connects, 1);
	CHECK_INT(s.ready, 0);
	session_close(&s);
	CHECK_INT(emu_call("POST", "/config", "{\"token\": \"emulator-bot-token\"}", NULL), 200);
}

/* A server close 1000 or 1001 (Discord restarting a gateway node) is
 * resumed: the session survives and an event sent meanwhile arrives once,
 * with no second IDENTIFY. */
TEST(gateway_server_close_1000_and_1001_are_resumed)
{
	static const int codes[] = {1000, 1001};
	for (int i = 0; i < 2; i++) {
		struct session s;
		if (session_open(&s, NULL) < 0)
			return;
		CHECK(test_run_until(s.loop, is_ready, &s, 10000));
		char fault[128];
		snprintf(fault, sizeof fault,
		         "{\"action\": \"close\", \"code\": %d, \"reason\": \"going away\"}",
		         codes[i]);
		CHECK_INT(emu_call("POST", "/faults/gateway", fault, NULL), 200);
		CHECK_INT(emu_call("POST", "/inject/message", "{\"content\": \"meanwhile\"}", NULL),
		          200);
		CHECK(test_run_until(s.loop, resumed, &s, 10000));
		CHECK_INT(s.ready, 1);
		CHECK_INT(s.messages, 1);
		struct gateway_stats st;
		gateway_get_stats(s.g, &st);
		CHECK_INT(st.identifies, 1);
		CHECK_INT(st.resumes, 1);
		struct emu_view v;
		const struct json_value *g = view_gateway(&v);
		int64_t code = 0;
		json_path_int64(g, "connections[0].close_code_from_server", &code);
		CHECK_INT(code, codes[i]);
		CHECK_INT(json_len(json_get(g, "identifies")), 1);
		CHECK_STR(json_path_str(g, "resumes[0].outcome"), "resumed");
		view_free(&v);
		session_close(&s);
	}
}

/* resume_gateway_url unreachable (a refused port, a peer that does not
 * speak TLS, a URL that does not parse): after 3 failed tries the bot
 * gives the session up and IDENTIFYs on the gateway URL, instead of
 * retrying the dead URL forever. Measured: 3 connections to the bad URL,
 * then a READY of a new session through the original URL. */
TEST(gateway_unreachable_resume_url_falls_back_to_a_new_session)
{
	static const char *const modes[] = {"refused", "bad_tls", "bad_url"};
	for (int i = 0; i < 3; i++) {
		struct session s;
		if (session_open(&s, NULL) < 0)
			return;
		/* before the loop runs, so READY carries the bad URL */
		char fault[128];
		snprintf(fault, sizeof fault, "{\"action\": \"resume_url\", \"mode\": \"%s\"}",
		         modes[i]);
		CHECK_INT(emu_call("POST", "/faults/gateway", fault, NULL), 200);
		CHECK(test_run_until(s.loop, is_ready, &s, 10000));
		char first[128];
		snprintf(first, sizeof first, "%s", s.session_id);
		CHECK_INT(emu_call("POST", "/faults/gateway", "{\"action\": \"drop\"}", NULL), 200);
		CHECK(test_run_until(s.loop, ready_twice, &s, 15000));
		CHECK(gateway_is_ready(s.g));
		CHECK(strcmp(first, s.session_id) != 0);
		struct gateway_stats st;
		gateway_get_stats(s.g, &st);
		CHECK_INT(st.resume_url_fallbacks, 1);
		CHECK_INT(st.identifies, 2);
		CHECK_INT(st.resumes, 0);
		/* the first connection, three at the bad URL, the new session */
		CHECK_INT(st.connects, 5);
		struct emu_view v;
		const struct json_value *g = view_gateway(&v);
		CHECK_INT(json_len(json_get(g, "identifies")), 2);
		CHECK_INT(json_len(json_get(g, "resumes")), 0);
		if (strcmp(modes[i], "bad_tls") == 0) {
			int64_t hits = 0;
			json_path_int64(g, "bad_tls_connections", &hits);
			CHECK_INT(hits, 3);
		}
		view_free(&v);
		CHECK_INT(emu_call("POST", "/faults/gateway",
		                   "{\"action\": \"resume_url\", \"mode\": \"off\"}", NULL),
		          200);
		session_close(&s);
	}
}

/* Bytes that are not TLS, written under the TLS layer mid-stream: the
 * client's TLS engine fails, and the session is resumed (nothing lost). */
TEST(gateway_tls_error_mid_stream_is_resumed)
{
	struct session s;
	if (session_open(&s, NULL) < 0)
		return;
	CHECK(test_run_until(s.loop, is_ready, &s, 10000));
	CHECK_INT(emu_call("POST", "/faults/gateway", "{\"action\": \"tls_garbage\"}", NULL), 200);
	CHECK_INT(emu_call("POST", "/inject/message", "{\"content\": \"meanwhile\"}", NULL), 200);
	CHECK(test_run_until(s.loop, resumed, &s, 10000));
	CHECK_INT(s.ready, 1);
	CHECK_INT(s.messages, 1);
	CHECK(s.down >= 1);
	session_close(&s);
}

/* The owner asked for a fresh gateway URL answers 300 ms later, as a
 * GET /gateway/bot would. */
static void
on_refresh_answer(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct session *s = t->data;
	char url[256];
	snprintf(url, sizeof url, "%s/fresh", emu_gateway_url());
	CHECK_INT(gateway_set_url(s->g, url), 0);
}

static void
on_refresh_url(struct gateway *g, void *data)
{
	(void)g;
	struct session *s = data;
	s->refresh_calls++;
	loop_timer_init(&s->refresh_timer, on_refresh_answer, s);
	loop_timer_start(s->loop, &s->refresh_timer, 300);
}

/* When the resume URL is given up, the owner is asked once for a fresh
 * gateway URL, and the new session goes there (the emulator records the
 * path of the connection that identified). */
TEST(gateway_fallback_identifies_on_the_fresh_url_from_the_owner)
{
	struct gateway_options opt = {.refresh_url = on_refresh_url, .identify_remaining = 1000};
	struct session s;
	if (session_open(&s, &opt) < 0)
		return;
	CHECK_INT(emu_call("POST", "/faults/gateway",
	                   "{\"action\": \"resume_url\", \"mode\": \"refused\"}", NULL),
	          200);
	CHECK(test_run_until(s.loop, is_ready, &s, 10000));
	CHECK_INT(emu_call("POST", "/faults/gateway", "{\"action\": \"drop\"}", NULL), 200);
	CHECK(test_run_until(s.loop, ready_twice, &s, 20000));
	CHECK_INT(s.refresh_calls, 1);
	struct emu_view v;
	const struct json_value *g = view_gateway(&v);
	const struct json_value *conns = json_get(g, "connections");
	size_t n = json_len(conns);
	CHECK(n >= 2);
	CHECK_STR(json_path_str(json_at(conns, n - 1), "path"), "/fresh");
	CHECK_INT(json_len(json_get(g, "identifies")), 2);
	view_free(&v);
	CHECK_INT(gateway_set_url(s.g, "https://not-a-gateway"), -1);
	CHECK_INT(emu_call("POST", "/faults/gateway",
	                   "{\"action\": \"resume_url\", \"mode\": \"off\"}", NULL),
	          200);
	loop_timer_stop(s.loop, &s.refresh_timer);
	session_close(&s);
}

static int
two_guild_creates(void *arg)
{
	return ((struct session *)arg)->guild_creates >= 2;
}

static int
got_guild_update(void *arg)
{
	return ((struct session *)arg)->guild_updates > 0;
}

/* issue 13.6: a GUILD_CREATE of about 1.2 MB (500 more channels with
 * topics and overwrites, 2,000 members), over real zlib-stream and cut into
 * several WebSocket messages, is pruned as it streams to what the guild
 * cache reads, and the cache gets every channel right; a big payload of an
 * event without a keep rule still arrives whole. */
TEST(gateway_big_guild_create_is_pruned_as_it_streams)
{
	struct gateway_options opt = {0};
	opt.identify_remaining = 1000;
	opt.keep = guild_gateway_keep();
	struct session s;
	if (session_open(&s, &opt) < 0)
		return;
	s.guild = guild_new(1200000000000000001ull, 1000);
	if (!CHECK(s.guild))
		return;
	CHECK(test_run_until(s.loop, is_ready, &s, 10000));
	/* the first, small GUILD_CREATE is not pruned: members present */
	CHECK_INT(s.gc_members, 1);
	size_t before = guild_channel_count(s.guild);
	CHECK(before > 0);
	struct gateway_stats st;
	gateway_get_stats(s.g, &st);
	CHECK_INT(st.pruned, 0);

	CHECK_INT(emu_call("POST", "/faults/gateway",
	                   "{\"action\": \"split\", \"parts\": 7, \"mode\": \"messages\", "
	                   "\"count\": 1}",
	                   NULL),
	          200);
	struct buf answer;
	buf_init(&answer, 4096);
	CHECK_INT(emu_call("POST", "/bench/dispatch",
	                   "{\"event\": \"GUILD_CREATE\", \"big_guild\": \"1200000000000000001\", "
	                   "\"channels\": 500, \"members\": 2000}",
	                   &answer),
	          200);
	struct json_doc adoc;
	json_doc_init(&adoc, 4096);
	int64_t bytes = 0;
	json_path_int64(json_parse(&adoc, answer.data, answer.len), "bytes", &bytes);
	CHECK(bytes > 1000 * 1000); /* about 1.2 MB, far past GATEWAY_SPILL_AT */
	CHECK(test_run_until(s.loop, two_guild_creates, &s, 20000));
	CHECK_INT(s.gc_members, 0); /* pruned away */
	CHECK_INT(guild_channel_count(s.guild), before + 500);
	CHECK_INT(guild_dropped(s.guild), 0);
	int wrong = 0;
	for (int i = 0; i < 500; i++) {
		char name[32];
		snprintf(name, sizeof name, "channel-%d", i);
		const struct guild_channel *c = guild_channel(s.guild, 1229000000000000000ull + i);
		if (!c || strcmp(c->name, name) != 0 || c->position != i + 20 || c->type != 0 ||
		    c->parent_id != 0)
			wrong++;
	}
	CHECK_INT(wrong, 0);
	gateway_get_stats(s.g, &st);
	CHECK_INT(st.pruned, 1);
	CHECK(gateway_is_ready(s.g));

	/* a big event without a rule: whole */
	CHECK_INT(emu_call("POST", "/bench/dispatch",
	                   "{\"event\": \"GUILD_UPDATE\", \"big_guild\": \"1200000000000000001\", "
	                   "\"channels\": 100, \"members\": 2000}",
	                   NULL),
	          200);
	CHECK(test_run_until(s.loop, got_guild_update, &s, 20000));
	CHECK(s.update_members >= 2000);
	CHECK_INT(s.update_channels, before + 100);
	gateway_get_stats(s.g, &st);
	CHECK_INT(st.pruned, 2);
	/* and the small ones after it still come */
	CHECK_INT(
	        emu_call("POST", "/inject/message", "{\"content\": \"after the big ones\"}", NULL),
	        200);
	for (int i = 0; i < 200 && s.messages == 0; i++)
		test_run_until(s.loop, fatal, &s, 10);
	CHECK_INT(s.messages, 1);
	json_doc_free(&adoc);
	buf_free(&answer);
	guild_free(s.guild);
	session_close(&s);
}

/* ------------------------------------------------------------ raw events */

static void
on_raw(struct gateway *g, const char *name, const char *d, size_t d_len,
       const struct json_span *values, void *data)
{
	(void)g;
	struct session *s = data;
	/* d is the dispatch's d exactly: one object, with the message's ids,
	 * and the values of raw_paths are what json_path finds in it */
	struct json_doc doc;
	json_doc_init(&doc, 1 << 20);
	const struct json_value *v = d ? json_parse(&doc, d, d_len) : NULL;
	uint64_t id, channel_id, raw_id = 0, raw_channel_id = 0;
	if (strcmp(name, "MESSAGE_CREATE") != 0 || json_type(v) != JSON_OBJECT ||
	    json_path_id(v, "id", &id) < 0 || json_path_id(v, "channel_id", &channel_id) < 0 ||
	    json_span_id(values[0], &raw_id) < 0 || raw_id != id ||
	    json_span_id(values[1], &raw_channel_id) < 0 || raw_channel_id != channel_id ||
	    values[2].p != NULL || json_path(v, "author.username") == NULL ||
	    json_span_type(values[3]) != JSON_STRING)
		s->raw_bad++;
	s->raw_messages++;
	json_doc_free(&doc);
}

static int raw_want;
static int
raw_seen(void *arg)
{
	return ((struct session *)arg)->raw_messages >= raw_want;
}

TEST(gateway_raw_events_skip_the_dom_and_keep_the_sequence)
{
	static const char *const raw_events[] = {"MESSAGE_CREATE", NULL};
	static const char *const raw_paths[] = {"id", "channel_id", "no.such", "author.username",
	                                        NULL};
	struct gateway_options extra = {0};
	extra.raw_events = raw_events;
	extra.raw = on_raw;
	extra.raw_paths = raw_paths;
	extra.identify_remaining = 1000;
	struct session s;
	if (session_open(&s, &extra) < 0)
		return;
	/* READY and GUILD_CREATE still come parsed (is_ready counts them) */
	CHECK(test_run_until(s.loop, is_ready, &s, 10000));
	struct gateway_stats st0, st1;
	gateway_get_stats(s.g, &st0);
	for (int i = 0; i < 3; i++)
		CHECK_INT(emu_call("POST", "/inject/message", "{\"content\": \"raw\"}", NULL), 200);
	raw_want = 3;
	CHECK(test_run_until(s.loop, raw_seen, &s, 5000));
	gateway_get_stats(s.g, &st1);
	CHECK_INT(s.raw_messages, 3);
	CHECK_INT(s.raw_bad, 0);
	CHECK_INT(s.messages, 0); /* never through the DOM callback */
	CHECK_INT(st1.raw_dispatches - st0.raw_dispatches, 3);
	CHECK_INT(st1.dispatches - st0.dispatches, 3);
	/* json_parse ran for heartbeat ACKs only, not for the messages */
	CHECK_INT(st1.parsed - st0.parsed, st1.acks - st0.acks);
	/* the emulator's sequence now: the last message's s */
	struct emu_view v;
	const struct json_value *gw = view_gateway(&v);
	int64_t last_s = -1, seq = -2;
	CHECK_INT(json_path_int64(gw, "sessions[0].seq", &last_s), 0);
	CHECK(last_s >= 5); /* READY, GUILD_CREATE, then the three messages */
	view_free(&v);

	/* the sequence moved on with the raw events: a RESUME after a drop
	 * asks for exactly what came after them, so the one message sent
	 * while away arrives once and the first three are not replayed */
	CHECK_INT(emu_call("POST", "/faults/gateway", "{\"action\": \"drop\"}", NULL), 200);
	CHECK_INT(emu_call("POST", "/inject/message", "{\"content\": \"while away\"}", NULL), 200);
	CHECK(test_run_until(s.loop, resumed, &s, 10000));
	raw_want = 4;
	CHECK(test_run_until(s.loop, raw_seen, &s, 5000));
	/* a little longer: a replay of the first three would come now */
	raw_want = 7;
	test_run_until(s.loop, raw_seen, &s, 500);
	CHECK_INT(s.raw_messages, 4);
	CHECK_INT(s.raw_bad, 0);

	gw = view_gateway(&v);
	CHECK_STR(json_path_str(gw, "resumes[0].outcome"), "resumed");
	CHECK_INT(json_path_int64(gw, "resumes[0].seq", &seq), 0);
	CHECK_INT(seq, last_s); /* the RESUME named the last raw event's s */
	view_free(&v);
	session_close(&s);
}
