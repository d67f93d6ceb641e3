/* tls — see tls.h.
 *
 * States: IDLE -> CONNECTING (net_connect: lookup + TCP) -> HANDSHAKE
 * (BearSSL; skipped when plain) -> OPEN -> CLOSING (tls_close) -> CLOSED.
 * One function, tls_pump(), moves bytes between the socket and the engine
 * as far as it can without blocking, then says what to poll for; the
 * watcher runs it, and tls_write/tls_read/tls_close queue it as a deferred
 * call ("kick") so that no state changes inside the owner's own call. It
 * never calls the owner: events are collected as bits and delivered by
 * another deferred call, so an owner is never re-entered.
 *
 * BearSSL's engine is the state machine (bearssl_ssl.h, "I/O state"):
 * SENDREC = records to write to the socket, RECVREC = room for records from
 * the socket, SENDAPP = room for application bytes (only after the
 * handshake), RECVAPP = decrypted bytes to hand out, CLOSED = finished,
 * with br_ssl_engine_last_error() saying how. */
#include "tls.h"

#include <bearssl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "net.h"
#include "pem.h"
#include "x509.h"

/* Send queue memory kept between writes; more is freed once sent. */
#define TLS_SENDQ_KEEP (64u << 10)

/* A CA name (DER) is a few hundred bytes; 8 KiB bounds a hostile bundle. */
#define TLS_DN_MAX 8192
/* A CA bundle larger than this is not one (the Debian one is about 200 KB). */
#define TLS_CA_FILE_MAX (16u << 20)

enum tls_state {
	TLS_IDLE,
	TLS_CONNECTING, /* resolving + TCP connect */
	TLS_HANDSHAKE,
	TLS_OPEN,
	TLS_CLOSING, /* flushing the queue, then close_notify */
	TLS_CLOSED,
};

/* event bits, delivered in this order */
#define TLS_BIT(ev) (1u << (ev))

/* Sessions to resume (RFC 5246 7.3's abbreviated handshake: no
 * certificate, no key exchange, no signature to verify), one per host and
 * port, kept with the trust anchors that validated their full handshake:
 * all streams share them. A handshake costs about 2 ms of CPU, mostly two
 * ECDSA P-256 verifications (bench_startup), a resumed one a tenth of
 * that; HTTP opens several connections to one host in parallel. A session
 * is offered only to the host name and port whose certificate chain was
 * checked, for at most TLS_SESSION_MAX_AGE_MS after that check; one whose
 * resumption fails is forgotten. */
#define TLS_SESSIONS           8
#define TLS_SESSION_MAX_AGE_MS (60 * 60 * 1000)

struct tls_session {
	char host[NET_HOST_MAX + 1]; /* "" = free slot */
	uint16_t port;
	int64_t checked_ms; /* loop time of the full handshake */
	int64_t used_ms;    /* the least recently used slot is replaced */
	br_ssl_session_parameters params;
};

struct tls_trust {
	br_x509_trust_anchor *anchors;
	size_t count;
	struct tls_session *sessions; /* TLS_SESSIONS of them; mutable under a const trust */
};

/* Read-ahead size: a full record (16 KiB + header and AEAD overhead) in
 * one recv, dozens of gateway-sized ones */
#define TLS_AHEAD_BYTES (16384 + 512)

struct tls {
	struct loop *loop;
	tls_event_fn *fn;
	void *data;
	enum tls_state state;
	int plain; /* trust == NULL: bytes go to the socket as they are */
	const struct tls_trust *trust;
	int fd;
	struct net_connect conn;
	struct loop_watch watch;
	struct loop_timer timeout;
	int64_t timeout_ms;
	struct loop_defer notify;  /* delivers the bits in events */
	struct loop_defer kick;    /* runs the pump after the owner's call */
	struct loop_defer release; /* frees the memory after tls_free */
	unsigned events;
	int freed;
	int drain_owed;        /* tls_write was called since the last DRAINED */
	int close_notify_sent; /* CLOSING: br_ssl_engine_close() done */
	struct buf sendq;      /* bytes from tls_write not yet in the engine */
	size_t sendq_off;      /* the first sendq_off bytes are already sent */
	size_t rx_off, rx_len; /* plain mode: received bytes in iobuf */
	/* TLS mode read-ahead: bytes received into `ahead`, not yet given
	 * to the engine; BearSSL asks for a record's 5-byte header and then
	 * its body, so reading exactly that costs 2 recv per record, while a
	 * burst of small records arrives together */
	size_t ahead_off, ahead_len;
	int rx_drained; /* the last recv was short: wait for POLLIN first */
	char host[NET_HOST_MAX + 1];
	uint16_t port;
	char error[320];
	/* CPU the handshake has cost so far (this thread, ns): the two
	 * handshakes before READY are a good part of the start (issue 13.6),
	 * so each is logged once done */
	int64_t handshake_cpu_ns;
	int resume_offered; /* this handshake offered a cached session */
	int resumed;        /* ... and the server took it */
	br_ssl_client_context cc;
	br_x509_minimal_context xc;
	/* BearSSL's record buffers, both directions at full size so any
	 * server's 16 KiB records are accepted (bearssl_ssl.h) */
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
	unsigned char ahead[TLS_AHEAD_BYTES];
};

