/* gateway — see gateway.h. */
#include "gateway.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "backoff.h"
#include "buf.h"
#include "json.h"
#include "jsonkeep.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "ws.h"
#include "zstream.h"

/* Discord's largest payloads (GUILD_CREATE of a big guild) stay far below
 * this once inflated; the WebSocket layer enforces the same cap on the
 * compressed side. */
#define GATEWAY_MAX_PAYLOAD (8u << 20)
/* Discord closes a connection that sends a payload over 4096 bytes. */
#define GATEWAY_MAX_SEND 4096
/* Failed identifies double the pause, up to 5 s * 2^7 = 640 s: at most
 * about 135 identifies a day even if every one fails. */
#define IDENTIFY_BACKOFF_SHIFT_MAX 7
/* Backoff between reconnects starts here and doubles. */
#define BACKOFF_BASE_MS 1000
/* Connections to resume_gateway_url that fail before HELLO (refused, TLS
 * failure, bad URL) before the session is given up and a new one started
 * on the gateway URL: three tries span a few seconds of backoff, and a
 * resume URL that fails three times in a row is gone, not busy. */
#define RESUME_URL_TRIES 3
/* The close code this client uses when it means to resume: anything but
 * 1000/1001, which end the session (Discord: Gateway, "Resuming"). */
#define CLOSE_TO_RESUME 4000

enum gateway_state {
	GW_IDLE,           /* not started */
	GW_CONNECTING,     /* ws_open under way */
	GW_WAIT_HELLO,     /* open, waiting for op 10 */
	GW_HANDSHAKE,      /* IDENTIFY or RESUME sent (or identify waiting its turn) */
	GW_READY,          /* READY or RESUMED received */
	GW_DISCONNECTING,  /* we closed the socket and will reconnect */
	GW_WAIT_RECONNECT, /* the reconnect timer runs */
	GW_CLOSING,        /* gateway_close: close 1000 under way */
	GW_CLOSED,         /* after gateway_close */
	GW_FATAL,          /* refused for good */
};

struct gateway {
	struct loop *loop;
	struct ws *ws;
	struct zstream zs;
	struct jsonkeep keep; /* prunes a payload past GATEWAY_SPILL_AT */
	int keeping;          /* keep has a payload under way */
	int keep_failed;      /* ... and it was not valid JSON */
	struct json_doc doc;
	struct buf out; /* the payload being sent */
	gateway_event_fn *fn;
	void *data;

	char *token;
	char *url;
	gateway_url_fn *refresh_url;
	const char *const *raw_events; /* borrowed; NULL: none */
	gateway_raw_fn *raw;
	/* the raw events' one-pass scan: op, s, t, d, then "d." + each of
	 * the owner's raw_paths (their text in raw_path_text) */
	struct json_scan_path raw_scan[4 + GATEWAY_RAW_PATHS];
	size_t raw_scan_n;
	char raw_path_text[GATEWAY_RAW_PATHS][GATEWAY_RAW_PATH_MAX + 3];
	int url_wanted;         /* the owner was asked for a fresh URL */
	int64_t url_wait_until; /* ... and a new session waits for it until then */
	int holding_for_url;    /* the reconnect timer waits for that URL */
	uint32_t intents;
	const struct tls_trust *trust;
	int64_t connect_timeout_ms, hello_timeout_ms, identify_gap_ms, backoff_max_ms;

	enum gateway_state state;
	char session_id[128];
	char resume_url[512];
	int64_t seq;
	int has_seq;
	int resume_next;            /* the next connection RESUMEs (else IDENTIFYs) */
	int64_t reconnect_delay_ms; /* set by whoever closed on purpose; -1: back off */

	int64_t heartbeat_interval_ms;
	int ack_received; /* since the last heartbeat */
	int64_t heartbeat_sent_at;
	struct loop_timer heartbeat_timer;
	struct loop_timer hello_timer;
	struct loop_timer reconnect_timer;
	struct loop_timer identify_timer;
	struct loop_defer closed_defer;
	int backoff_attempt;
	uint32_t rng;            /* backoff jitter */
	int via_resume_url;      /* the connection under way went to resume_url */
	int resume_url_failures; /* in a row, reset by READY/RESUMED */

	long identify_remaining;
	int64_t identify_reset_at;
	int64_t last_identify_at;  /* -1: never */
	int unanswered_identifies; /* identifies since the last READY */

	char error[256];
	struct gateway_stats stats;
};

static void gateway_connect(struct gateway *g);

