/* test_rest.c — the Discord REST client against the Discord emulator
 * (tests/emulator, a real aiohttp server over TLS with Discord's routes,
 * rate-limit headers, 429s and error bodies), started once per run with a
 * CA made here; what the emulator received is read back through its
 * control API. Plus the pure parts: the audit-reason encoding and the
 * error sentence. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "http.h"
#include "json.h"
#include "loop.h"
#include "mem.h"
#include "rest.h"
#include "test.h"
#include "tls.h"

/* ================================================================ pure */

TEST(rest_encode_reason_keeps_only_unreserved)
{
	char out[256];
	/* space, '%', '&', '/', UTF-8 (é = C3 A9, 🎉 = F0 9F 8E 89) */
	CHECK(rest_encode_reason("Spam 100% & more/é🎉 a-b.c_d~e", out, sizeof out) > 0);
	CHECK_STR(out, "Spam%20100%25%20%26%20more%2F%C3%A9%F0%9F%8E%89%20a-b.c_d~e");
	CHECK_INT(rest_encode_reason("", out, sizeof out), 0);
	CHECK_STR(out, "");
	/* too small: -1, never a cut escape */
	CHECK_INT(rest_encode_reason("a b", out, 4), -1);
	CHECK_INT(rest_encode_reason("a b", out, 6), 5);

	/* cut at 512 characters, counted as characters, not bytes */
	static char longer[700 * 2 + 1];
	for (int i = 0; i < 700; i++)
		memcpy(longer + 2 * i, "\xC3\xA9", 2);
	longer[1400] = '\0';
	static char encoded[700 * 6 + 1];
	CHECK_INT(rest_encode_reason(longer, encoded, sizeof encoded), 512 * 6);
}

static void
sentence_of(int status, const char *reason, const char *json, char *out, size_t cap)
{
	struct json_doc doc;
	json_doc_init(&doc, 1 << 16);
	const struct json_value *root = json ? json_parse(&doc, json, strlen(json)) : NULL;
	rest_error_sentence(status, reason, root, out, cap);
	json_doc_free(&doc);
}

/* Tokens never reach a log: the token segment is masked, the rest kept. */
TEST(rest_log_path_masks_webhook_and_interaction_tokens)
{
	char out[REST_LOG_PATH_MAX];
	rest_log_path("/webhooks/1100/aW50ZXJhY3Rpb246dG9rZW4/messages/@original", out, sizeof out);
	CHECK_STR(out, "/webhooks/1100/{token}/messages/@original");
	rest_log_path("/webhooks/1100/secret-token", out, sizeof out);
	CHECK_STR(out, "/webhooks/1100/{token}");
	rest_log_path("/webhooks/1100/secret-token?wait=true", out, sizeof out);
	CHECK_STR(out, "/webhooks/1100/{token}?wait=true");
	rest_log_path("/interactions/42/secret-token/callback", out, sizeof out);
	CHECK_STR(out, "/interactions/42/{token}/callback");
	rest_log_path("/channels/12/messages/34", out, sizeof out);
	CHECK_STR(out, "/channels/12/messages/34");
	rest_log_path("/channels/12/messages?limit=1", out, sizeof out);
	CHECK_STR(out, "/channels/12/messages?limit=1");
	/* cut, never overrun, and the token still masked */
	char small[20];
	rest_log_path("/interactions/42/secret-token/callback", small, sizeof small);
	CHECK_STR(small, "/interactions/42/{t");
	CHECK(!strstr(small, "secret"));
}

TEST(rest_error_sentence_reads_discord_error_bodies)
{
	char out[REST_ERROR_MAX];
	/* docs: Reference, "Error Messages" */
	sentence_of(400, "Bad Request",
	            "{\"code\": 50035, \"errors\": {\"embeds\": {\"0\": {\"title\": {\"_errors\": "
	            "[{\"code\": \"BASE_TYPE_MAX_LENGTH\", \"message\": \"Must be 256 or fewer in "
	            "length.\"}]}}}}, \"message\": \"Invalid Form Body\"}",
	            out, sizeof out);
	CHECK_STR(out, "50035 Invalid Form Body: embeds.0.title: Must be 256 or fewer in length.");
	/* several fields, and an error on the whole body */
	sentence_of(400, "Bad Request",
	            "{\"code\": 50035, \"message\": \"Invalid Form Body\", \"errors\": {"
	            "\"_errors\": [{\"code\": \"X\", \"message\": \"Body wrong.\"}],"
	            "\"name\": {\"_errors\": [{\"code\": \"A\", \"message\": \"Too short.\"},"
	            "{\"code\": \"B\", \"message\": \"Bad word.\"}]},"
	            "\"a\": {\"b\": {\"_errors\": [{\"code\": \"C\"}]}}}}",
	            out, sizeof out);
	CHECK_STR(out, "50035 Invalid Form Body: Body wrong.; name: Too short.; name: Bad word.; "
	               "a.b: C");
	sentence_of(404, "Not Found", "{\"message\": \"Unknown Channel\", \"code\": 10003}", out,
	            sizeof out);
	CHECK_STR(out, "10003 Unknown Channel");
	sentence_of(405, "Method Not Allowed",
	            "{\"message\": \"405: Method Not Allowed\", \"code\": 0}", out, sizeof out);
	CHECK_STR(out, "HTTP 405: 405: Method Not Allowed");
	sentence_of(502, "Bad Gateway", NULL, out, sizeof out);
	CHECK_STR(out, "HTTP 502 Bad Gateway");
	sentence_of(500, "", "[1,2]", out, sizeof out);
	CHECK_STR(out, "HTTP 500");
	/* cut with "..." */
	char small[24];
	sentence_of(404, "Not Found",
	            "{\"message\": \"Unknown Channel and more words\", \"code\": 1}", small,
	            sizeof small);
	CHECK_STR(small, "1 Unknown Channel an...");
	/* never through the middle of a UTF-8 character: "é" is C3 A9 */
	char tiny[10];
	sentence_of(404, "", "{\"message\": \"ab\u00e9\u00e9\u00e9\", \"code\": 1}", tiny,
	            sizeof tiny);
	CHECK_STR(tiny, "1 ab\xC3\xA9...");
}

