/* tls — one client byte stream over TCP, encrypted with BearSSL or plain.
 *
 * What it does: resolves the host name off the loop (net.h), connects
 * without blocking, runs the TLS 1.2 handshake (SNI, certificate chain and
 * host name checked against the trust anchors), then moves bytes. With
 * trust == NULL the same object is a plain TCP stream (http:// URLs), so
 * http and ws have one transport to speak to. Sessions are resumed per
 * host and port (an abbreviated handshake skips the certificate checks
 * and key exchange the first one did; see tls.c). What it does not: TLS
 * 1.3 (BearSSL's limit), session tickets, renegotiation, client
 * certificates, servers.
 *
 * Events reach the owner through one callback, always from the loop, never
 * from inside a tls_* call the owner made. A struct tls is embedded in its
 * owner (http connection, ws client); it embeds its socket, watcher, timer
 * and BearSSL engine with its record buffers, and allocates nothing per
 * read or write. */
#ifndef AGORA_TLS_H
#define AGORA_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The send queue's bound (tls_write fails past it): the largest thing
 * Agora writes at once is an HTTP request carrying an image (Discord caps
 * attachments at 10 MiB), so 16 MiB leaves room for headers and a frame or
 * two queued behind it. */
#define TLS_SEND_MAX (16u << 20)

struct loop;
struct tls;
struct tls_trust;

enum tls_event {
	TLS_EV_CONNECTED, /* handshake done (or TCP connected, when plain) */
	TLS_EV_READABLE,  /* tls_read has bytes; read until it returns 0 */
	TLS_EV_DRAINED,   /* every byte given to tls_write has been sent */
	TLS_EV_CLOSED,    /* finished: peer closed, failed or timed out; see tls_error */
};

typedef void tls_event_fn(struct tls *t, enum tls_event ev, void *data);

/* Loads every trust anchor of a PEM bundle (TLS_CA_FILE). NULL on error,
 * with the reason in err. The result is shared, read-only, by all streams. */
struct tls_trust *tls_trust_load(const char *pem_path, char *err, size_t err_len);
void tls_trust_free(struct tls_trust *trust);
/* How many trust anchors were loaded (for the startup log line). */
size_t tls_trust_count(const struct tls_trust *trust);

/* Allocates a stream bound to loop; fn(data) receives its events. */
struct tls *tls_new(struct loop *loop, tls_event_fn *fn, void *data);
/* Closes without ceremony and frees; no event is delivered afterwards.
 * Safe from inside the stream's own callback (the memory is released by a
 * deferred call). */
void tls_free(struct tls *t);

/* Starts connecting to host:port: TLS against trust, or plain TCP when
 * trust is NULL. The whole of resolve + connect + handshake must finish
 * within timeout_ms, or TLS_EV_CLOSED arrives with a timeout error.
 * Returns 0 (an event follows), or -1 at once on bad arguments. A stream
 * may be connected again after TLS_EV_CLOSED or tls_close. */
int tls_connect(struct tls *t, const char *host, uint16_t port, const struct tls_trust *trust,
                int64_t timeout_ms);
/* Copies up to len received bytes into buf. Returns the count (> 0), 0 when
 * nothing is available yet (wait for TLS_EV_READABLE), or -1 when the
 * stream is finished. */
ssize_t tls_read(struct tls *t, void *buf, size_t len);
/* Queues len bytes for sending (the stream copies them). Returns 0, or -1
 * when the stream is not connected or the send queue would pass its bound. */
int tls_write(struct tls *t, const void *buf, size_t len);
/* Bytes queued and not yet sent. */
size_t tls_pending(const struct tls *t);
/* Graceful close: sends what is queued, then close_notify, then closes the
 * socket; TLS_EV_CLOSED follows. */
void tls_close(struct tls *t);
/* Closes at once (no close_notify); no event follows. */
void tls_abort(struct tls *t);
/* 1 while connected (handshake done, not closed). */
int tls_is_open(const struct tls *t);
/* 1 when the last handshake resumed a cached session (no certificate was
 * sent: the one checked for this host and port earlier stands). */
int tls_resumed(const struct tls *t);
/* The last error as a sentence ("certificate expired", "connect to
 * 127.0.0.1:443: Connection refused", ...); "" when none. */
const char *tls_error(const struct tls *t);

#endif