/* ------------------------------------------------------------ helpers */

static uint32_t
random_u32(void)
{
	uint32_t r;
	if (getrandom(&r, sizeof r, GRND_NONBLOCK) == (ssize_t)sizeof r)
		return r;
	/* jitter only spreads reconnects; the clock is good enough then */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)ts.tv_nsec * 2654435761u;
}

/* A uniformly random delay in [lo, hi] ms. */
static int64_t
random_between(int64_t lo, int64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (int64_t)(random_u32() % (uint64_t)(hi - lo + 1));
}

static void set_error(struct gateway *g, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void
set_error(struct gateway *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->error, sizeof g->error, fmt, ap);
	va_end(ap);
}

static void
emit(struct gateway *g, enum gateway_event ev, const char *name, const struct json_value *d)
{
	g->fn(g, ev, name, d, g->data);
}

static void
stop_connection_timers(struct gateway *g)
{
	loop_timer_stop(g->loop, &g->heartbeat_timer);
	loop_timer_stop(g->loop, &g->hello_timer);
	loop_timer_stop(g->loop, &g->identify_timer);
}

/* Sends the payload in g->out (complete JSON text). */
static int
send_out(struct gateway *g, const char *what)
{
	if (g->out.len > GATEWAY_MAX_SEND) {
		log_error("gateway", "%s payload is %zu bytes, over Discord's %d", what, g->out.len,
		          GATEWAY_MAX_SEND);
		return -1;
	}
	if (ws_send_text(g->ws, g->out.data, g->out.len) < 0) {
		log_warn("gateway", "cannot send %s: %s", what, ws_error(g->ws));
		return -1;
	}
	return 0;
}

/* The next reconnect delay after an unplanned loss: the one backoff rule
 * (backoff.h: 1 s doubling to the cap, full jitter so many clients do not
 * come back at once). */
static int64_t
next_backoff(struct gateway *g)
{
	if (g->backoff_attempt < 64)
		g->backoff_attempt++;
	return backoff_delay((unsigned)g->backoff_attempt, BACKOFF_BASE_MS,
	                     (unsigned)g->backoff_max_ms, &g->rng);
}

/* A connection to resume_gateway_url failed before HELLO. After
 * RESUME_URL_TRIES in a row the session is given up: resuming is only
 * possible there, and a bot that keeps trying an unreachable URL stays
 * offline for good. A new session (IDENTIFY) on the gateway URL loses the
 * events missed meanwhile but brings the bot back. */
static void
resume_url_failed(struct gateway *g)
{
	g->resume_url_failures++;
	if (g->resume_url_failures < RESUME_URL_TRIES)
		return;
	log_warn("gateway",
	         "resume_gateway_url %s failed %d times in a row; starting a new session on %s",
	         g->resume_url, g->resume_url_failures, g->url);
	g->stats.resume_url_fallbacks++;
	g->resume_url[0] = '\0';
	g->session_id[0] = '\0';
	g->has_seq = 0;
	g->resume_next = 0;
	g->resume_url_failures = 0;
	if (g->refresh_url) {
		/* the gateway URL may have moved too: ask the owner (it may
		 * answer at once, through gateway_set_url) */
		g->url_wanted = 1;
		g->url_wait_until = loop_now(g->loop) + GATEWAY_URL_WAIT_MS;
		g->refresh_url(g, g->data);
	}
}

/* Closes the socket on purpose and reconnects after delay_ms, resuming
 * when resume is set. */
static void
close_and_reconnect(struct gateway *g, int resume, int64_t delay_ms, const char *why)
{
	log_info("gateway", "reconnecting (%s), will %s", why, resume ? "resume" : "identify");
	g->resume_next = resume && g->session_id[0];
	g->reconnect_delay_ms = delay_ms;
	g->state = GW_DISCONNECTING;
	stop_connection_timers(g);
	if (ws_close(g->ws, CLOSE_TO_RESUME, why) < 0) {
		/* not connected at all: go straight to the timer */
		g->state = GW_WAIT_RECONNECT;
		loop_timer_start(g->loop, &g->reconnect_timer, delay_ms);
	}
}

/* ------------------------------------------------------------ sending */

static void
send_heartbeat(struct gateway *g)
{
	struct json_writer w;
	buf_reset(&g->out);
	json_writer_init(&w, &g->out);
	json_write_object_begin(&w);
	json_write_key_int64(&w, "op", 1);
	json_write_key(&w, "d");
	if (g->has_seq)
		json_write_int64(&w, g->seq);
	else
		json_write_null(&w);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0 || send_out(g, "heartbeat") < 0)
		return;
	g->heartbeat_sent_at = loop_now(g->loop);
	g->stats.heartbeats++;
}