static void tls_pump(struct tls *t);

static int64_t
tls_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void tls_set_error(struct tls *t, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void
tls_set_error(struct tls *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->error, sizeof t->error, fmt, ap);
	va_end(ap);
}

/* --------------------------------------------------------- trust anchors */

struct tls_trust_loader {
	struct tls_trust *trust;
	br_x509_decoder_context x509;
	struct buf dn;
	int failed; /* out of memory */
	size_t skipped;
};

static void
tls_trust_append_dn(void *ctx, const void *bytes, size_t len)
{
	struct tls_trust_loader *ld = ctx;
	if (buf_append(&ld->dn, bytes, len) < 0)
		ld->failed = 1;
}

static void *
tls_blobdup(const void *src, size_t len)
{
	void *p = mem_alloc(len);
	if (p)
		memcpy(p, src, len);
	return p;
}

static void
tls_anchor_free(br_x509_trust_anchor *ta)
{
	mem_free(ta->dn.data);
	if (ta->pkey.key_type == BR_KEYTYPE_RSA) {
		mem_free(ta->pkey.key.rsa.n);
		mem_free(ta->pkey.key.rsa.e);
	} else if (ta->pkey.key_type == BR_KEYTYPE_EC) {
		mem_free(ta->pkey.key.ec.q);
	}
}

/* One certificate's anchor fields (x509.h): keep its name and key as a
 * trust anchor (as BearSSL's tools/certs.c does). 0, or -1 when out of
 * memory. */
static int
tls_trust_add(struct tls_trust *trust, const struct x509_anchor *a)
{
	br_x509_trust_anchor *grown =
	        mem_reallocarray(trust->anchors, trust->count + 1, sizeof *trust->anchors);
	if (!grown)
		return -1;
	trust->anchors = grown;
	br_x509_trust_anchor *ta = &trust->anchors[trust->count];
	memset(ta, 0, sizeof *ta);
	ta->dn.data = tls_blobdup(a->dn, a->dn_len);
	ta->dn.len = a->dn_len;
	ta->flags = a->is_ca ? BR_X509_TA_CA : 0;
	ta->pkey.key_type = (unsigned char)a->key_type;
	int ok = ta->dn.data != NULL;
	if (a->key_type == BR_KEYTYPE_RSA) {
		ta->pkey.key.rsa.n = tls_blobdup(a->n, a->n_len);
		ta->pkey.key.rsa.nlen = a->n_len;
		ta->pkey.key.rsa.e = tls_blobdup(a->e, a->e_len);
		ta->pkey.key.rsa.elen = a->e_len;
		ok = ok && ta->pkey.key.rsa.n && ta->pkey.key.rsa.e;
	} else {
		ta->pkey.key.ec.curve = a->curve;
		ta->pkey.key.ec.q = tls_blobdup(a->q, a->q_len);
		ta->pkey.key.ec.qlen = a->q_len;
		ok = ok && ta->pkey.key.ec.q;
	}
	if (!ok) {
		tls_anchor_free(ta);
		return -1;
	}
	trust->count++;
	return 0;
}

/* A certificate x509.c does not read, by br_x509_decoder (which refuses
 * what x509.c refuses, as far as bench and tests show: this is the
 * safety net). 1 with *a filled (pointing into ld), 0 when it can anchor
 * nothing, -1 when out of memory. */
static int
tls_trust_decode_bearssl(struct tls_trust_loader *ld, const void *der, size_t len,
                         struct x509_anchor *a)
{
	buf_reset(&ld->dn);
	ld->failed = 0;
	br_x509_decoder_init(&ld->x509, tls_trust_append_dn, ld);
	br_x509_decoder_push(&ld->x509, der, len);
	if (ld->failed)
		return -1;
	const br_x509_pkey *pk = br_x509_decoder_get_pkey(&ld->x509);
	if (!pk || ld->dn.len == 0 ||
	    (pk->key_type != BR_KEYTYPE_RSA && pk->key_type != BR_KEYTYPE_EC))
		return 0;
	memset(a, 0, sizeof *a);
	a->dn = (const unsigned char *)ld->dn.data;
	a->dn_len = ld->dn.len;
	a->is_ca = br_x509_decoder_isCA(&ld->x509);
	a->key_type = pk->key_type;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		a->n = pk->key.rsa.n;
		a->n_len = pk->key.rsa.nlen;
		a->e = pk->key.rsa.e;
		a->e_len = pk->key.rsa.elen;
	} else {
		a->curve = pk->key.ec.curve;
		a->q = pk->key.ec.q;
		a->q_len = pk->key.ec.qlen;
	}
	return 1;
}

size_t
tls_trust_count(const struct tls_trust *trust)
{
	return trust ? trust->count : 0;
}

void
tls_trust_free(struct tls_trust *trust)
{
	if (!trust)
		return;
	for (size_t i = 0; i < trust->count; i++)
		tls_anchor_free(&trust->anchors[i]);
	mem_free(trust->anchors);
	if (trust->sessions) {
		/* master secrets */
		memset(trust->sessions, 0, TLS_SESSIONS * sizeof *trust->sessions);
		mem_free(trust->sessions);
	}
	mem_free(trust);
}

