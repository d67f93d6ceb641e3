/* health — the loopback health listener that `agora --healthcheck` (and so
 * Docker's HEALTHCHECK, in a scratch image without a shell) asks.
 *
 * What it does: listens on 127.0.0.1:HEALTH_PORT, reads one small HTTP
 * request per connection, asks the owner for a live check (a round trip to
 * PostgreSQL and Redis, and the gateway's state: not a cached flag), and
 * answers `HTTP/1.0 200 OK` when the check says healthy, `503 Service
 * Unavailable` otherwise, with the check's one-line summary as the body.
 * What it does not: anything else of HTTP; it never listens beyond
 * loopback. Connections are few, bounded and short: a peer gets
 * HEALTH_READ_MS to send its request and HEALTH_TIMEOUT_MS for the whole
 * exchange. When every slot is taken, the oldest peer still sending its
 * request is closed for the new one (idle connections cannot starve the
 * real check); what was closed or refused is logged as a count, once a
 * minute at most, never one line per connection. */
#ifndef AGORA_HEALTH_H
#define AGORA_HEALTH_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct health;

/* Connections served at once; a health check is one short request every
 * few seconds, so more than this means something is wrong or hostile. */
#define HEALTH_MAX_CONNECTIONS 8
/* Time for a whole exchange, request to answer; the check itself must fit
 * in it (Docker's own timeout is longer). */
#define HEALTH_TIMEOUT_MS 4000
/* Time from accept to a whole request. `agora --healthcheck` writes it
 * right after connecting, on loopback: a peer that has sent nothing in a
 * second is not a health check. */
#define HEALTH_READ_MS 1000

/* The owner's answer to a check: healthy or not, and one line to show. */
typedef void health_answer_fn(void *conn, int healthy, const char *summary);
/* Asks the owner to check; it calls answer(conn, ...) exactly once, now or
 * later (not after health_free). conn stays valid until then. */
typedef void health_check_fn(void *data, health_answer_fn *answer, void *conn);

/* Listens on 127.0.0.1:port. NULL with the reason in err. */
struct health *health_new(struct loop *loop, uint16_t port, health_check_fn *check, void *data,
                          char *err, size_t err_len);
/* Closes the listener and every connection. Free it after whatever may
 * still answer a check (e.g. after the database and cache, whose pending
 * pings answer with an error when they are freed). */
void health_free(struct health *h);
/* The port actually bound (useful with port 0 in tests). */
uint16_t health_port(const struct health *h);

#endif