static void
send_identify(struct gateway *g)
{
	struct json_writer w;
	buf_reset(&g->out);
	json_writer_init(&w, &g->out);
	json_write_object_begin(&w);
	json_write_key_int64(&w, "op", 2);
	json_write_key(&w, "d");
	json_write_object_begin(&w);
	json_write_key_string(&w, "token", g->token);
	json_write_key_int64(&w, "intents", g->intents);
	json_write_key(&w, "properties");
	json_write_object_begin(&w);
	json_write_key_string(&w, "os", "linux");
	json_write_key_string(&w, "browser", "agora");
	json_write_key_string(&w, "device", "agora");
	json_write_object_end(&w);
	json_write_object_end(&w);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0 || send_out(g, "identify") < 0)
		return;
	int64_t now = loop_now(g->loop);
	g->last_identify_at = now;
	g->unanswered_identifies++;
	if (g->identify_remaining > 0)
		g->identify_remaining--;
	g->stats.identifies++;
	log_info("gateway", "identifying (intents %u, %ld session starts left)", g->intents,
	         g->identify_remaining);
}

static void
send_resume(struct gateway *g)
{
	struct json_writer w;
	buf_reset(&g->out);
	json_writer_init(&w, &g->out);
	json_write_object_begin(&w);
	json_write_key_int64(&w, "op", 6);
	json_write_key(&w, "d");
	json_write_object_begin(&w);
	json_write_key_string(&w, "token", g->token);
	json_write_key_string(&w, "session_id", g->session_id);
	json_write_key(&w, "seq");
	if (g->has_seq)
		json_write_int64(&w, g->seq);
	else
		json_write_null(&w);
	json_write_object_end(&w);
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0 || send_out(g, "resume") < 0)
		return;
	g->stats.resumes++;
	log_info("gateway", "resuming session at seq %lld", (long long)(g->has_seq ? g->seq : 0));
}

/* When the next IDENTIFY may go: the 5 s gap (doubled per identify that
 * got no READY) and the session start limit. */
static int64_t
identify_allowed_at(struct gateway *g, int64_t now)
{
	int64_t at = now;
	if (g->last_identify_at >= 0) {
		int shift = g->unanswered_identifies > 0 ? g->unanswered_identifies - 1 : 0;
		if (shift > IDENTIFY_BACKOFF_SHIFT_MAX)
			shift = IDENTIFY_BACKOFF_SHIFT_MAX;
		int64_t next = g->last_identify_at + (g->identify_gap_ms << shift);
		if (next > at)
			at = next;
	}
	if (g->identify_remaining <= 0) {
		if (g->identify_reset_at > now) {
			if (g->identify_reset_at > at)
				at = g->identify_reset_at;
		} else {
			/* the daily window passed; Discord renews it (1000) */
			g->identify_remaining = 1000;
		}
	}
	return at;
}

static void
identify_when_allowed(struct gateway *g)
{
	int64_t now = loop_now(g->loop);
	int64_t at = identify_allowed_at(g, now);
	if (at <= now) {
		send_identify(g);
		return;
	}
	log_info("gateway", "waiting %lld ms before identifying (%s)", (long long)(at - now),
	         g->identify_remaining <= 0 ? "no session starts left until the daily reset"
	                                    : "identify rate");
	loop_timer_start(g->loop, &g->identify_timer, at - now);
}

/* ------------------------------------------------------------ timers */

static void
on_identify_timer(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct gateway *g = t->data;
	if (g->state == GW_HANDSHAKE)
		identify_when_allowed(g);
}

static void
on_heartbeat_timer(struct loop *loop, struct loop_timer *t)
{
	struct gateway *g = t->data;
	if (!g->ack_received) {
		/* Discord: no ACK between two heartbeats means a zombie
		 * connection; close with a non-1000 code and resume */
		g->stats.zombies++;
		log_warn("gateway", "no heartbeat ACK in %lld ms: zombie connection",
		         (long long)g->heartbeat_interval_ms);
		close_and_reconnect(g, 1, 0, "heartbeat not acknowledged");
		return;
	}
	g->ack_received = 0;
	send_heartbeat(g);
	loop_timer_start(loop, t, g->heartbeat_interval_ms);
}