/* Reads the whole file into text (at most TLS_CA_FILE_MAX bytes). NULL,
 * or the reason. */
static const char *
tls_read_file(int fd, struct buf *text)
{
	for (;;) {
		size_t want = text->max - text->len < 65536 ? text->max - text->len : 65536;
		if (want == 0)
			return "file too large";
		if (buf_reserve(text, want) < 0)
			return "out of memory";
		size_t room = text->cap - text->len - 1; /* the NUL stays */
		ssize_t n = read(fd, text->data + text->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return strerror(errno);
		if (n == 0)
			return NULL;
		text->len += (size_t)n;
		text->data[text->len] = '\0';
	}
}

struct tls_trust *
tls_trust_load(const char *pem_path, char *err, size_t err_len)
{
	int fd = open(pem_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, err_len, "cannot open %s: %s", pem_path, strerror(errno));
		return NULL;
	}
	struct tls_trust_loader ld;
	memset(&ld, 0, sizeof ld);
	buf_init(&ld.dn, TLS_DN_MAX);
	struct buf text, der;
	buf_init(&text, TLS_CA_FILE_MAX);
	buf_init(&der, TLS_CA_FILE_MAX);
	ld.trust = mem_calloc(1, sizeof *ld.trust);
	if (ld.trust)
		ld.trust->sessions = mem_calloc(TLS_SESSIONS, sizeof *ld.trust->sessions);
	const char *why = NULL;
	if (!ld.trust || !ld.trust->sessions)
		why = "out of memory";
	/* a regular file is mapped, not copied: its pages come from the page
	 * cache a few at a time (a copy faults in every page of the heap
	 * buffer, about 50 for Debian's bundle, some 11 us each on a VM) */
	const char *data = NULL;
	size_t data_len = 0;
	void *map = MAP_FAILED;
	struct stat st;
	if (!why && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (uint64_t)st.st_size <= TLS_CA_FILE_MAX) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map != MAP_FAILED) {
			data = map;
			data_len = (size_t)st.st_size;
		}
	}
	if (!why && !data) {
		why = tls_read_file(fd, &text);
		data = text.data;
		data_len = text.len;
	}
	close(fd);
	/* each CERTIFICATE object's DER goes whole into the X.509 decoder;
	 * other objects (keys, CRLs) are skipped */
	size_t pos = 0;
	const char *label;
	size_t label_len;
	int rc;
	while (!why && (rc = pem_next(data, data_len, &pos, &label, &label_len, &der, &why)) != 0) {
		if (rc < 0) {
			if (strcmp(why, "out of memory") != 0)
				why = "invalid PEM";
			break;
		}
		if ((label_len == 11 && memcmp(label, "CERTIFICATE", 11) == 0) ||
		    (label_len == 16 && memcmp(label, "X509 CERTIFICATE", 16) == 0)) {
			struct x509_anchor a;
			int got = 1;
			if (x509_anchor_parse((const unsigned char *)der.data, der.len, &a) < 0)
				got = tls_trust_decode_bearssl(&ld, der.data, der.len, &a);
			if (got < 0 || (got > 0 && tls_trust_add(ld.trust, &a) < 0))
				why = "out of memory";
			else if (got == 0)
				ld.skipped++; /* unsupported or broken: it can anchor nothing */
		}
		buf_reset(&der);
	}
	if (map != MAP_FAILED)
		munmap(map, data_len);
	buf_free(&text);
	buf_free(&der);
	buf_free(&ld.dn);
	if (!why && ld.trust->count == 0)
		why = "no certificate in the file";
	if (why) {
		snprintf(err, err_len, "cannot load trust anchors from %s: %s", pem_path, why);
		tls_trust_free(ld.trust);
		return NULL;
	}
	return ld.trust;
}

/* --------------------------------------------------------- error strings */

static const char *
tls_alert_name(int alert)
{
	/* RFC 5246 7.2: the alerts a client most often meets */
	switch (alert) {
	case 0:
		return "close_notify";
	case 10:
		return "unexpected_message";
	case 20:
		return "bad_record_mac";
	case 40:
		return "handshake_failure";
	case 42:
		return "bad_certificate";
	case 43:
		return "unsupported_certificate";
	case 45:
		return "certificate_expired";
	case 46:
		return "certificate_unknown";
	case 47:
		return "illegal_parameter";
	case 48:
		return "unknown_ca";
	case 50:
		return "decode_error";
	case 51:
		return "decrypt_error";
	case 70:
		return "protocol_version";
	case 71:
		return "insufficient_security";
	case 80:
		return "internal_error";
	case 112:
		return "unrecognized_name";
	default:
		return "unknown alert";
	}
}