/* ================================================================ emulator */

static struct {
	int started, failed;
	pid_t pid;
	unsigned port, control_port;
	char dir[300];
	char ca_path[320];
	char api_url[128];
} emu;

static void
emu_stop(void)
{
	if (emu.pid > 0) {
		kill(emu.pid, SIGTERM);
		waitpid(emu.pid, NULL, 0);
		emu.pid = 0;
	}
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Starts the emulator once per run (TLS with a fresh test CA); 0 when up. */
static int
emu_start(void)
{
	if (emu.started)
		return emu.failed ? -1 : 0;
	emu.started = 1;
	emu.failed = 1;
	snprintf(emu.dir, sizeof emu.dir, "%s/rest-emulator", test_tmpdir());
	char cmd[800];
	snprintf(cmd, sizeof cmd, "sh tests/emulator/make_ca.sh '%s' >/dev/null 2>&1", emu.dir);
	if (!CHECK(system(cmd) == 0))
		return -1;
	snprintf(emu.ca_path, sizeof emu.ca_path, "%s/ca.pem", emu.dir);
	char cert[320], key[320], ready[320];
	snprintf(cert, sizeof cert, "%s/server.pem", emu.dir);
	snprintf(key, sizeof key, "%s/server.key", emu.dir);
	snprintf(ready, sizeof ready, "%s/ready.json", emu.dir);
	pid_t pid = fork();
	if (pid == 0) {
		execl("/usr/bin/python3", "python3", "-m", "tests.emulator", "--port", "0",
		      "--control-port", "0", "--cert", cert, "--key", key, "--log-dir", emu.dir,
		      "--ready-file", ready, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return -1;
	emu.pid = pid;
	atexit(emu_stop);
	char *text = NULL;
	for (int i = 0; i < 300 && !text; i++) {
		sleep_ms(50);
		text = test_read_file(ready, NULL);
	}
	if (!CHECK(text != NULL))
		return -1;
	struct json_doc doc;
	json_doc_init(&doc, 4096);
	const struct json_value *root = json_parse(&doc, text, strlen(text));
	int64_t port = 0, cport = 0;
	json_path_int64(root, "port", &port);
	json_path_int64(root, "control_port", &cport);
	json_doc_free(&doc);
	free(text);
	if (!CHECK(port > 0 && cport > 0))
		return -1;
	emu.port = (unsigned)port;
	emu.control_port = (unsigned)cport;
	/* "localhost": the certificate's DNS name */
	snprintf(emu.api_url, sizeof emu.api_url, "https://localhost:%u/api/v10", emu.port);
	emu.failed = 0;
	return 0;
}

/* One test's world: a loop, the CA, a rest client, and an http client for
 * the control API. */
struct fixture {
	struct loop *loop;
	struct tls_trust *trust;
	struct rest *rest;
	struct http_client *control;
	struct json_doc doc; /* the last control answer */
	int outstanding;     /* callbacks still to come; the loop stops at 0 */
	int expired;
};

static void
on_guard(struct loop *loop, struct loop_timer *t)
{
	struct fixture *f = t->data;
	f->expired = 1;
	loop_stop(loop);
}

/* Runs the loop until every outstanding callback ran, or limit_ms pass. */
static void
run(struct fixture *f, int64_t limit_ms)
{
	struct loop_timer guard;
	loop_timer_init(&guard, on_guard, f);
	loop_timer_start(f->loop, &guard, limit_ms);
	f->expired = 0;
	if (f->outstanding > 0)
		loop_run(f->loop);
	loop_timer_stop(f->loop, &guard);
	CHECK(!f->expired);
}

struct control_call {
	struct fixture *f;
	int status;
	struct buf body;
};

static void
on_control(const struct http_response *res, const char *error, void *data)
{
	struct control_call *c = data;
	c->status = res ? res->status : 0;
	if (res)
		buf_append(&c->body, res->body, res->body_len);
	else
		fprintf(stderr, "control: %s\n", error);
	if (--c->f->outstanding == 0)
		loop_stop(c->f->loop);
}

/* A control API call; returns the parsed answer (in f->doc) or NULL. */
static const struct json_value *
control(struct fixture *f, const char *method, const char *path, const char *body)
{
	char url[256];
	snprintf(url, sizeof url, "http://127.0.0.1:%u%s", emu.control_port, path);
	struct control_call c = {.f = f};
	buf_init(&c.body, 64u << 20);
	struct http_header h[] = {{"Content-Type", "application/json"}};
	int before = f->outstanding;
	f->outstanding = 1;
	if (!CHECK_INT(http_request(f->control, method, url, h, 1, body, body ? strlen(body) : 0,
	                            10000, on_control, &c),
	               0)) {
		f->outstanding = before;
		buf_free(&c.body);
		return NULL;
	}
	run(f, 15000);
	f->outstanding = before;
	const struct json_value *root = NULL;
	if (CHECK_INT(c.status, 200))
		root = json_parse(&f->doc, c.body.data ? c.body.data : "", c.body.len);
	buf_free(&c.body);
	return root;
}

static int
fixture_start(struct fixture *f, struct rest_options *o)
{
	memset(f, 0, sizeof *f);
	if (emu_start() < 0)
		return -1;
	f->loop = loop_new();
	char err[256];
	f->trust = tls_trust_load(emu.ca_path, err, sizeof err);
	CHECK(f->trust != NULL);
	f->control = http_client_new(f->loop, NULL);
	json_doc_init(&f->doc, 64u << 20);
	struct rest_options defaults = {0};
	if (!o)
		o = &defaults;
	o->api_url = emu.api_url;
	if (!o->token)
		o->token = "emulator-bot-token";
	o->version = "1.2.3";
	o->trust = f->trust;
	f->rest = rest_new(f->loop, o, err, sizeof err);
	if (!CHECK(f->rest != NULL))
		CHECK_STR(err, "");
	/* a fresh world, no faults, fresh buckets */
	control(f, "POST", "/reset", "{}");
	return f->rest && f->control ? 0 : -1;
}

static void
fixture_stop(struct fixture *f)
{
	rest_free(f->rest);
	http_client_free(f->control);
	json_doc_free(&f->doc);
	tls_trust_free(f->trust);
	loop_free(f->loop);
}

/* What a rest callback saw, copied out (everything is borrowed). */
struct result {
	struct fixture *f;
	int calls;
	int status;
	char error[REST_ERROR_MAX];
	char id[32]; /* the body's "id", if any */
	int64_t at_ms;
};

static void
on_rest(int status, const struct json_value *body, const char *error, void *data)
{
	struct result *r = data;
	r->calls++;
	r->status = status;
	r->at_ms = loop_now(r->f->loop);
	snprintf(r->error, sizeof r->error, "%s", error ? error : "");
	const char *id = json_string(json_get(body, "id"), NULL);
	snprintf(r->id, sizeof r->id, "%s", id ? id : "");
	if (--r->f->outstanding == 0)
		loop_stop(r->f->loop);
}

static int
request(struct fixture *f, struct result *r, const char *method, const char *path, const char *body,
        const char *reason)
{
	memset(r, 0, sizeof *r);
	r->f = f;
	int rc = rest_request(f->rest, method, path, body, reason, on_rest, r);
	if (rc == 0)
		f->outstanding++;
	else
		CHECK_STR(rest_error(f->rest), "");
	return rc;
}

#define GENERAL "1220000000000000002" /* the emulator's default text channel */

/* The emulator's recorded requests (GET /requests?QUERY), oldest first. */
static const struct json_value *
recorded(struct fixture *f, const char *query)
{
	char path[300];
	snprintf(path, sizeof path, "/requests%s%s", query ? "?" : "", query ? query : "");
	return control(f, "GET", path, NULL);
}

static int64_t
counter(struct fixture *f, const char *name)
{
	int64_t n = -1;
	json_path_int64(control(f, "GET", "/counters", NULL), name, &n);
	return n;
}

TEST(rest_sends_auth_user_agent_json_and_encoded_audit_reason)
{
	struct fixture f;
	if (fixture_start(&f, NULL) < 0)
		goto out;
	struct result r;
	const char *reason = "Closed by mod: spam 100% sûr 🎉 (ok)";
	request(&f, &r, "POST", "/channels/" GENERAL "/messages", "{\"content\":\"hello\"}",
	        reason);
	run(&f, 10000);
	CHECK_INT(r.calls, 1);
	CHECK_INT(r.status, 200);
	CHECK_STR(r.error, "");
	CHECK(r.id[0] != '\0');
	const struct json_value *req = json_at(recorded(&f, "method=POST"), 0);
	CHECK_STR(json_path_str(req, "headers.Authorization"), "Bot emulator-bot-token");
	CHECK_STR(json_path_str(req, "user_agent"),
	          "DiscordBot (https://github.com/agora-bot/agora, 1.2.3)");
	CHECK_STR(json_path_str(req, "content_type"), "application/json");
	CHECK_STR(json_path_str(req, "body.content"), "hello");
	char want[256];
	rest_encode_reason(reason, want, sizeof want);
	CHECK_STR(json_path_str(req, "audit_log_reason"), want);
	/* and it is what the RFC 3986 encoding of the UTF-8 bytes gives */
	CHECK_STR(want,
	          "Closed%20by%20mod%3A%20spam%20100%25%20s%C3%BBr%20%F0%9F%8E%89%20%28ok%29");

	/* no body: no Content-Type; no reason: no header */
	request(&f, &r, "GET", "/users/@me", NULL, NULL);
	run(&f, 10000);
	CHECK_INT(r.status, 200);
	req = json_at(recorded(&f, "method=GET"), 0);
	CHECK_STR(json_path_str(req, "content_type"), "");
	CHECK(json_is_null(json_path(req, "audit_log_reason")));
	CHECK_STR(json_path_str(req, "headers.Authorization"), "Bot emulator-bot-token");
out:
	if (f.loop)
		fixture_stop(&f);
}

/* The largest number of entries of the recorded list whose "time" falls
 * in any window of window_s seconds. */
static int
max_in_window(const struct json_value *list, double window_s, const char *path_prefix)
{
	double times[512];
	int n = 0;
	for (const struct json_value *r = json_first(list); r && n < 512; r = json_next(r)) {
		const char *path = json_path_str(r, "path");
		if (path_prefix && (!path || strncmp(path, path_prefix, strlen(path_prefix)) != 0))
			continue;
		json_double(json_get(r, "time"), &times[n++]);
	}
	int best = 0;
	for (int i = 0; i < n; i++) {
		int count = 0;
		for (int j = i; j < n; j++)
			if (times[j] >= times[i] && times[j] < times[i] + window_s)
				count++;
		if (count > best)
			best = count;
	}
	return best;
}

TEST(rest_burst_of_200_edits_gets_no_429)
{
	/* the bucket alone sets the pace here (the global limit has its own
	 * test): 100/s on both sides */
	struct rest_options o = {.global_per_second = 100};
	struct fixture f;
	if (fixture_start(&f, &o) < 0)
		goto out;
	/* 20 edits per 0.5 s in a channel */
	control(&f, "POST", "/ratelimits",
	        "{\"reset\": true, \"global\": {\"limit\": 100}, \"routes\": "
	        "{\"PATCH /channels/{channel_id}/messages/{id}\": {\"limit\": 20, \"window\": "
	        "0.5}}}");
	struct result created;
	request(&f, &created, "POST", "/channels/" GENERAL "/messages", "{\"content\":\"v0\"}",
	        NULL);
	run(&f, 10000);
	CHECK_INT(created.status, 200);
	char path[128];
	snprintf(path, sizeof path, "/channels/" GENERAL "/messages/%s", created.id);
	static struct result edits[200];
	int64_t start = loop_now(f.loop);
	for (int i = 0; i < 200; i++) {
		char body[64];
		snprintf(body, sizeof body, "{\"content\":\"edit %d\"}", i + 1);
		request(&f, &edits[i], "PATCH", path, body, NULL);
	}
	run(&f, 30000);
	int64_t elapsed = 0;
	int ok = 0;
	for (int i = 0; i < 200; i++) {
		ok += edits[i].calls == 1 && edits[i].status == 200;
		if (edits[i].at_ms - start > elapsed)
			elapsed = edits[i].at_ms - start;
	}
	CHECK_INT(ok, 200);
	CHECK_INT(counter(&f, "429"), 0);
	struct rest_stats st;
	rest_stats(f.rest, &st);
	CHECK_INT(st.rate_limited, 0);
	/* 200 at 20 per 0.5 s: 10 windows, the last starting 4.5 s after the
	 * first; so no faster than 4.5 s, and not needlessly slower: each
	 * window waits 50 ms past its reset (RESET_MARGIN_MS), so about 4.95 s */
	printf("rest: 200 edits at 20 per 0.5 s took %lld ms (4950 expected: 9 windows of "
	       "500 ms + 50 ms margin)\n",
	       (long long)elapsed);
	CHECK(elapsed >= 4500);
	/* the upper bound leaves room for a loaded machine (the unit run
	 * shares 2 cores with the emulator and, in CI, nothing else); a
	 * limiter that waited whole extra windows would still exceed it */
	CHECK(elapsed < 7000);
	/* the server saw them in order: the last edit is the content */
	const struct json_value *msgs = control(&f, "GET", "/channels/" GENERAL "/messages", NULL);
	CHECK_STR(json_path_str(json_at(msgs, json_len(msgs) - 1), "content"), "edit 200");
	/* the emulator's global limit back to Discord's */
	control(&f, "POST", "/ratelimits", "{\"reset\": true, \"global\": {\"limit\": 50}}");
out:
	if (f.loop)
		fixture_stop(&f);
}

TEST(rest_429_with_retry_after_is_waited_out_and_retried)
{
	struct fixture f;
	if (fixture_start(&f, NULL) < 0)
		goto out;
	control(&f, "POST", "/faults/rest",
	        "{\"route\": \"GET /users/@me\", \"status\": 429, \"retry_after\": 0.4, \"count\": "
	        "1}");
	struct result r, other;
	int64_t start = loop_now(f.loop);
	request(&f, &r, "GET", "/users/@me", NULL, NULL);
	/* another bucket is not held back while this one waits */
	request(&f, &other, "GET", "/gateway/bot", NULL, NULL);
	run(&f, 10000);
	CHECK_INT(r.calls, 1);
	CHECK_INT(r.status, 200);
	CHECK_INT(other.status, 200);
	CHECK(other.at_ms - start < 300);
	CHECK(r.at_ms - start >= 400);
	const struct json_value *list = recorded(&f, "path=/users/@me");
	CHECK_INT(json_len(list), 2);
	CHECK_INT(json_path_int64(json_at(list, 0), "status", &(int64_t){0}), 0);
	int64_t first = 0, second = 0;
	json_path_int64(json_at(list, 0), "status", &first);
	json_path_int64(json_at(list, 1), "status", &second);
	CHECK_INT(first, 429);
	CHECK_INT(second, 200);
	double t0 = 0, t1 = 0;
	json_double(json_get(json_at(list, 0), "time"), &t0);
	json_double(json_get(json_at(list, 1), "time"), &t1);
	CHECK(t1 - t0 >= 0.4);
	CHECK(t1 - t0 < 1.5);
	struct rest_stats st;
	rest_stats(f.rest, &st);
	CHECK_INT(st.rate_limited, 1);

	/* a request that keeps meeting 429s gives up after max_retries */
	control(&f, "POST", "/faults/rest",
	        "{\"route\": \"GET /users/@me\", \"status\": 429, \"retry_after\": 0.01, "
	        "\"count\": 10}");
	request(&f, &r, "GET", "/users/@me", NULL, NULL);
	run(&f, 10000);
	CHECK_INT(r.status, 429);
	CHECK_STR(r.error, "gave up after 6 rate-limited attempts (429)");
out:
	if (f.loop)
		fixture_stop(&f);
}

struct later {
	struct fixture *f;
	struct result *r;
	const char *path;
};

static void
on_later(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct later *l = t->data;
	request(l->f, l->r, "GET", l->path, NULL, NULL);
}

TEST(rest_html_429_blocks_every_request)
{
	struct rest_options o = {.cloudflare_block_ms = 1000};
	struct fixture f;
	if (fixture_start(&f, &o) < 0)
		goto out;
	control(&f, "POST", "/faults/rest",
	        "{\"route\": \"GET /users/@me\", \"status\": 429, \"html\": true, \"count\": 1}");
	struct result a, b;
	request(&f, &a, "GET", "/users/@me", NULL, NULL);
	/* another route, asked 200 ms into the block */
	struct later l = {&f, &b, "/gateway/bot"};
	struct loop_timer t;
	loop_timer_init(&t, on_later, &l);
	loop_timer_start(f.loop, &t, 200);
	run(&f, 10000);
	CHECK_INT(a.status, 200);
	CHECK_INT(b.status, 200);
	const struct json_value *list = recorded(&f, NULL);
	CHECK_INT(json_len(list), 3);
	double blocked_at = 0, retried_at = 0, other_at = 0;
	int64_t status = 0;
	for (const struct json_value *r = json_first(list); r; r = json_next(r)) {
		const char *path = json_path_str(r, "path");
		double t_s = 0;
		json_double(json_get(r, "time"), &t_s);
		json_path_int64(r, "status", &status);
		if (strcmp(path, "/users/@me") == 0 && status == 429)
			blocked_at = t_s;
		else if (strcmp(path, "/users/@me") == 0)
			retried_at = t_s;
		else
			other_at = t_s;
	}
	/* neither went out before the block's second had passed */
	CHECK(blocked_at > 0);
	CHECK(retried_at - blocked_at >= 0.95);
	CHECK(other_at - blocked_at >= 0.95);
	CHECK(retried_at - blocked_at < 2.5);
	struct rest_stats st;
	rest_stats(f.rest, &st);
	CHECK_INT(st.blocks, 1);
out:
	if (f.loop)
		fixture_stop(&f);
}

static void
on_later_callback(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct later *l = t->data;
	l->f->outstanding--; /* request() counts it again */
	request(l->f, l->r, "POST", "/interactions/901/tokenx/callback", "{\"type\": 6}", NULL);
}

/* One Cloudflare block page (a non-JSON 429, Retry-After 2) under the
 * default options: requests are held 2 s, not minutes, and an interaction
 * callback asked during the block goes through at once. A Retry-After of
 * an hour is capped (here at 1.5 s). Measured: the retry's delay after the
 * 429 and the callback's answer time. */
TEST(rest_html_429_holds_only_retry_after_and_never_callbacks)
{
	struct fixture f;
	if (fixture_start(&f, NULL) < 0)
		goto out;
	control(&f, "POST", "/faults/rest",
	        "{\"route\": \"GET /users/@me\", \"status\": 429, \"html\": true, \"retry_after\": "
	        "2, \"count\": 1}");
	struct result a, cb;
	int64_t start = loop_now(f.loop);
	request(&f, &a, "GET", "/users/@me", NULL, NULL);
	/* the callback, asked 400 ms into the block */
	struct later l = {&f, &cb, NULL};
	struct loop_timer t;
	loop_timer_init(&t, on_later_callback, &l);
	loop_timer_start(f.loop, &t, 400);
	f.outstanding++; /* the callback to come */
	run(&f, 10000);
	int64_t asked = start + 400;
	CHECK_INT(a.status, 200);
	/* unknown interaction, but answered, not held for the block */
	CHECK_INT(cb.status, 404);
	CHECK(cb.at_ms - asked < 500);
	CHECK(a.at_ms - start >= 2000);
	CHECK(a.at_ms - start < 4000);
	printf("rest: html 429 with Retry-After 2 held the request %lld ms; a callback asked "
	       "during the block answered in %lld ms\n",
	       (long long)(a.at_ms - start), (long long)(cb.at_ms - asked));
	struct rest_stats st;
	rest_stats(f.rest, &st);
	CHECK_INT(st.blocks, 1);
	fixture_stop(&f);

	/* Retry-After: 3600 is capped */
	struct rest_options o = {.cloudflare_block_ms = 1500};
	if (fixture_start(&f, &o) < 0)
		goto out;
	control(&f, "POST", "/faults/rest",
	        "{\"route\": \"GET /users/@me\", \"status\": 429, \"html\": true, \"retry_after\": "
	        "3600, \"count\": 1}");
	start = loop_now(f.loop);
	request(&f, &a, "GET", "/users/@me", NULL, NULL);
	run(&f, 10000);
	CHECK_INT(a.status, 200);
	CHECK(a.at_ms - start >= 1500);
	CHECK(a.at_ms - start < 3000);
out:
	if (f.loop)
		fixture_stop(&f);
}

TEST(rest_401_is_fatal_and_fails_queued_requests)
{
	struct rest_options o = {.token = "not-the-token"};
	struct fixture f;
	if (fixture_start(&f, &o) < 0)
		goto out;
	/* one route: the first goes alone (limits unknown), three wait */
	struct result r[4];
	for (int i = 0; i < 4; i++)
		request(&f, &r[i], "GET", "/channels/" GENERAL, NULL, NULL);
	run(&f, 10000);
	CHECK_INT(r[0].status, 401);
	for (int i = 0; i < 4; i++) {
		CHECK_INT(r[i].calls, 1);
		CHECK_STR(r[i].error, "Discord rejected the bot token (401)");
	}
	CHECK(rest_is_fatal(f.rest));
	/* later requests fail at once, with the same sentence */
	CHECK_INT(rest_request(f.rest, "GET", "/users/@me", NULL, NULL, on_rest, &r[0]), -1);
	CHECK_STR(rest_error(f.rest), "Discord rejected the bot token (401)");
	/* the server saw exactly one: no retries, the queue was not sent */
	CHECK_INT(counter(&f, "401"), 1);
	CHECK_INT(counter(&f, "requests"), 1);
out:
	if (f.loop)
		fixture_stop(&f);
}

TEST(rest_global_limit_holds_but_not_for_interaction_callbacks)
{
	struct fixture f;
	if (fixture_start(&f, NULL) < 0)
		goto out;
	/* 60 channels of their own (60 buckets, so only the global limit binds) */
	static char ids[60][32];
	for (int i = 0; i < 60; i++) {
		char body[64];
		snprintf(body, sizeof body, "{\"name\": \"c%d\", \"type\": 0, \"announce\": false}",
		         i);
		const char *id = json_path_str(
		        control(&f, "POST", "/guilds/1200000000000000001/channels", body), "id");
		snprintf(ids[i], sizeof ids[i], "%s", id ? id : "0");
	}
	static struct result got[60], callbacks[5];
	int64_t start = loop_now(f.loop);
	for (int i = 0; i < 60; i++) {
		char path[64];
		snprintf(path, sizeof path, "/channels/%.30s", ids[i]);
		request(&f, &got[i], "GET", path, NULL, NULL);
	}
	/* interaction callbacks asked after them: unknown interactions (404),
	 * but what matters is that they are not held for the global second */
	for (int i = 0; i < 5; i++) {
		char path[96];
		snprintf(path, sizeof path, "/interactions/%d/token%d/callback", 900 + i, i);
		request(&f, &callbacks[i], "POST", path, "{\"type\": 6}", NULL);
	}
	run(&f, 15000);
	int64_t last = 0;
	int ok = 0;
	for (int i = 0; i < 60; i++) {
		ok += got[i].status == 200;
		if (got[i].at_ms - start > last)
			last = got[i].at_ms - start;
	}
	CHECK_INT(ok, 60);
	/* ten of them had to wait for the second window */
	CHECK(last >= 1000);
	for (int i = 0; i < 5; i++) {
		CHECK_INT(callbacks[i].status, 404);
		CHECK(callbacks[i].at_ms - start < 800);
	}
	CHECK_INT(counter(&f, "429"), 0);
	int most = max_in_window(recorded(&f, "method=GET"), 1.0, "/channels/");
	printf("rest: at most %d of 60 requests in any 1 s window (limit 50); last at %lld ms\n",
	       most, (long long)last);
	CHECK(most <= 50);
	CHECK(most >= 45);
out:
	if (f.loop)
		fixture_stop(&f);
}

TEST(rest_error_body_becomes_a_readable_sentence)
{
	struct fixture f;
	if (fixture_start(&f, NULL) < 0)
		goto out;
	char body[400] = "{\"embeds\": [{\"title\": \"";
	size_t len = strlen(body);
	memset(body + len, 'x', 300);
	snprintf(body + len + 300, sizeof body - len - 300, "\"}]}");
	struct result r;
	request(&f, &r, "POST", "/channels/" GENERAL "/messages", body, NULL);
	run(&f, 10000);
	CHECK_INT(r.status, 400);
	CHECK_STR(r.error,
	          "50035 Invalid Form Body: embeds.0.title: Must be 256 or fewer in length.");
	request(&f, &r, "GET", "/channels/42", NULL, NULL);
	run(&f, 10000);
	CHECK_INT(r.status, 404);
	CHECK_STR(r.error, "10003 Unknown Channel");
out:
	if (f.loop)
		fixture_stop(&f);
}

TEST(rest_5xx_is_retried_only_for_idempotent_methods)
{
	struct rest_options o = {.retry_base_ms = 50};
	struct fixture f;
	if (fixture_start(&f, &o) < 0)
		goto out;
	control(&f, "POST", "/faults/rest",
	        "{\"route\": \"GET /users/@me\", \"status\": 502, \"count\": 2}");
	struct result r;
	request(&f, &r, "GET", "/users/@me", NULL, NULL);
	run(&f, 10000);
	CHECK_INT(r.status, 200);
	CHECK_INT(json_len(recorded(&f, "path=/users/@me")), 3);
	/* a POST that may have reached Discord is never sent twice (a message
	 * POST is the exception, with its nonce: see the next test) */
	control(&f, "POST", "/faults/rest",
	        "{\"route\": \"POST /guilds/{guild_id}/channels\", \"status\": 500, \"count\": "
	        "1}");
	request(&f, &r, "POST", "/guilds/1200000000000000001/channels",
	        "{\"name\":\"once\",\"type\":0}", NULL);
	run(&f, 10000);
	CHECK_INT(r.status, 500);
	CHECK_STR(r.error, "HTTP 500: emulated failure");
	CHECK_INT(json_len(recorded(&f, "method=POST")), 1);
	struct rest_stats st;
	rest_stats(f.rest, &st);
	CHECK_INT(st.retries, 2);
out:
	if (f.loop)
		fixture_stop(&f);
}

/* A message POST answered 5xx is retried with backoff, and carries a nonce
 * with enforce_nonce, so a retry after a lost answer (the emulator creates
 * the message, then answers 502) does not post twice. Measured: attempts
 * on the wire, messages in the channel, the nonce of every attempt. */
TEST(rest_message_post_is_retried_after_5xx_and_posts_once)
{
	struct rest_options o = {.retry_base_ms = 50};
	struct fixture f;
	if (fixture_start(&f, &o) < 0)
		goto out;
	/* two 500s, then it goes through */
	control(&f, "POST", "/faults/rest",
	        "{\"route\": \"POST /channels/{channel_id}/messages\", \"status\": 500, \"count\": "
	        "2}");
	struct result r;
	request(&f, &r, "POST", "/channels/" GENERAL "/messages", "{\"content\":\"report #1\"}",
	        NULL);
	run(&f, 10000);
	CHECK_INT(r.status, 200);
	CHECK(r.id[0]);
	const struct json_value *list = recorded(&f, "method=POST");
	CHECK_INT(json_len(list), 3);
	char nonce[32] = "";
	const char *n0 = json_path_str(json_at(list, 0), "body.nonce");
	snprintf(nonce, sizeof nonce, "%s", n0 ? n0 : "");
	CHECK(nonce[0]);
	for (int i = 0; i < 3; i++) {
		const struct json_value *rec = json_at(list, (size_t)i);
		CHECK_STR(json_path_str(rec, "body.nonce"), nonce);
		CHECK_INT(json_bool(json_get(json_get(rec, "body"), "enforce_nonce")), 1);
		CHECK_STR(json_path_str(rec, "body.content"), "report #1");
	}

	/* the write happens, its answer is lost (502): the retry is answered
	 * with the same message, and the channel holds it once */
	control(&f, "POST", "/reset", "{}");
	control(&f, "POST", "/faults/rest",
	        "{\"route\": \"POST /channels/{channel_id}/messages\", \"status\": 502, \"count\": "
	        "1, \"after\": true}");
	request(&f, &r, "POST", "/channels/" GENERAL "/messages", "{\"content\":\"report #2\"}",
	        NULL);
	run(&f, 10000);
	CHECK_INT(r.status, 200);
	CHECK_INT(json_len(recorded(&f, "method=POST")), 2);
	const struct json_value *msgs = control(&f, "GET", "/channels/" GENERAL "/messages", NULL);
	int copies = 0;
	for (const struct json_value *m = json_first(msgs); m; m = json_next(m))
		copies += json_path_str(m, "content") &&
		          strcmp(json_path_str(m, "content"), "report #2") == 0;
	printf("rest: message POST after a lost answer: 2 attempts, %d message(s) in the channel\n",
	       copies);
	CHECK_INT(copies, 1);
	/* a nonce the caller gave is left alone */
	control(&f, "POST", "/reset", "{}");
	request(&f, &r, "POST", "/channels/" GENERAL "/messages",
	        "{\"content\":\"x\",\"nonce\":\"mine\"}", NULL);
	run(&f, 10000);
	CHECK_INT(r.status, 200);
	list = recorded(&f, "method=POST");
	CHECK_STR(json_path_str(json_at(list, 0), "body.nonce"), "mine");
	CHECK_INT(json_bool(json_get(json_get(json_at(list, 0), "body"), "enforce_nonce")), -1);
out:
	if (f.loop)
		fixture_stop(&f);
}

static void
on_tick(struct loop *loop, struct loop_timer *t)
{
	(void)t;
	loop_stop(loop);
}

static int
listen_silently(unsigned *port)
{
	int listener = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET,
	                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t addr_len = sizeof addr;
	if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 ||
	    listen(listener, 16) < 0 ||
	    getsockname(listener, (struct sockaddr *)&addr, &addr_len) < 0) {
		if (listener >= 0)
			close(listener);
		return -1;
	}
	*port = ntohs(addr.sin_port);
	return listener;
}

TEST(rest_refuses_bad_options_and_requests)
{
	struct loop *loop = loop_new();
	char err[256];
	struct rest_options o = {.api_url = "wss://discord.com/api/v10", .token = "t"};
	CHECK(rest_new(loop, &o, err, sizeof err) == NULL);
	CHECK_STR(err, "bad Discord API URL: not http or https");
	o.api_url = "https://discord.com/api/v10";
	o.token = "two words";
	CHECK(rest_new(loop, &o, err, sizeof err) == NULL);
	CHECK_STR(err, "the bot token is empty or holds spaces or line breaks");
	o.token = "";
	CHECK(rest_new(loop, &o, err, sizeof err) == NULL);

	/* a server that never answers: requests stay pending */
	unsigned port;
	int listener = listen_silently(&port);
	if (!CHECK(listener >= 0))
		return;
	char api[64];
	snprintf(api, sizeof api, "http://127.0.0.1:%u/api/v10/", port);
	o.api_url = api;
	o.token = "t";
	struct rest *rest = rest_new(loop, &o, err, sizeof err);
	static struct result r[REST_PENDING_MAX + 1];
	struct fixture f = {.loop = loop};
	CHECK_INT(rest_request(rest, "FETCH", "/users/@me", NULL, NULL, on_rest, &r[0]), -1);
	CHECK_STR(rest_error(rest), "unknown method (GET, POST, PUT, PATCH or DELETE)");
	CHECK_INT(rest_request(rest, "GET", "users/@me", NULL, NULL, on_rest, &r[0]), -1);
	CHECK_STR(rest_error(rest), "the path must start with '/'");
	/* REST_PENDING_MAX, then refusal; every accepted one is failed once
	 * by rest_free */
	int accepted = 0;
	for (int i = 0; i <= REST_PENDING_MAX; i++) {
		r[i].f = &f;
		char path[64];
		snprintf(path, sizeof path, "/channels/%d/messages", 1000 + i % 7);
		if (rest_request(rest, "POST", path, "{}", NULL, on_rest, &r[i]) == 0)
			accepted++;
	}
	CHECK_INT(accepted, REST_PENDING_MAX);
	CHECK_STR(rest_error(rest), "too many Discord requests pending");
	f.outstanding = accepted;
	rest_free(rest);
	int once = 0;
	for (int i = 0; i < REST_PENDING_MAX; i++)
		once += r[i].calls == 1 && strcmp(r[i].error, "rest client closed") == 0;
	CHECK_INT(once, REST_PENDING_MAX);
	CHECK_INT(r[REST_PENDING_MAX].calls, 0);
	close(listener);
	loop_free(loop);
}

TEST(rest_free_fails_every_pending_callback_once)
{
	/* a server that accepts connections and never answers: what is sent
	 * stays in flight */
	unsigned port;
	int listener = listen_silently(&port);
	if (!CHECK(listener >= 0))
		return;
	char api[64];
	snprintf(api, sizeof api, "http://127.0.0.1:%u/api/v10", port);
	struct fixture f;
	memset(&f, 0, sizeof f);
	f.loop = loop_new();
	struct rest_options o = {.api_url = api, .token = "t", .version = "1"};
	char err[256];
	f.rest = rest_new(f.loop, &o, err, sizeof err);
	struct result r[3], q[2];
	/* one in flight (the probe of an unknown route), two queued behind it */
	for (int i = 0; i < 3; i++)
		request(&f, &r[i], "GET", "/channels/" GENERAL, NULL, NULL);
	struct loop_timer t;
	loop_timer_init(&t, on_tick, NULL);
	loop_timer_start(f.loop, &t, 100);
	loop_run(f.loop);
	struct rest_stats st;
	rest_stats(f.rest, &st);
	CHECK_INT(st.sent, 1);
	CHECK_INT(st.pending, 3);
	/* and two never pumped at all */
	for (int i = 0; i < 2; i++)
		request(&f, &q[i], "GET", "/users/@me", NULL, NULL);
	rest_free(f.rest);
	for (int i = 0; i < 3; i++) {
		CHECK_INT(r[i].calls, 1);
		CHECK_STR(r[i].error, "rest client closed");
	}
	for (int i = 0; i < 2; i++) {
		CHECK_INT(q[i].calls, 1);
		CHECK_STR(q[i].error, "rest client closed");
	}
	loop_free(f.loop);
	close(listener);
}

/* Fails allocation n, n+1, ... of a whole cycle (new, request, TLS,
 * response, JSON, callback, free) until one succeeds: never a crash, a
 * lost or doubled callback, or (under ASan) a leak. */
TEST(rest_allocation_failure_sweep)
{
	if (emu_start() < 0)
		return;
	char err[256];
	struct tls_trust *trust = tls_trust_load(emu.ca_path, err, sizeof err);
	int done = 0;
	long last_n = 0;
	for (long n = 0; n < 5000 && !done; n++) {
		last_n = n;
		struct fixture f;
		memset(&f, 0, sizeof f);
		f.loop = loop_new();
		/* the guard first: it must fire even when the sweep starves
		 * the loop's timer heap */
		struct loop_timer guard;
		loop_timer_init(&guard, on_guard, &f);
		loop_timer_start(f.loop, &guard, 10000);
		mem_fail_after(n);
		struct rest_options o = {.api_url = emu.api_url,
		                         .token = "emulator-bot-token",
		                         .version = "1",
		                         .trust = trust,
		                         .retry_base_ms = 1,
		                         .timeout_ms = 3000};
		f.rest = rest_new(f.loop, &o, err, sizeof err);
		struct result r;
		memset(&r, 0, sizeof r);
		r.f = &f;
		if (f.rest &&
		    rest_request(f.rest, "GET", "/users/@me", NULL, NULL, on_rest, &r) == 0) {
			f.outstanding = 1;
			loop_run(f.loop);
			CHECK(!f.expired);
			CHECK_INT(r.calls, 1);
			done = r.status == 200;
		}
		mem_fail_after(-1);
		loop_timer_stop(f.loop, &guard);
		rest_free(f.rest);
		CHECK(r.calls <= 1);
		loop_free(f.loop);
	}
	CHECK(done);
	printf("rest: allocation sweep: a cycle needed %ld allocations\n", last_n);
	tls_trust_free(trust);
}