static void
on_hello_timer(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct gateway *g = t->data;
	log_warn("gateway", "no HELLO within %lld ms", (long long)g->hello_timeout_ms);
	if (g->via_resume_url)
		resume_url_failed(g);
	close_and_reconnect(g, 1, -1, "no hello");
}

static void
on_reconnect_timer(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct gateway *g = t->data;
	if (g->state == GW_WAIT_RECONNECT)
		gateway_connect(g);
}

static void
on_closed_defer(struct loop *loop, struct loop_defer *d)
{
	(void)loop;
	struct gateway *g = d->data;
	emit(g, GATEWAY_CLOSED, NULL, NULL);
}

/* ------------------------------------------------------------ receiving */

static void
on_dispatch(struct gateway *g, const char *name, const struct json_value *d)
{
	g->stats.dispatches++;
	if (strcmp(name, "READY") == 0) {
		const char *sid = json_path_str(d, "session_id");
		const char *resume = json_path_str(d, "resume_gateway_url");
		if (!sid || strlen(sid) >= sizeof g->session_id) {
			log_error("gateway", "READY without a usable session_id");
			close_and_reconnect(g, 0, -1, "bad READY");
			return;
		}
		snprintf(g->session_id, sizeof g->session_id, "%s", sid);
		if (resume && strlen(resume) < sizeof g->resume_url)
			snprintf(g->resume_url, sizeof g->resume_url, "%s", resume);
		else
			g->resume_url[0] = '\0';
		g->state = GW_READY;
		g->backoff_attempt = 0;
		g->resume_url_failures = 0;
		g->unanswered_identifies = 0;
		g->error[0] = '\0';
		log_info("gateway", "ready: session %s", g->session_id);
		emit(g, GATEWAY_READY, name, d);
		return;
	}
	if (strcmp(name, "RESUMED") == 0) {
		g->state = GW_READY;
		g->backoff_attempt = 0;
		g->resume_url_failures = 0;
		g->error[0] = '\0';
		log_info("gateway", "resumed session %s", g->session_id);
		emit(g, GATEWAY_RESUMED, name, d);
		return;
	}
	emit(g, GATEWAY_DISPATCH, name, d);
}

static void
on_hello(struct gateway *g, const struct json_value *d)
{
	int64_t interval;
	if (json_path_int64(d, "heartbeat_interval", &interval) < 0 || interval < 100 ||
	    interval > 10 * 60 * 1000) {
		log_error("gateway", "HELLO without a usable heartbeat_interval");
		close_and_reconnect(g, 1, -1, "bad hello");
		return;
	}
	loop_timer_stop(g->loop, &g->hello_timer);
	g->heartbeat_interval_ms = interval;
	g->ack_received = 1;
	/* Discord: the first heartbeat after interval * jitter, jitter in
	 * [0, 1), so that clients reconnecting together spread out */
	loop_timer_start(g->loop, &g->heartbeat_timer, random_between(0, interval - 1));
	g->state = GW_HANDSHAKE;
	if (g->resume_next && g->session_id[0])
		send_resume(g);
	else
		identify_when_allowed(g);
}

/* Longest dispatch name compared with raw_events; Discord's are under 40
 * bytes, and a longer one is simply not raw. */
#define GATEWAY_NAME_MAX 64

static int
is_raw_event(const struct gateway *g, const char *name)
{
	/* the gateway reads these two itself (session, state) */
	if (strcmp(name, "READY") == 0 || strcmp(name, "RESUMED") == 0)
		return 0;
	for (const char *const *r = g->raw_events; *r; r++)
		if (strcmp(*r, name) == 0)
			return 1;
	return 0;
}

/* The hot path (issue 13.3): a dispatch the owner takes raw is scanned,
 * not parsed. A look at the envelope's first members (Discord sends t, s
 * and op before d) rules out every other payload at once: those take the
 * DOM path exactly as before, with its checks and warnings. A raw one is
 * then read in one pass (json_scan_paths: structure and scalars checked,
 * nothing built) for op, s, t, d and the owner's paths inside d, the
 * first of each as json_get would find it. Returns 1 when the payload was
 * handled so, 0 for anything else (malformed included), which then goes
 * to the DOM path. */