/* A sentence for a BearSSL error code (bearssl_ssl.h, bearssl_x509.h). */
static void
tls_describe_error(int err, const char *host, char *out, size_t out_len)
{
	const char *s;
	switch (err) {
	case BR_ERR_X509_NOT_TRUSTED:
		s = "certificate not trusted (unknown CA)";
		break;
	case BR_ERR_X509_EXPIRED:
		s = "certificate expired or not yet valid";
		break;
	case BR_ERR_X509_BAD_SERVER_NAME:
		snprintf(out, out_len, "certificate does not match host name %s", host);
		return;
	case BR_ERR_X509_TIME_UNKNOWN:
		s = "certificate validity cannot be checked (clock unknown)";
		break;
	case BR_ERR_X509_NOT_CA:
		s = "certificate chain has a non-CA issuer";
		break;
	case BR_ERR_X509_WEAK_PUBLIC_KEY:
		s = "certificate key too weak";
		break;
	case BR_ERR_X509_FORBIDDEN_KEY_USAGE:
		s = "certificate key usage forbids TLS server use";
		break;
	case BR_ERR_X509_CRITICAL_EXTENSION:
		s = "certificate has an unsupported critical extension";
		break;
	case BR_ERR_X509_BAD_SIGNATURE:
		s = "certificate signature invalid";
		break;
	case BR_ERR_X509_EMPTY_CHAIN:
		s = "server sent no certificate";
		break;
	case BR_ERR_X509_DN_MISMATCH:
		s = "certificate chain names do not link up";
		break;
	case BR_ERR_X509_UNSUPPORTED:
	case BR_ERR_X509_WRONG_KEY_TYPE:
		s = "certificate uses an unsupported algorithm";
		break;
	case BR_ERR_UNSUPPORTED_VERSION:
	case BR_ERR_BAD_VERSION:
		s = "server does not speak TLS 1.0-1.2";
		break;
	case BR_ERR_BAD_CIPHER_SUITE:
		s = "server chose a cipher suite we did not offer";
		break;
	case BR_ERR_BAD_MAC:
		s = "record authentication failed (bad MAC)";
		break;
	case BR_ERR_BAD_SIGNATURE:
		s = "server key exchange signature invalid";
		break;
	case BR_ERR_NO_RANDOM:
		s = "no source of randomness";
		break;
	case BR_ERR_TOO_LARGE:
		s = "record too large";
		break;
	case BR_ERR_UNEXPECTED:
	case BR_ERR_BAD_HANDSHAKE:
	case BR_ERR_UNKNOWN_TYPE:
		s = "protocol violation by the server";
		break;
	default:
		if (err >= BR_ERR_RECV_FATAL_ALERT && err < BR_ERR_SEND_FATAL_ALERT) {
			int a = err - BR_ERR_RECV_FATAL_ALERT;
			snprintf(out, out_len, "server sent TLS alert %d (%s)", a,
			         tls_alert_name(a));
			return;
		}
		if (err >= BR_ERR_SEND_FATAL_ALERT) {
			int a = err - BR_ERR_SEND_FATAL_ALERT;
			snprintf(out, out_len, "TLS alert %d (%s) sent to the server", a,
			         tls_alert_name(a));
			return;
		}
		if (err >= BR_ERR_X509_OK && err < BR_ERR_RECV_FATAL_ALERT)
			snprintf(out, out_len, "certificate invalid (BearSSL X.509 error %d)", err);
		else
			snprintf(out, out_len, "TLS failure (BearSSL error %d)", err);
		return;
	}
	snprintf(out, out_len, "%s", s);
}

/* ---------------------------------------------------------------- events */

static void
tls_raise(struct tls *t, enum tls_event ev)
{
	t->events |= TLS_BIT(ev);
	loop_defer(t->loop, &t->notify);
}

static void
tls_notify(struct loop *loop, struct loop_defer *d)
{
	(void)loop;
	struct tls *t = d->data;
	static const enum tls_event order[] = {TLS_EV_CONNECTED, TLS_EV_READABLE, TLS_EV_DRAINED,
	                                       TLS_EV_CLOSED};
	/* the owner may abort, free or reconnect from any callback: look
	 * at the bits again after each one */
	for (size_t i = 0; i < sizeof order / sizeof order[0] && !t->freed; i++) {
		if (!(t->events & TLS_BIT(order[i])))
			continue;
		t->events &= ~TLS_BIT(order[i]);
		t->fn(t, order[i], t->data);
	}
}

static void
tls_kicked(struct loop *loop, struct loop_defer *d)
{
	(void)loop;
	struct tls *t = d->data;
	if (!t->freed)
		tls_pump(t);
}

/* Runs the pump once the owner's current callback (or call) is over. */
static void
tls_kick(struct tls *t)
{
	loop_defer(t->loop, &t->kick);
}

static void
tls_release(struct loop *loop, struct loop_defer *d)
{
	(void)loop;
	struct tls *t = d->data;
	buf_free(&t->sendq);
	mem_free(t);
}

/* Stops all I/O; the caller sets the state. */
static void
tls_shutdown_io(struct tls *t)
{
	net_connect_cancel(&t->conn);
	loop_timer_stop(t->loop, &t->timeout);
	loop_watch_stop(t->loop, &t->watch);
	if (t->fd >= 0) {
		close(t->fd);
		t->fd = -1;
	}
}

/* Ends the stream: CLOSED follows, with error (NULL = keep t->error). */
/* ------------------------------------------------------------- sessions */

