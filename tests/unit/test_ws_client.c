/* test_ws_client.c — the WebSocket client against a REAL server written by
 * someone else: tests/peers/ws_peer.py on python3-websockets, started on a
 * loopback port by the first test that needs it, stopped at exit. Each test
 * runs a real loop (loop.c) over a real stream (tls.c), plain ws:// and
 * wss:// with certificates made by tests/data/tls/mkcerts.sh. The peer's
 * RESULT lines say what the server saw of our closing handshake. The last
 * test runs zstream over it, as the gateway will. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop.h"
#include "mem.h"
#include "test.h"
#include "tls.h"
#include "ws.h"
#include "zstream.h"

/* ---- the peer process */

struct wc_peer {
	pid_t pid;
	int out_fd; /* its stdout */
	int port;
	char lines[8192]; /* output read but not yet matched */
	size_t lines_len;
};

static struct wc_peer wc_plain = {.pid = -1}, wc_secure = {.pid = -1};

static void
wc_peer_stop(struct wc_peer *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		waitpid(p->pid, NULL, 0);
		close(p->out_fd);
	}
	p->pid = -1;
}

static void
wc_peers_stop(void)
{
	wc_peer_stop(&wc_plain);
	wc_peer_stop(&wc_secure);
}

/* Reads the peer's output until a line starting with prefix arrives (or
 * timeout_ms passes); copies that line (without prefix) into out. */
static int
wc_peer_line(struct wc_peer *p, const char *prefix, char *out, size_t out_len, int timeout_ms)
{
	for (int waited = 0;; waited += 50) {
		/* look for a complete matching line in what we have */
		char *line = p->lines;
		char *end;
		while ((end = memchr(line, '\n', p->lines_len - (size_t)(line - p->lines)))) {
			size_t plen = strlen(prefix);
			if ((size_t)(end - line) >= plen && memcmp(line, prefix, plen) == 0) {
				size_t n = (size_t)(end - line) - plen;
				if (n >= out_len)
					n = out_len - 1;
				memcpy(out, line + plen, n);
				out[n] = '\0';
				/* drop the matched line */
				size_t rest = p->lines_len - (size_t)(end + 1 - p->lines);
				memmove(line, end + 1, rest);
				p->lines_len = (size_t)(line - p->lines) + rest;
				return 0;
			}
			line = end + 1;
		}
		if (waited >= timeout_ms)
			return -1;
		struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
		if (poll(&pfd, 1, 50) > 0) {
			ssize_t n = read(p->out_fd, p->lines + p->lines_len,
			                 sizeof p->lines - 1 - p->lines_len);
			if (n <= 0)
				return -1;
			p->lines_len += (size_t)n;
		}
	}
}

static const char *
wc_certs(void)
{
	static char dir[512];
	if (!dir[0]) {
		snprintf(dir, sizeof dir, "%s/ws-certs", test_tmpdir());
		char cmd[700];
		snprintf(cmd, sizeof cmd, "sh tests/data/tls/mkcerts.sh %s >/dev/null 2>&1", dir);
		if (system(cmd) != 0)
			dir[0] = '\0';
	}
	return dir;
}