static int
on_payload_raw(struct gateway *g, const char *text, size_t len)
{
	struct json_scan sc;
	struct json_span key, v;
	char name[GATEWAY_NAME_MAX];
	int have_t = 0, have_op = 0, r;
	int64_t n;
	/* the look: until t and op are known (a d before them is skipped) */
	if (json_scan_begin(&sc, text, len) < 0)
		return 0;
	while ((!have_t || !have_op) && (r = json_scan_next(&sc, &key, &v)) == 1) {
		if (!have_t && json_span_key_is(key, "t", 1)) {
			if (json_span_string(v, name, sizeof name, NULL) < 0 ||
			    !is_raw_event(g, name))
				return 0;
			have_t = 1;
		} else if (!have_op && json_span_key_is(key, "op", 2)) {
			if (json_span_int64(v, &n) < 0 || n != 0)
				return 0;
			have_op = 1;
		}
	}
	if (!have_t || !have_op)
		return 0;
	/* the pass: [0] op, [1] s, [2] t, [3] d, [4..] the owner's paths */
	struct json_scan_path *p = g->raw_scan;
	if (json_scan_paths(text, len, p, g->raw_scan_n) < 0)
		return 0;
	struct json_span values[GATEWAY_RAW_PATHS];
	for (size_t i = 4; i < g->raw_scan_n; i++)
		values[i - 4] = p[i].value;
	/* s exactly as below: an integer moves the sequence on */
	if (json_span_int64(p[1].value, &n) == 0) {
		g->seq = n;
		g->has_seq = 1;
	}
	g->stats.dispatches++;
	g->stats.raw_dispatches++;
	g->raw(g, name, p[3].value.p, p[3].value.len, values, g->data);
	return 1;
}

/* The raw events' scan paths from the owner's (gateway_new). 0, or -1
 * when there are too many or one is too long. */
static int
raw_paths_init(struct gateway *g, const char *const *paths)
{
	static const char *const envelope[] = {"op", "s", "t", "d"};
	for (size_t i = 0; i < 4; i++)
		g->raw_scan[i].path = envelope[i];
	g->raw_scan_n = 4;
	for (size_t i = 0; paths && paths[i]; i++) {
		if (i == GATEWAY_RAW_PATHS || strlen(paths[i]) > GATEWAY_RAW_PATH_MAX) {
			log_error("gateway", "raw_paths: more than %d, or one over %d bytes",
			          GATEWAY_RAW_PATHS, GATEWAY_RAW_PATH_MAX);
			return -1;
		}
		snprintf(g->raw_path_text[i], sizeof g->raw_path_text[i], "d.%s", paths[i]);
		g->raw_scan[g->raw_scan_n++].path = g->raw_path_text[i];
	}
	return 0;
}

static void
on_payload(struct gateway *g, const char *text, size_t len)
{
	if (g->raw && on_payload_raw(g, text, len))
		return;
	g->stats.parsed++;
	const struct json_value *root = json_parse(&g->doc, text, len);
	if (!root) {
		log_warn("gateway", "unreadable payload: %s", json_doc_error(&g->doc));
		return;
	}
	int64_t op, s;
	if (json_path_int64(root, "op", &op) < 0) {
		log_warn("gateway", "payload without op");
		return;
	}
	if (json_path_int64(root, "s", &s) == 0) {
		g->seq = s;
		g->has_seq = 1;
	}
	const struct json_value *d = json_get(root, "d");
	switch (op) {
	case 0: {
		const char *name = json_path_str(root, "t");
		if (name)
			on_dispatch(g, name, d);
		break;
	}
	case 1: /* the server asks for a heartbeat now */
		send_heartbeat(g);
		break;
	case 7:
		close_and_reconnect(g, 1, 0, "op 7 reconnect requested");
		break;
	case 9: {
		int resumable = json_bool(d) == 1;
		if (resumable) {
			close_and_reconnect(g, 1, 0, "op 9 invalid session, resumable");
		} else {
			/* Discord: wait a random 1-5 s, then identify anew */
			g->session_id[0] = '\0';
			g->has_seq = 0;
			close_and_reconnect(g, 0, random_between(1000, 5000),
			                    "op 9 invalid session, not resumable");
		}
		break;
	}
	case 10:
		on_hello(g, d);
		break;
	case 11:
		g->ack_received = 1;
		g->stats.acks++;
		g->stats.last_heartbeat_rtt_ms = loop_now(g->loop) - g->heartbeat_sent_at;
		break;
	default:
		log_debug("gateway", "ignoring op %lld", (long long)op);
	}
}

/* Close codes (Discord: Opcodes and Status Codes, "Gateway Close Event
 * Codes"): the ones after which reconnecting cannot help. */