static struct tls_session *
tls_session_find(const struct tls *t)
{
	struct tls_session *cache = t->trust->sessions;
	for (size_t i = 0; i < TLS_SESSIONS; i++)
		if (cache[i].host[0] && cache[i].port == t->port &&
		    strcmp(cache[i].host, t->host) == 0)
			return &cache[i];
	return NULL;
}

static void
tls_session_forget(struct tls_session *e)
{
	memset(e, 0, sizeof *e);
}

/* Offers this host's cached session, if it is young enough. */
static void
tls_session_offer(struct tls *t)
{
	t->resume_offered = t->resumed = 0;
	struct tls_session *e = tls_session_find(t);
	if (!e)
		return;
	int64_t now = loop_now(t->loop);
	if (now - e->checked_ms > TLS_SESSION_MAX_AGE_MS || now < e->checked_ms) {
		tls_session_forget(e);
		return;
	}
	e->used_ms = now;
	br_ssl_engine_set_session_parameters(&t->cc.eng, &e->params);
	t->resume_offered = 1;
}

/* The handshake is done: was the offered session taken (the server
 * echoed its id), else keep the new session for the next connection. */
static void
tls_session_done(struct tls *t)
{
	br_ssl_session_parameters p;
	br_ssl_engine_get_session_parameters(&t->cc.eng, &p);
	struct tls_session *e = tls_session_find(t);
	if (t->resume_offered && e && p.session_id_len == e->params.session_id_len &&
	    memcmp(p.session_id, e->params.session_id, p.session_id_len) == 0) {
		t->resumed = 1;
		return;
	}
	if (p.session_id_len == 0) { /* the server keeps no sessions */
		if (e)
			tls_session_forget(e);
		return;
	}
	if (!e) {
		struct tls_session *cache = t->trust->sessions;
		e = &cache[0];
		for (size_t i = 0; i < TLS_SESSIONS && e->host[0]; i++)
			if (!cache[i].host[0] || cache[i].used_ms < e->used_ms)
				e = &cache[i];
	}
	snprintf(e->host, sizeof e->host, "%s", t->host);
	e->port = t->port;
	e->checked_ms = e->used_ms = loop_now(t->loop);
	e->params = p;
	memset(&p, 0, sizeof p);
}

static void
tls_finish(struct tls *t, const char *error)
{
	if (t->state == TLS_CLOSED || t->state == TLS_IDLE)
		return;
	if (t->state == TLS_HANDSHAKE && t->resume_offered) {
		/* a failed resumption is not offered again */
		struct tls_session *e = tls_session_find(t);
		if (e)
			tls_session_forget(e);
	}
	if (error)
		snprintf(t->error, sizeof t->error, "%s", error);
	tls_shutdown_io(t);
	t->state = TLS_CLOSED;
	/* nothing is left to read; a DRAINED already raised stays true */
	t->events &= ~TLS_BIT(TLS_EV_READABLE);
	tls_raise(t, TLS_EV_CLOSED);
}

static void
tls_fail_errno(struct tls *t, const char *what, int err)
{
	tls_set_error(t, "%s %s:%u: %s", what, t->host, (unsigned)t->port, strerror(err));
	tls_finish(t, NULL);
}

/* ------------------------------------------------------------- the pump */