/* Starts the peer (once); 0 when it is listening. */
static int
wc_peer_start(struct wc_peer *p, int secure)
{
	if (p->pid > 0)
		return 0;
	char cert[600] = "", key[600] = "";
	if (secure) {
		const char *dir = wc_certs();
		if (!dir[0])
			return -1;
		snprintf(cert, sizeof cert, "%s/good.crt", dir);
		snprintf(key, sizeof key, "%s/server.key", dir);
	}
	int fds[2];
	if (pipe(fds) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		if (secure)
			execl("/usr/bin/python3", "python3", "tests/peers/ws_peer.py", "--tls",
			      cert, key, (char *)NULL);
		else
			execl("/usr/bin/python3", "python3", "tests/peers/ws_peer.py",
			      (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	p->pid = pid;
	p->out_fd = fds[0];
	p->lines_len = 0;
	static int registered;
	if (!registered++)
		atexit(wc_peers_stop);
	char port[32];
	if (wc_peer_line(p, "PORT ", port, sizeof port, 15000) < 0) {
		wc_peer_stop(p);
		return -1;
	}
	p->port = (int)strtol(port, NULL, 10);
	return 0;
}

/* ---- one client session */

#define WC_MAX_EXPECT 16

struct wc {
	struct loop *loop;
	struct ws *ws;
	struct loop_timer guard;
	int timed_out;
	int opened, closed, messages;
	int close_code, close_remote;
	char close_reason[128];
	char error[256];
	/* messages we expect back, in order */
	int expect_count;
	enum ws_opcode expect_op[WC_MAX_EXPECT];
	const char *expect_data[WC_MAX_EXPECT];
	size_t expect_len[WC_MAX_EXPECT];
	int mismatches;
	/* what to do */
	void (*on_open)(struct wc *c);
	void (*on_message)(struct wc *c, const struct ws_message *m);
	int (*on_closed)(struct wc *c, const struct ws_message *m);
	const char *reopen_url;
	int sweeping; /* allocation failures expected: a failed send ends the run */
	/* text messages received, joined by '|', for tests that just look */
	char texts[512];
};

static void
wc_guard_fired(struct loop *loop, struct loop_timer *t)
{
	struct wc *c = t->data;
	c->timed_out = 1;
	loop_stop(loop);
}

static void
wc_event(struct ws *w, enum ws_event ev, const struct ws_message *m, void *data)
{
	struct wc *c = data;
	(void)w;
	switch (ev) {
	case WS_EV_OPEN:
		c->opened++;
		if (c->on_open)
			c->on_open(c);
		break;
	case WS_EV_MESSAGE:
		if (m->data[m->len] != '\0')
			c->mismatches++;
		if (m->opcode == WS_OP_TEXT) {
			size_t have = strlen(c->texts);
			snprintf(c->texts + have, sizeof c->texts - have, "%s%.*s", have ? "|" : "",
			         m->len > 60 ? 60 : (int)m->len, m->data);
		}
		if (c->messages < c->expect_count) {
			int i = c->messages;
			if (m->opcode != c->expect_op[i] || m->len != c->expect_len[i] ||
			    memcmp(m->data, c->expect_data[i], m->len) != 0) {
				printf("      message %d: opcode %d, %zu bytes; expected opcode "
				       "%d, %zu "
				       "bytes\n",
				       i, m->opcode, m->len, c->expect_op[i], c->expect_len[i]);
				c->mismatches++;
			}
		}
		c->messages++;
		if (c->on_message)
			c->on_message(c, m);
		break;
	case WS_EV_CLOSED:
		c->closed++;
		c->close_code = m->close_code;
		c->close_remote = m->close_remote;
		snprintf(c->close_reason, sizeof c->close_reason, "%.*s", (int)m->len, m->data);
		snprintf(c->error, sizeof c->error, "%s", ws_error(w));
		/* on_closed may reconnect and keep the run going */
		if (!c->on_closed || !c->on_closed(c, m))
			loop_stop(c->loop);
		break;
	}
}

static void
wc_init(struct wc *c)
{
	memset(c, 0, sizeof *c);
	c->loop = loop_new();
	c->ws = ws_new(c->loop, wc_event, c);
	loop_timer_init(&c->guard, wc_guard_fired, c);
}

/* Connects to path on the peer and runs the loop until WS_EV_CLOSED (or
 * the guard's seconds pass). Returns 0 when the run ended by CLOSED. */
static int
wc_run(struct wc *c, int secure, const char *path, int guard_seconds)
{
	struct wc_peer *p = secure ? &wc_secure : &wc_plain;
	if (!CHECK_INT(wc_peer_start(p, secure), 0))
		return -1;
	struct tls_trust *trust = NULL;
	if (secure) {
		char ca[600], err[200];
		snprintf(ca, sizeof ca, "%s/ca.crt", wc_certs());
		trust = tls_trust_load(ca, err, sizeof err);
		if (!CHECK(trust != NULL))
			return -1;
	}
	char url[300];
	snprintf(url, sizeof url, "%s://%s:%d%s", secure ? "wss" : "ws",
	         secure ? "localhost" : "127.0.0.1", p->port, path);
	int rc = ws_open(c->ws, url, trust, 5000);
	CHECK_INT(rc, 0);
	if (rc == 0) {
		loop_timer_start(c->loop, &c->guard, (int64_t)guard_seconds * 1000);
		loop_run(c->loop);
		loop_timer_stop(c->loop, &c->guard);
	}
	CHECK(!c->timed_out);
	if (trust)
		tls_trust_free(trust);
	return c->closed ? 0 : -1;
}

static void
wc_done(struct wc *c)
{
	ws_free(c->ws);
	loop_free(c->loop);
}

/* The peer's RESULT line for path: "<code> <reason>". */
static void
wc_check_result(int secure, const char *path, const char *want)
{
	char line[300], prefix[200];
	snprintf(prefix, sizeof prefix, "RESULT %s ", path);
	struct wc_peer *p = secure ? &wc_secure : &wc_plain;
	if (!CHECK_INT(wc_peer_line(p, prefix, line, sizeof line, 5000), 0))
		return;
	if (!CHECK_STR(line, want))
		printf("      peer result for %s\n", path);
}

/* ---- echo */

static char *wc_big_text, *wc_big_binary;

static void
wc_echo_open(struct wc *c)
{
	for (int i = 0; i < c->expect_count; i++) {
		int rc = c->expect_op[i] == WS_OP_TEXT
		                 ? ws_send_text(c->ws, c->expect_data[i], c->expect_len[i])
		                 : ws_send_binary(c->ws, c->expect_data[i], c->expect_len[i]);
		if (rc < 0 && c->sweeping) {
			ws_close(c->ws, 1000, "send failed");
			return;
		}
		if (!CHECK_INT(rc, 0))
			printf("      send %d: %s\n", i, ws_error(c->ws));
	}
}

static void
wc_echo_message(struct wc *c, const struct ws_message *m)
{
	(void)m;
	if (c->messages == c->expect_count)
		CHECK_INT(ws_close(c->ws, WS_CLOSE_NORMAL, "echo done"), 0);
}

static void
wc_echo_sizes(int secure)
{
	static const size_t sizes[] = {0, 125, 126, 65535, 65536, 1 << 20};
	if (!wc_big_text) {
		wc_big_text = malloc(1 << 20);
		wc_big_binary = malloc(1 << 20);
		for (size_t i = 0; i < (1 << 20); i++) {
			wc_big_text[i] = (char)('a' + i % 26);
			wc_big_binary[i] = (char)((i * 2654435761u) >> 13);
		}
	}
	struct wc c;
	wc_init(&c);
	for (size_t i = 0; i < 6; i++) {
		c.expect_op[2 * i] = WS_OP_TEXT;
		c.expect_data[2 * i] = wc_big_text;
		c.expect_len[2 * i] = sizes[i];
		c.expect_op[2 * i + 1] = WS_OP_BINARY;
		c.expect_data[2 * i + 1] = wc_big_binary;
		c.expect_len[2 * i + 1] = sizes[i];
	}
	c.expect_count = 12;
	c.on_open = wc_echo_open;
	c.on_message = wc_echo_message;
	const char *path = secure ? "/echo?secure" : "/echo?sizes";
	CHECK_INT(wc_run(&c, secure, path, 20), 0);
	CHECK_INT(c.opened, 1);
	CHECK_INT(c.messages, 12);
	CHECK_INT(c.mismatches, 0);
	CHECK_INT(c.closed, 1);
	/* the peer answered our close with the same code */
	CHECK_INT(c.close_code, WS_CLOSE_NORMAL);
	CHECK_INT(c.close_remote, 1);
	if (!CHECK_STR(c.error, ""))
		printf("      error: %s\n", c.error);
	wc_check_result(secure, path, "1000 echo done");
	wc_done(&c);
}

TEST(ws_client_echo_sizes)
{
	wc_echo_sizes(0);
}

TEST(ws_client_echo_wss)
{
	wc_echo_sizes(1);
}

/* ---- fragments, pings, closes */

TEST(ws_client_fragmented_from_server)
{
	struct wc c;
	wc_init(&c);
	static char big[150001];
	memset(big, 'x', 50000);
	memset(big + 50000, 'y', 50000);
	memset(big + 100000, 'z', 50000);
	c.expect_op[0] = WS_OP_TEXT;
	c.expect_data[0] = "Hello, world";
	c.expect_len[0] = 12;
	c.expect_op[1] = WS_OP_BINARY;
	c.expect_data[1] = "\x00\x01\x02";
	c.expect_len[1] = 3;
	c.expect_op[2] = WS_OP_TEXT;
	c.expect_data[2] = big;
	c.expect_len[2] = 150000;
	/* the ping inside the third message was answered by us */
	c.expect_op[3] = WS_OP_TEXT;
	c.expect_data[3] = "pong:mid-message";
	c.expect_len[3] = 16;
	c.expect_count = 4;
	CHECK_INT(wc_run(&c, 0, "/fragments", 10), 0);
	CHECK_INT(c.messages, 4);
	CHECK_INT(c.mismatches, 0);
	CHECK_INT(c.close_code, 1000);
	CHECK_INT(c.close_remote, 1);
	CHECK_STR(c.close_reason, "fragments done");
	wc_check_result(0, "/fragments", "1000 ");
	wc_done(&c);
}

static void
wc_close_after_pong(struct wc *c, const struct ws_message *m)
{
	(void)m;
	CHECK_INT(ws_close(c->ws, 4321, "client says bye"), 0);
	/* closing: nothing more may be sent */
	CHECK_INT(ws_is_open(c->ws), 0);
	CHECK_INT(ws_send_text(c->ws, "late", 4), -1);
}

TEST(ws_client_ping_pong_and_client_close)
{
	struct wc c;
	wc_init(&c);
	c.on_message = wc_close_after_pong;
	CHECK_INT(wc_run(&c, 0, "/ping", 10), 0);
	CHECK_STR(c.texts, "pong:are you there?");
	/* the server saw our code and reason, and echoed the code */
	wc_check_result(0, "/ping", "4321 client says bye");
	CHECK_INT(c.close_code, 4321);
	CHECK_INT(c.close_remote, 1);
	wc_done(&c);
}

TEST(ws_client_server_close)
{
	struct wc c;
	wc_init(&c);
	CHECK_INT(wc_run(&c, 0, "/server-close", 10), 0);
	CHECK_INT(c.close_code, 4000);
	CHECK_INT(c.close_remote, 1);
	CHECK_STR(c.close_reason, "server says bye");
	CHECK_STR(c.error, "");
	/* we echoed the server's code, not its reason (RFC 6455 5.5.1) */
	wc_check_result(0, "/server-close", "4000 ");
	wc_done(&c);
}

/* ---- failures: we close with 1009, 1002, 1007 */

TEST(ws_client_oversized_message)
{
	struct wc c;
	wc_init(&c);
	ws_set_max_message(c.ws, 100000);
	CHECK_INT(wc_run(&c, 0, "/oversize?n=100001", 10), 0);
	CHECK_INT(c.messages, 0);
	CHECK_INT(c.close_code, WS_CLOSE_TOO_BIG);
	CHECK_INT(c.close_remote, 0);
	CHECK(strstr(c.error, "limit") != NULL);
	wc_check_result(0, "/oversize?n=100001", "1009 message larger than the limit");
	wc_done(&c);

	/* exactly the limit is fine */
	wc_init(&c);
	ws_set_max_message(c.ws, 100000);
	c.on_message = wc_close_after_pong;
	CHECK_INT(wc_run(&c, 0, "/oversize?n=100000", 10), 0);
	CHECK_INT(c.messages, 1);
	wc_check_result(0, "/oversize?n=100000", "4321 client says bye");
	wc_done(&c);
}

TEST(ws_client_malformed_frame)
{
	struct wc c;
	wc_init(&c);
	CHECK_INT(wc_run(&c, 0, "/malformed", 10), 0);
	CHECK_INT(c.close_code, WS_CLOSE_PROTOCOL);
	CHECK_INT(c.close_remote, 0);
	CHECK(strstr(c.error, "reserved bits") != NULL);
	wc_check_result(0, "/malformed", "1002 reserved bits set in a frame");
	wc_done(&c);
}

TEST(ws_client_invalid_utf8)
{
	struct wc c;
	wc_init(&c);
	CHECK_INT(wc_run(&c, 0, "/bad-utf8", 10), 0);
	CHECK_INT(c.close_code, WS_CLOSE_BAD_DATA);
	wc_check_result(0, "/bad-utf8", "1007 text message is not valid UTF-8");
	wc_done(&c);
}

/* ---- the close wait is bounded */

static void
wc_close_at_once(struct wc *c)
{
	CHECK_INT(ws_close(c->ws, WS_CLOSE_GOING_AWAY, "shutting down"), 0);
}

TEST(ws_client_close_unanswered)
{
	struct wc c;
	wc_init(&c);
	c.on_open = wc_close_at_once;
	int64_t t0 = loop_now(c.loop);
	CHECK_INT(wc_run(&c, 0, "/deaf", 10), 0);
	int64_t took = loop_now(c.loop) - t0;
	CHECK_INT(c.close_code, WS_CLOSE_ABNORMAL);
	CHECK(strstr(c.error, "no close frame") != NULL);
	CHECK(took >= WS_CLOSE_WAIT_MS && took < WS_CLOSE_WAIT_MS + 2000);
	wc_done(&c);
}

/* ---- the opening handshake */

TEST(ws_client_handshake_refused)
{
	struct wc c;
	wc_init(&c);
	CHECK_INT(wc_run(&c, 0, "/forbidden", 10), 0);
	CHECK_INT(c.opened, 0);
	CHECK_INT(c.close_code, WS_CLOSE_ABNORMAL);
	if (!CHECK(strstr(c.error, "403") != NULL))
		printf("      error: %s\n", c.error);
	wc_done(&c);
}

TEST(ws_client_connect_refused)
{
	struct wc c;
	wc_init(&c);
	/* port 1 on loopback: nothing listens there */
	CHECK_INT(ws_open(c.ws, "ws://127.0.0.1:1/", NULL, 3000), 0);
	loop_timer_start(c.loop, &c.guard, 5000);
	loop_run(c.loop);
	CHECK_INT(c.closed, 1);
	CHECK_INT(c.close_code, WS_CLOSE_ABNORMAL);
	if (!CHECK(strstr(c.error, "refused") != NULL))
		printf("      error: %s\n", c.error);
	/* bad arguments fail at once */
	CHECK_INT(ws_open(c.ws, "http://127.0.0.1/", NULL, 3000), -1);
	CHECK(strstr(ws_error(c.ws), "ws://") != NULL);
	CHECK_INT(ws_open(c.ws, "wss://127.0.0.1/", NULL, 3000), -1);
	CHECK(strstr(ws_error(c.ws), "trust") != NULL);
	CHECK_INT(ws_close(c.ws, 1000, ""), -1);
	CHECK_INT(ws_send_text(c.ws, "x", 1), -1);
	wc_done(&c);
}

/* ---- ownership: free and reopen from inside the callback */

static void
wc_reopen_message(struct wc *c, const struct ws_message *m)
{
	(void)m;
	ws_close(c->ws, 1000, "again");
}

/* Reconnects from inside WS_EV_CLOSED until three connections were made;
 * the reason is still readable after ws_open reset w's state. */
static int
wc_reopen_closed(struct wc *c, const struct ws_message *m)
{
	if (c->closed >= 3)
		return 0;
	CHECK_INT(ws_open(c->ws, c->reopen_url, NULL, 5000), 0);
	CHECK_INT(m->close_code, 1000);
	/* websockets echoes our reason too */
	CHECK(m->len == 5 && memcmp(m->data, "again", 5) == 0);
	return 1;
}

TEST(ws_client_reopen_and_free_in_callback)
{
	CHECK_INT(wc_peer_start(&wc_plain, 0), 0);
	char url[200];
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/oversize?n=5", wc_plain.port);
	struct wc c;
	wc_init(&c);
	c.on_message = wc_reopen_message;
	c.on_closed = wc_reopen_closed;
	c.reopen_url = url;
	/* three connections on one struct ws, each opened inside the last
	 * one's WS_EV_CLOSED */
	CHECK_INT(ws_open(c.ws, url, NULL, 5000), 0);
	loop_timer_start(c.loop, &c.guard, 15000);
	loop_run(c.loop);
	CHECK(!c.timed_out);
	CHECK_INT(c.closed, 3);
	CHECK_INT(c.messages, 3);
	CHECK_INT(c.close_code, 1000);
	for (int round = 0; round < 3; round++) {
		char line[100];
		CHECK_INT(wc_peer_line(&wc_plain, "RESULT /oversize?n=5 ", line, sizeof line, 5000),
		          0);
		CHECK_STR(line, "1000 again");
	}
	wc_done(&c);
}

static void
wc_free_on_message(struct wc *c, const struct ws_message *m)
{
	(void)m;
	ws_free(c->ws);
	c->ws = NULL;
	loop_stop(c->loop);
}

TEST(ws_client_free_inside_callback)
{
	struct wc c;
	wc_init(&c);
	c.on_message = wc_free_on_message;
	CHECK_INT(wc_peer_start(&wc_plain, 0), 0);
	char url[200];
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/fragments", wc_plain.port);
	CHECK_INT(ws_open(c.ws, url, NULL, 5000), 0);
	loop_timer_start(c.loop, &c.guard, 10000);
	loop_run(c.loop);
	loop_timer_stop(c.loop, &c.guard);
	CHECK_INT(c.messages, 1);
	CHECK_INT(c.closed, 0);
	CHECK(!c.timed_out);
	/* ASan checks the rest: nothing used after free, nothing leaked */
	loop_free(c.loop);
	/* the peer sees the connection drop without a close frame */
	char line[100];
	CHECK_INT(wc_peer_line(&wc_plain, "RESULT /fragments ", line, sizeof line, 8000), 0);
	CHECK_STR(line, "1006 ");
}

/* ws_new fails cleanly at every allocation, and frees everything. */
TEST(ws_client_new_alloc_failures)
{
	struct loop *loop = loop_new();
	int made = 0;
	for (long n = 0; n < 20 && !made; n++) {
		mem_fail_after(n);
		struct ws *w = ws_new(loop, wc_event, NULL);
		mem_fail_after(-1);
		if (w) {
			made = 1;
			ws_free(w);
		}
	}
	CHECK(made);
	loop_free(loop);
}

/* A whole session (connect, handshake, echo, close) with allocation N
 * failing, for every N until one succeeds: each run ends with exactly one
 * WS_EV_CLOSED (or ws_open failing at once), never a hang, crash or leak. */
TEST(ws_client_session_alloc_failures)
{
	CHECK_INT(wc_peer_start(&wc_plain, 0), 0);
	char url[200];
	snprintf(url, sizeof url, "ws://127.0.0.1:%d/echo?alloc", wc_plain.port);
	static char big[70000];
	memset(big, 'b', sizeof big);
	int succeeded = 0, failures = 0;
	for (long n = 0; n < 200 && !succeeded; n++) {
		struct wc c;
		wc_init(&c);
		c.expect_op[0] = WS_OP_TEXT;
		c.expect_data[0] = "hello";
		c.expect_len[0] = 5;
		c.expect_op[1] = WS_OP_BINARY;
		c.expect_data[1] = "\x01\x02\x03";
		c.expect_len[1] = 3;
		c.expect_op[2] = WS_OP_TEXT;
		c.expect_data[2] = big;
		c.expect_len[2] = sizeof big;
		c.expect_count = 3;
		c.on_open = wc_echo_open;
		c.on_message = wc_echo_message;
		c.sweeping = 1;
		loop_timer_start(c.loop, &c.guard, 10000);
		mem_fail_after(n);
		int rc = ws_open(c.ws, url, NULL, 5000);
		if (rc == 0)
			loop_run(c.loop);
		mem_fail_after(-1);
		loop_timer_stop(c.loop, &c.guard);
		if (rc < 0) {
			CHECK(ws_error(c.ws)[0] != '\0');
		} else {
			CHECK(!c.timed_out);
			CHECK_INT(c.closed, 1);
			if (c.messages == 3 && c.close_code == 1000 && c.close_remote)
				succeeded = 1;
			else
				failures++;
		}
		wc_done(&c);
	}
	CHECK(succeeded);
	CHECK(failures > 0);
	printf("      %d sessions failed cleanly before one succeeded\n", failures);
}

/* ---- with zstream: Discord's transport compression over a real server */

struct wc_zlib {
	struct zstream zs;
	int binary_messages, payloads, bad;
	char *want[3];
	size_t want_len[3];
};

static struct wc_zlib wc_z;

static void
wc_zlib_message(struct wc *c, const struct ws_message *m)
{
	CHECK_INT(m->opcode, WS_OP_BINARY);
	wc_z.binary_messages++;
	enum zstream_result r = zstream_feed(&wc_z.zs, m->data, m->len);
	if (r == ZSTREAM_ERR) {
		printf("      zstream: %s\n", zstream_error(&wc_z.zs));
		wc_z.bad++;
		ws_close(c->ws, 1000, "zlib failed");
		return;
	}
	if (r == ZSTREAM_MORE)
		return;
	size_t len;
	const char *payload = zstream_data(&wc_z.zs, &len);
	int i = wc_z.payloads++;
	if (i >= 3 || len != wc_z.want_len[i] || memcmp(payload, wc_z.want[i], len) != 0)
		wc_z.bad++;
	if (wc_z.payloads == 3)
		ws_close(c->ws, 1000, "zlib done");
}

TEST(ws_client_zlib_stream_payloads)
{
	wc_z.want[0] = strdup("{\"op\":10,\"d\":{\"heartbeat_interval\":41250}}");
	wc_z.want[1] = test_read_file("tests/data/zstream/message_create.json", &wc_z.want_len[1]);
	wc_z.want[2] = strdup("{\"op\":11,\"d\":null}");
	CHECK(wc_z.want[1] != NULL);
	if (!wc_z.want[1])
		return;
	while (wc_z.want_len[1] && wc_z.want[1][wc_z.want_len[1] - 1] == '\n')
		wc_z.want_len[1]--;
	wc_z.want_len[0] = strlen(wc_z.want[0]);
	wc_z.want_len[2] = strlen(wc_z.want[2]);
	zstream_init(&wc_z.zs, 1 << 20);
	/* two connections: the second starts a new zlib stream (reset) */
	for (int conn = 0; conn < 2; conn++) {
		wc_z.binary_messages = wc_z.payloads = wc_z.bad = 0;
		zstream_reset(&wc_z.zs);
		struct wc c;
		wc_init(&c);
		c.on_message = wc_zlib_message;
		CHECK_INT(wc_run(&c, 0, "/zlib-stream", 10), 0);
		CHECK_INT(wc_z.binary_messages, 5);
		CHECK_INT(wc_z.payloads, 3);
		CHECK_INT(wc_z.bad, 0);
		wc_check_result(0, "/zlib-stream", "1000 zlib done");
		wc_done(&c);
	}
	zstream_free(&wc_z.zs);
	for (int i = 0; i < 3; i++)
		free(wc_z.want[i]);
}

/* ---- masking keys, seen on the wire */

/* Reads exactly n bytes; 0 or -1. */
static int
wc_read_full(int fd, void *out, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)out + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* A bare server in a child process: answers the handshake, reads three
 * one-byte text frames, and exits 0 only if each was masked, unmasked to
 * "a", and every masking key differed (RFC 6455 5.3). */
static void
wc_mask_server(int lfd)
{
	int fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		_exit(2);
	char req[2048];
	size_t len = 0;
	while (len < sizeof req - 1 && !(len >= 4 && memcmp(req + len - 4, "\r\n\r\n", 4) == 0)) {
		if (read(fd, req + len, 1) != 1)
			_exit(3);
		len++;
	}
	req[len] = '\0';
	const char *k = strstr(req, "Sec-WebSocket-Key: ");
	if (!k)
		_exit(4);
	char key[25];
	memcpy(key, k + 19, 24);
	key[24] = '\0';
	char accept_value[29], resp[256];
	ws_handshake_accept(accept_value, key);
	int n = snprintf(resp, sizeof resp,
	                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
	                 accept_value);
	if (write(fd, resp, (size_t)n) != n)
		_exit(5);
	uint8_t masks[3][4];
	for (int i = 0; i < 3; i++) {
		uint8_t f[7];
		if (wc_read_full(fd, f, 7) < 0)
			_exit(6);
		if (f[0] != 0x81 || f[1] != 0x81 || (f[6] ^ f[2]) != 'a')
			_exit(7);
		memcpy(masks[i], f + 2, 4);
	}
	if (!memcmp(masks[0], masks[1], 4) || !memcmp(masks[1], masks[2], 4) ||
	    !memcmp(masks[0], masks[2], 4))
		_exit(8);
	/* close 1000, then wait for the client's close */
	if (write(fd, "\x88\x02\x03\xe8", 4) != 4)
		_exit(9);
	uint8_t f[8];
	if (wc_read_full(fd, f, 8) < 0 || f[0] != 0x88)
		_exit(10);
	_exit(0);
}

static void
wc_send_three(struct wc *c)
{
	for (int i = 0; i < 3; i++)
		CHECK_INT(ws_send_text(c->ws, "a", 1), 0);
}

TEST(ws_client_fresh_mask_per_frame)
{
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	CHECK_INT(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	CHECK_INT(listen(lfd, 1), 0);
	CHECK_INT(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	pid_t pid = fork();
	if (pid == 0)
		wc_mask_server(lfd);
	close(lfd);
	struct wc c;
	wc_init(&c);
	c.on_open = wc_send_three;
	char url[100];
	snprintf(url, sizeof url, "ws://127.0.0.1:%u/", (unsigned)ntohs(sa.sin_port));
	CHECK_INT(ws_open(c.ws, url, NULL, 5000), 0);
	loop_timer_start(c.loop, &c.guard, 10000);
	loop_run(c.loop);
	CHECK_INT(c.close_code, 1000);
	int status = -1;
	waitpid(pid, &status, 0);
	if (!CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		printf("      mask server exit status %d\n", WEXITSTATUS(status));
	wc_done(&c);
}

/* ---- ws_pause_reading (issue 13.1's back-pressure): 200 echoed messages
 * arrive in a few reads; the client pauses after the 10th, for 150 ms and
 * again after the 100th: nothing is delivered while paused, and after each
 * resume the rest comes whole and in order (over plain TCP and TLS). */

struct wc_pause {
	struct loop_timer resume;
	struct ws *ws;
	int at_pause, during_pause, pauses, out_of_order;
	int next;
};

static struct wc_pause wc_p;

static void
wc_pause_open(struct wc *c)
{
	for (int i = 0; i < 200; i++) {
		char text[16];
		int n = snprintf(text, sizeof text, "m%d", i);
		CHECK_INT(ws_send_text(c->ws, text, (size_t)n), 0);
	}
}

static void
wc_pause_resume(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	(void)t;
	wc_p.during_pause += wc_p.next - wc_p.at_pause;
	ws_pause_reading(wc_p.ws, 0);
}

static void
wc_pause_message(struct wc *c, const struct ws_message *m)
{
	char want[16];
	int n = snprintf(want, sizeof want, "m%d", wc_p.next);
	if (m->len != (size_t)n || memcmp(m->data, want, (size_t)n) != 0)
		wc_p.out_of_order++;
	wc_p.next++;
	if (wc_p.next == 10 || wc_p.next == 100) {
		ws_pause_reading(c->ws, 1);
		wc_p.pauses++;
		wc_p.at_pause = wc_p.next;
		loop_timer_start(c->loop, &wc_p.resume, 150);
	}
	if (wc_p.next == 200)
		ws_close(c->ws, 1000, "pause done");
}

TEST(ws_client_pause_reading)
{
	for (int secure = 0; secure < 2; secure++) {
		memset(&wc_p, 0, sizeof wc_p);
		struct wc c;
		wc_init(&c);
		wc_p.ws = c.ws;
		loop_timer_init(&wc_p.resume, wc_pause_resume, NULL);
		c.on_open = wc_pause_open;
		c.on_message = wc_pause_message;
		CHECK_INT(wc_run(&c, secure, "/echo", 10), 0);
		CHECK_INT(wc_p.next, 200);
		CHECK_INT(wc_p.pauses, 2);
		CHECK_INT(wc_p.during_pause, 0);
		CHECK_INT(wc_p.out_of_order, 0);
		CHECK_INT(c.mismatches, 0);
		wc_check_result(secure, "/echo", "1000 pause done");
		loop_timer_stop(c.loop, &wc_p.resume);
		wc_done(&c);
	}
}