static const char *
fatal_close_reason(int code)
{
	switch (code) {
	case 4004:
		return "authentication failed: the bot token is wrong";
	case 4010:
		return "invalid shard";
	case 4011:
		return "sharding required: the bot is in too many guilds for one connection";
	case 4012:
		return "invalid API version";
	case 4013:
		return "invalid intents";
	case 4014:
		return "disallowed intents: a privileged intent is not enabled for this bot";
	default:
		return NULL;
	}
}

static void
on_ws_closed(struct gateway *g, const struct ws_message *m)
{
	stop_connection_timers(g);
	int code = m ? m->close_code : WS_CLOSE_ABNORMAL;
	int remote = m && m->close_remote;

	if (g->state == GW_CLOSING) {
		g->state = GW_CLOSED;
		log_info("gateway", "closed");
		emit(g, GATEWAY_CLOSED, NULL, NULL);
		return;
	}
	if (remote && g->state != GW_DISCONNECTING) {
		/* (when we closed on purpose, the peer only echoes our close) */
		const char *fatal = fatal_close_reason(code);
		if (fatal) {
			g->state = GW_FATAL;
			set_error(g, "Discord closed the gateway with %d: %s", code, fatal);
			log_crit("gateway", "%s", g->error);
			emit(g, GATEWAY_FATAL, NULL, NULL);
			return;
		}
		if (code == 4007 || code == 4009) {
			/* invalid seq / session timed out: a new session is
			 * needed. (1000/1001 from the server are resumed: only a
			 * client closing with them ends its session, and Discord
			 * answers a RESUME it cannot honour with op 9, after
			 * which we identify.) */
			g->session_id[0] = '\0';
			g->has_seq = 0;
		}
		set_error(g, "gateway closed by Discord with %d%s%.*s", code, m->len ? ": " : "",
		          (int)(m->len > 120 ? 120 : m->len), m->data ? m->data : "");
		log_warn("gateway", "%s", g->error);
	} else if (g->state != GW_DISCONNECTING) {
		set_error(g, "gateway connection lost: %s",
		          ws_error(g->ws)[0] ? ws_error(g->ws) : "closed");
		log_warn("gateway", "%s", g->error);
	}

	/* a resume URL that never got as far as HELLO (refused, TLS, ...) */
	if (g->via_resume_url && (g->state == GW_CONNECTING || g->state == GW_WAIT_HELLO))
		resume_url_failed(g);

	int64_t delay = g->reconnect_delay_ms;
	if (g->state != GW_DISCONNECTING || delay < 0) {
		/* not a planned reconnect: back off */
		delay = next_backoff(g);
		g->resume_next = g->session_id[0] != '\0';
	}
	g->reconnect_delay_ms = -1;
	g->state = GW_WAIT_RECONNECT;
	log_info("gateway", "reconnecting in %lld ms", (long long)delay);
	loop_timer_start(g->loop, &g->reconnect_timer, delay);
	emit(g, GATEWAY_DOWN, NULL, NULL);
}

/* zstream's sink: a big payload's next piece, pruned as it comes. */
static void
on_spill(void *ctx, const char *data, size_t len)
{
	struct gateway *g = ctx;
	if (!g->keeping) {
		jsonkeep_reset(&g->keep);
		g->keeping = 1;
		g->keep_failed = 0;
	}
	if (!g->keep_failed && jsonkeep_feed(&g->keep, data, len) < 0)
		g->keep_failed = 1;
}

/* A payload that went through the pruner is complete: parse what was
 * kept, then give the pruner's buffer back at once (big payloads are
 * rare; the memory is worth more to the rest of the process). */
static void
on_spilled_payload(struct gateway *g)
{
	g->keeping = 0;
	g->stats.pruned++;
	if (g->keep_failed || jsonkeep_finish(&g->keep) < 0) {
		log_warn("gateway", "unreadable payload: %s", jsonkeep_error(&g->keep));
	} else {
		size_t len;
		const char *text = jsonkeep_output(&g->keep, &len);
		log_info("gateway", "a %zu-byte payload was pruned to %zu bytes as it streamed",
		         g->zs.spilled_len, len);
		on_payload(g, text, len);
	}
	jsonkeep_free(&g->keep);
}