static int
tls_would_block(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/* Unsent bytes of the queue. */
static size_t
tls_queued(const struct tls *t)
{
	return t->sendq.len - t->sendq_off;
}

static void
tls_queue_consumed(struct tls *t, size_t n)
{
	t->sendq_off += n;
	if (t->sendq_off == t->sendq.len) {
		/* all sent: give back the memory of a big upload, keep a
		 * small buffer for the usual requests and frames */
		if (t->sendq.cap > TLS_SENDQ_KEEP)
			buf_free(&t->sendq);
		else
			buf_reset(&t->sendq);
		t->sendq_off = 0;
	} else if (t->sendq_off > t->sendq.len / 2) {
		/* compact now and then, not on every send (no quadratic copy) */
		buf_consume(&t->sendq, t->sendq_off);
		t->sendq_off = 0;
	}
}

static void
tls_watch(struct tls *t, short events)
{
	if (events == 0) {
		loop_watch_stop(t->loop, &t->watch);
		return;
	}
	if (loop_watch_start(t->loop, &t->watch, t->fd, events) < 0) {
		tls_set_error(t, "out of memory");
		tls_finish(t, NULL);
	}
}

static void
tls_pump_plain(struct tls *t)
{
	while (tls_queued(t) > 0) {
		ssize_t n = send(t->fd, t->sendq.data + t->sendq_off, tls_queued(t), MSG_NOSIGNAL);
		if (n < 0) {
			if (tls_would_block(errno))
				break;
			tls_fail_errno(t, "send to", errno);
			return;
		}
		tls_queue_consumed(t, (size_t)n);
	}
	if (t->drain_owed && tls_queued(t) == 0) {
		t->drain_owed = 0;
		tls_raise(t, TLS_EV_DRAINED);
	}
	if (t->state == TLS_CLOSING && tls_queued(t) == 0) {
		tls_finish(t, "");
		return;
	}
	/* receive only into an empty buffer: the owner reads it all first,
	 * and end-of-stream is reported only after the last byte was read */
	if (t->rx_len == 0) {
		ssize_t n = recv(t->fd, t->iobuf, sizeof t->iobuf, 0);
		if (n > 0) {
			t->rx_off = 0;
			t->rx_len = (size_t)n;
			tls_raise(t, TLS_EV_READABLE);
		} else if (n == 0) {
			tls_finish(t, ""); /* the peer closed: a clean end */
			return;
		} else if (!tls_would_block(errno)) {
			tls_fail_errno(t, "receive from", errno);
			return;
		}
	}
	short events = (short)((t->rx_len == 0 ? POLLIN : 0) | (tls_queued(t) > 0 ? POLLOUT : 0));
	tls_watch(t, events);
}

/* The engine says CLOSED: a clean close_notify, or a failure. */
static void
tls_engine_closed(struct tls *t)
{
	int err = br_ssl_engine_last_error(&t->cc.eng);
	if (err == BR_ERR_OK) {
		if (t->state == TLS_HANDSHAKE)
			tls_set_error(t, "TLS handshake with %s:%u: closed by the server", t->host,
			              (unsigned)t->port);
		else
			t->error[0] = 0;
	} else {
		char why[200];
		tls_describe_error(err, t->host, why, sizeof why);
		snprintf(t->error, sizeof t->error, "%s", why);
	}
	tls_finish(t, NULL);
}

static void
tls_pump_engine(struct tls *t)
{
	br_ssl_engine_context *eng = &t->cc.eng;
	for (;;) {
		unsigned st = br_ssl_engine_current_state(eng);
		if (st & BR_SSL_CLOSED) {
			tls_engine_closed(t);
			return;
		}
		int progress = 0;
		if (st & BR_SSL_SENDREC) {
			size_t len;
			unsigned char *rec = br_ssl_engine_sendrec_buf(eng, &len);
			ssize_t n = send(t->fd, rec, len, MSG_NOSIGNAL);
			if (n > 0) {
				br_ssl_engine_sendrec_ack(eng, (size_t)n);
				progress = 1;
			} else if (n < 0 && !tls_would_block(errno)) {
				tls_fail_errno(t, "send to", errno);
				return;
			}
		}
		if ((st & BR_SSL_SENDAPP) && t->state == TLS_HANDSHAKE) {
			/* the engine takes application data only once the
			 * handshake is done */
			t->state = TLS_OPEN;
			loop_timer_stop(t->loop, &t->timeout);
			tls_raise(t, TLS_EV_CONNECTED);
		}
		if ((st & BR_SSL_SENDAPP) && tls_queued(t) > 0) {
			size_t room;
			unsigned char *app = br_ssl_engine_sendapp_buf(eng, &room);
			size_t n = tls_queued(t) < room ? tls_queued(t) : room;
			memcpy(app, t->sendq.data + t->sendq_off, n);
			br_ssl_engine_sendapp_ack(eng, n);
			tls_queue_consumed(t, n);
			if (tls_queued(t) == 0)
				br_ssl_engine_flush(eng, 0); /* a partial record goes too */
			progress = 1;
		}
		if (st & BR_SSL_RECVAPP)
			tls_raise(t, TLS_EV_READABLE);
		if ((st & BR_SSL_RECVREC) && t->ahead_off == t->ahead_len && !t->rx_drained) {
			ssize_t n = recv(t->fd, t->ahead, sizeof t->ahead, 0);
			if (n > 0) {
				t->ahead_off = 0;
				t->ahead_len = (size_t)n;
				/* short: the socket is empty now; poll says when
				 * more comes (level-triggered, so nothing is missed)
				 * instead of a recv that would block */
				t->rx_drained = (size_t)n < sizeof t->ahead;
			} else if (n == 0) {
				if (t->state == TLS_HANDSHAKE)
					tls_set_error(
					        t,
					        "TLS handshake with %s:%u: connection closed by "
					        "the server",
					        t->host, (unsigned)t->port);
				else
					/* RFC 5246 7.2.1: a close without close_notify
					 * may hide a truncation; the owner's framing
					 * decides whether it did */
					tls_set_error(t, "connection closed by the server "
					                 "without close_notify");
				tls_finish(t, NULL);
				return;
			} else if (!tls_would_block(errno)) {
				tls_fail_errno(t, "receive from", errno);
				return;
			} else {
				t->rx_drained = 1;
			}
		}
		if ((st & BR_SSL_RECVREC) && t->ahead_off < t->ahead_len) {
			size_t len;
			unsigned char *rec = br_ssl_engine_recvrec_buf(eng, &len);
			size_t k = t->ahead_len - t->ahead_off < len ? t->ahead_len - t->ahead_off
			                                             : len;
			memcpy(rec, t->ahead + t->ahead_off, k);
			t->ahead_off += k;
			br_ssl_engine_recvrec_ack(eng, k);
			progress = 1;
		}
		if (progress)
			continue;
		/* nothing moved: the socket would block, or all is done */
		if (t->state == TLS_CLOSING && tls_queued(t) == 0 && !t->close_notify_sent) {
			t->close_notify_sent = 1;
			br_ssl_engine_close(eng); /* queues close_notify (RFC 5246 7.2.1) */
			continue;
		}
		break;
	}
	unsigned st = br_ssl_engine_current_state(eng);
	if (t->drain_owed && tls_queued(t) == 0 && !(st & BR_SSL_SENDREC)) {
		t->drain_owed = 0;
		tls_raise(t, TLS_EV_DRAINED);
	}
	if (t->close_notify_sent && !(st & BR_SSL_SENDREC)) {
		/* our close_notify is out; not waiting for the server's reply
		 * is allowed (RFC 5246 7.2.1) */
		tls_finish(t, "");
		return;
	}
	tls_watch(t, (short)(((st & BR_SSL_RECVREC) ? POLLIN : 0) |
	                     ((st & BR_SSL_SENDREC) ? POLLOUT : 0)));
}

static void
tls_pump(struct tls *t)
{
	if (t->state != TLS_HANDSHAKE && t->state != TLS_OPEN && t->state != TLS_CLOSING)
		return;
	if (t->plain) {
		tls_pump_plain(t);
	} else if (t->state == TLS_HANDSHAKE) {
		int64_t t0 = tls_cpu_ns();
		tls_pump_engine(t);
		t->handshake_cpu_ns += tls_cpu_ns() - t0;
		if (t->state == TLS_OPEN) {
			tls_session_done(t);
			log_debug("tls", "handshake with %s:%u done (%s): %.2f ms CPU", t->host,
			          (unsigned)t->port, t->resumed ? "session resumed" : "full",
			          (double)t->handshake_cpu_ns / 1e6);
		}
	} else {
		tls_pump_engine(t);
	}
}

static void
tls_on_io(struct loop *loop, struct loop_watch *w, short revents)
{
	(void)loop;
	(void)revents;
	struct tls *t = w->data;
	t->rx_drained = 0; /* readable (or an error to read): recv again */
	tls_pump(t);
}

/* Keeps the suites of br_ssl_client_init_full() but offers AES-128-GCM
 * first when the CPU has AES-NI and PCLMULQDQ: BearSSL lists ChaCha20
 * first (the better choice in software), while with the x86 instructions
 * AES-GCM decrypts several times faster. Servers mostly honour their own
 * order anyway; those that follow the client's get the faster one. */
static void
tls_prefer_aes_gcm(br_ssl_engine_context *eng)
{
	const br_block_ctr_class *ctr = br_aes_x86ni_ctr_get_vtable();
	br_ghash ghash = br_ghash_pclmul_get();
	if (!ctr || !ghash)
		return;
	br_ssl_engine_set_aes_ctr(eng, ctr);
	br_ssl_engine_set_ghash(eng, ghash);
	uint16_t suites[BR_MAX_CIPHER_SUITES];
	size_t n = 0;
	for (size_t i = 0; i < eng->suites_num; i++) {
		uint16_t s = eng->suites_buf[i];
		if (s == BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 ||
		    s == BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)
			suites[n++] = s;
	}
	for (size_t i = 0; i < eng->suites_num; i++) {
		uint16_t s = eng->suites_buf[i];
		if (s != BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 &&
		    s != BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)
			suites[n++] = s;
	}
	br_ssl_engine_set_suites(eng, suites, n);
}

static void
tls_on_tcp(struct net_connect *c, int fd, void *data)
{
	struct tls *t = data;
	if (fd < 0) {
		tls_finish(t, net_connect_error(c));
		return;
	}
	t->fd = fd;
	if (t->plain) {
		t->state = TLS_OPEN;
		loop_timer_stop(t->loop, &t->timeout);
		tls_raise(t, TLS_EV_CONNECTED);
		tls_pump(t);
		return;
	}
	int64_t t0 = tls_cpu_ns();
	br_ssl_client_init_full(&t->cc, &t->xc, t->trust->anchors, t->trust->count);
	tls_prefer_aes_gcm(&t->cc.eng);
	br_ssl_engine_set_buffer(&t->cc.eng, t->iobuf, sizeof t->iobuf, 1);
	/* no renegotiation: nothing here needs it, and with resumption it
	 * is what the triple handshake attack goes through */
	br_ssl_engine_add_flags(&t->cc.eng, BR_OPT_NO_RENEGOTIATION);
	tls_session_offer(t);
	/* the host name is both the SNI (RFC 6066 3) and the name the
	 * certificate must carry (RFC 6125 6.4, checked by br_x509_minimal
	 * in a full handshake; a resumed one relies on the session cached
	 * for this very name) */
	if (!br_ssl_client_reset(&t->cc, t->host, t->resume_offered)) {
		char why[200];
		tls_describe_error(br_ssl_engine_last_error(&t->cc.eng), t->host, why, sizeof why);
		tls_finish(t, why);
		return;
	}
	t->state = TLS_HANDSHAKE;
	t->handshake_cpu_ns = tls_cpu_ns() - t0;
	tls_pump(t);
}

static void
tls_on_timeout(struct loop *loop, struct loop_timer *timer)
{
	(void)loop;
	struct tls *t = timer->data;
	long long ms = (long long)t->timeout_ms;
	if (t->state == TLS_HANDSHAKE)
		tls_set_error(t, "TLS handshake with %s:%u timed out after %lld ms", t->host,
		              (unsigned)t->port, ms);
	else if (t->conn.resolve.pending)
		tls_set_error(t, "resolving %s timed out after %lld ms", t->host, ms);
	else
		tls_set_error(t, "connect to %s:%u timed out after %lld ms", t->host,
		              (unsigned)t->port, ms);
	tls_finish(t, NULL);
}

/* ------------------------------------------------------------------ API */

struct tls *
tls_new(struct loop *loop, tls_event_fn *fn, void *data)
{
	if (!loop || !fn)
		return NULL;
	struct tls *t = mem_alloc(sizeof *t);
	if (!t)
		return NULL;
	/* no memset of the 33 KiB record buffer: BearSSL never reads it
	 * before writing */
	memset(t, 0, offsetof(struct tls, iobuf));
	t->loop = loop;
	t->fn = fn;
	t->data = data;
	t->fd = -1;
	t->state = TLS_IDLE;
	net_connect_init(&t->conn);
	loop_watch_init(&t->watch, tls_on_io, t);
	loop_timer_init(&t->timeout, tls_on_timeout, t);
	loop_defer_init(&t->notify, tls_notify, t);
	loop_defer_init(&t->kick, tls_kicked, t);
	loop_defer_init(&t->release, tls_release, t);
	buf_init(&t->sendq, TLS_SEND_MAX);
	return t;
}

void
tls_abort(struct tls *t)
{
	if (!t)
		return;
	tls_shutdown_io(t);
	t->state = TLS_IDLE;
	t->events = 0;
	t->drain_owed = 0;
}

void
tls_free(struct tls *t)
{
	if (!t || t->freed)
		return;
	tls_abort(t);
	t->freed = 1;
	/* queued after any pending notify, which then sees freed and stops */
	loop_defer(t->loop, &t->release);
}

int
tls_connect(struct tls *t, const char *host, uint16_t port, const struct tls_trust *trust,
            int64_t timeout_ms)
{
	if (!t || t->freed || !host || !*host || strlen(host) > NET_HOST_MAX || port == 0 ||
	    timeout_ms <= 0 || (trust && trust->count == 0))
		return -1;
	tls_abort(t);
	snprintf(t->host, sizeof t->host, "%s", host);
	t->port = port;
	t->trust = trust;
	t->plain = trust == NULL;
	t->error[0] = 0;
	buf_reset(&t->sendq);
	t->sendq_off = 0;
	t->rx_off = t->rx_len = 0;
	t->ahead_off = t->ahead_len = 0;
	t->rx_drained = 0;
	t->close_notify_sent = 0;
	t->resume_offered = t->resumed = 0;
	t->timeout_ms = timeout_ms;
	t->state = TLS_CONNECTING;
	if (loop_timer_start(t->loop, &t->timeout, timeout_ms) < 0) {
		tls_finish(t, "out of memory");
		return 0;
	}
	if (net_connect_start(t->loop, &t->conn, host, port, tls_on_tcp, t) < 0)
		tls_finish(t, net_connect_error(&t->conn));
	return 0;
}

ssize_t
tls_read(struct tls *t, void *buf, size_t len)
{
	if (t->state != TLS_OPEN && t->state != TLS_CLOSING)
		return -1;
	if (len == 0)
		return 0;
	size_t n;
	if (t->plain) {
		n = t->rx_len < len ? t->rx_len : len;
		memcpy(buf, t->iobuf + t->rx_off, n);
		t->rx_off += n;
		t->rx_len -= n;
		if (t->rx_len == 0 && n > 0)
			tls_kick(t); /* the buffer is free: receive again */
		return (ssize_t)n;
	}
	size_t avail;
	unsigned char *app = br_ssl_engine_recvapp_buf(&t->cc.eng, &avail);
	if (!app)
		return 0;
	n = avail < len ? avail : len;
	memcpy(buf, app, n);
	br_ssl_engine_recvapp_ack(&t->cc.eng, n);
	tls_kick(t); /* room for more records, maybe */
	return (ssize_t)n;
}

int
tls_write(struct tls *t, const void *buf, size_t len)
{
	if (t->state != TLS_OPEN)
		return -1;
	if (len == 0)
		return 0;
	if (len > TLS_SEND_MAX - tls_queued(t)) {
		tls_set_error(t, "send queue full (%zu bytes queued)", tls_queued(t));
		return -1;
	}
	if (t->sendq_off > 0) {
		buf_consume(&t->sendq, t->sendq_off);
		t->sendq_off = 0;
	}
	if (buf_append(&t->sendq, buf, len) < 0) {
		tls_set_error(t, "out of memory");
		return -1;
	}
	t->drain_owed = 1;
	tls_kick(t);
	return 0;
}

size_t
tls_pending(const struct tls *t)
{
	return tls_queued(t);
}

void
tls_close(struct tls *t)
{
	if (t->state == TLS_OPEN) {
		t->state = TLS_CLOSING;
		tls_kick(t);
	} else if (t->state == TLS_CONNECTING || t->state == TLS_HANDSHAKE) {
		tls_finish(t, "");
	}
}

int
tls_is_open(const struct tls *t)
{
	return t->state == TLS_OPEN;
}

int
tls_resumed(const struct tls *t)
{
	return t->resumed;
}

const char *
tls_error(const struct tls *t)
{
	return t->error;
}