static void
on_ws_event(struct ws *w, enum ws_event ev, const struct ws_message *m, void *data)
{
	(void)w;
	struct gateway *g = data;
	switch (ev) {
	case WS_EV_OPEN:
		if (g->state == GW_CONNECTING) {
			g->state = GW_WAIT_HELLO;
			loop_timer_start(g->loop, &g->hello_timer, g->hello_timeout_ms);
		}
		break;
	case WS_EV_MESSAGE:
		if (g->state == GW_CLOSING || g->state == GW_DISCONNECTING)
			break;
		if (m->opcode == WS_OP_BINARY) {
			enum zstream_result r = zstream_feed_part(&g->zs, m->data, m->len, m->more);
			if (r == ZSTREAM_ERR) {
				log_error("gateway", "compressed stream: %s",
				          zstream_error(&g->zs));
				close_and_reconnect(g, 1, -1, "corrupt compressed stream");
			} else if (r == ZSTREAM_DONE && zstream_spilled(&g->zs)) {
				on_spilled_payload(g);
			} else if (r == ZSTREAM_DONE) {
				size_t len;
				const char *text = zstream_data(&g->zs, &len);
				on_payload(g, text, len);
			}
		} else if (m->opcode == WS_OP_TEXT) {
			on_payload(g, m->data, m->len);
		}
		break;
	case WS_EV_CLOSED:
		on_ws_closed(g, m);
		break;
	}
}

/* ------------------------------------------------------------ API */

static void
gateway_connect(struct gateway *g)
{
	int64_t now = loop_now(g->loop);
	if (g->url_wanted && !g->resume_next && now < g->url_wait_until) {
		/* a new session: wait (bounded) for the fresh URL asked for */
		g->state = GW_WAIT_RECONNECT;
		g->holding_for_url = 1;
		loop_timer_start(g->loop, &g->reconnect_timer, g->url_wait_until - now);
		return;
	}
	if (g->url_wanted && !g->resume_next)
		log_warn("gateway", "no fresh gateway URL within %d ms; using %s",
		         GATEWAY_URL_WAIT_MS, g->url);
	g->url_wanted = 0;
	g->holding_for_url = 0;
	g->via_resume_url = g->resume_next && g->resume_url[0];
	const char *base = g->via_resume_url ? g->resume_url : g->url;
	/* Discord: wss://gateway.discord.gg/?v=10&encoding=json&compress=...;
	 * a base with a path or query of its own keeps it */
	static const char query[] = "v=10&encoding=json&compress=zlib-stream";
	const char *host = strstr(base, "://");
	const char *path = host ? strchr(host + 3, '/') : NULL;
	char url[1024];
	if (!path)
		snprintf(url, sizeof url, "%s/?%s", base, query);
	else
		snprintf(url, sizeof url, "%s%c%s", base, strchr(path, '?') ? '&' : '?', query);
	zstream_reset(&g->zs);
	g->keeping = 0;
	jsonkeep_free(&g->keep);
	g->state = GW_CONNECTING;
	g->stats.connects++;
	log_info("gateway", "connecting to %s", url);
	if (ws_open(g->ws, url, g->trust, g->connect_timeout_ms) < 0) {
		set_error(g, "cannot connect to %s: %s", url, ws_error(g->ws));
		log_error("gateway", "%s", g->error);
		g->state = GW_WAIT_RECONNECT;
		if (g->via_resume_url) {
			resume_url_failed(g);
			g->resume_next = g->session_id[0] != '\0';
		}
		loop_timer_start(g->loop, &g->reconnect_timer, next_backoff(g));
	}
}

struct gateway *
gateway_new(struct loop *loop, const struct gateway_options *opt, gateway_event_fn *fn, void *data)
{
	struct gateway *g = mem_calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->loop = loop;
	g->fn = fn;
	g->data = data;
	g->intents = opt->intents;
	g->refresh_url = opt->refresh_url;
	g->raw_events = opt->raw ? opt->raw_events : NULL;
	g->raw = opt->raw;
	if (raw_paths_init(g, opt->raw_paths) < 0) {
		mem_free(g);
		return NULL;
	}
	g->trust = opt->trust;
	g->token = mem_strdup(opt->token ? opt->token : "");
	g->url = mem_strdup(opt->url ? opt->url : "");
	g->ws = ws_new(loop, on_ws_event, g);
	if (!g->token || !g->url || !g->ws) {
		gateway_free(g);
		return NULL;
	}
	ws_set_max_message(g->ws, GATEWAY_MAX_PAYLOAD);
	/* compressed messages go to the inflater as they are read: a
	 * GUILD_CREATE of hundreds of KB compressed is never held whole */
	ws_set_stream_binary(g->ws, 1);
	zstream_init(&g->zs, GATEWAY_MAX_PAYLOAD);
	jsonkeep_init(&g->keep, opt->keep, GATEWAY_MAX_PAYLOAD);
	if (opt->keep)
		zstream_set_sink(&g->zs, GATEWAY_SPILL_AT, on_spill, g);
	json_doc_init(&g->doc, GATEWAY_MAX_PAYLOAD);
	buf_init(&g->out, GATEWAY_MAX_SEND * 2);
	g->connect_timeout_ms = opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : 15000;
	g->hello_timeout_ms = opt->hello_timeout_ms > 0 ? opt->hello_timeout_ms : 20000;
	g->identify_gap_ms = opt->identify_gap_ms > 0 ? opt->identify_gap_ms : 5000;
	g->backoff_max_ms = opt->backoff_max_ms > 0 ? opt->backoff_max_ms : 60000;
	g->identify_remaining = opt->identify_remaining;
	g->identify_reset_at = loop_now(loop) + opt->identify_reset_after_ms;
	g->last_identify_at = -1;
	g->reconnect_delay_ms = -1;
	g->rng = random_u32() | 1;
	g->stats.last_heartbeat_rtt_ms = -1;
	loop_timer_init(&g->heartbeat_timer, on_heartbeat_timer, g);
	loop_timer_init(&g->hello_timer, on_hello_timer, g);
	loop_timer_init(&g->reconnect_timer, on_reconnect_timer, g);
	loop_timer_init(&g->identify_timer, on_identify_timer, g);
	loop_defer_init(&g->closed_defer, on_closed_defer, g);
	return g;
}

void
gateway_free(struct gateway *g)
{
	if (!g)
		return;
	if (g->loop) {
		stop_connection_timers(g);
		loop_timer_stop(g->loop, &g->reconnect_timer);
	}
	ws_free(g->ws);
	zstream_free(&g->zs);
	jsonkeep_free(&g->keep);
	json_doc_free(&g->doc);
	buf_free(&g->out);
	if (g->token) {
		memset(g->token, 0, strlen(g->token));
		mem_free(g->token);
	}
	mem_free(g->url);
	mem_free(g);
}

int
gateway_start(struct gateway *g)
{
	if (g->state != GW_IDLE) {
		set_error(g, "gateway already started");
		return -1;
	}
	if (strncmp(g->url, "wss://", 6) != 0 && strncmp(g->url, "ws://", 5) != 0) {
		set_error(g, "gateway URL '%.100s' is not ws:// or wss://", g->url);
		return -1;
	}
	gateway_connect(g);
	return 0;
}

void
gateway_close(struct gateway *g)
{
	switch (g->state) {
	case GW_CONNECTING:
	case GW_WAIT_HELLO:
	case GW_HANDSHAKE:
	case GW_READY:
	case GW_DISCONNECTING:
		stop_connection_timers(g);
		loop_timer_stop(g->loop, &g->reconnect_timer);
		g->state = GW_CLOSING;
		/* 1000: the session ends and the bot goes offline at once */
		if (ws_close(g->ws, WS_CLOSE_NORMAL, "shutting down") == 0)
			return;
		break;
	case GW_CLOSING:
		return;
	default:
		break;
	}
	loop_timer_stop(g->loop, &g->reconnect_timer);
	stop_connection_timers(g);
	g->state = GW_CLOSED;
	loop_defer(g->loop, &g->closed_defer);
}

void
gateway_pause_reading(struct gateway *g, int on)
{
	if (g)
		ws_pause_reading(g->ws, on);
}

int
gateway_set_url(struct gateway *g, const char *url)
{
	if (!url || (strncmp(url, "wss://", 6) != 0 && strncmp(url, "ws://", 5) != 0) ||
	    strlen(url) > 512) {
		log_warn("gateway", "ignoring a gateway URL that is not ws:// or wss://");
		return -1;
	}
	char *copy = mem_strdup(url);
	if (!copy)
		return -1;
	mem_free(g->url);
	g->url = copy;
	g->url_wanted = 0;
	log_info("gateway", "gateway URL is now %s", g->url);
	if (g->holding_for_url && g->state == GW_WAIT_RECONNECT) {
		g->holding_for_url = 0;
		loop_timer_start(g->loop, &g->reconnect_timer, 0);
	}
	return 0;
}

int
gateway_is_ready(const struct gateway *g)
{
	return g->state == GW_READY;
}

const char *
gateway_error(const struct gateway *g)
{
	return g->error;
}

void
gateway_get_stats(const struct gateway *g, struct gateway_stats *out)
{
	*out = g->stats;
}
