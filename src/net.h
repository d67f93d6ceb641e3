/* net — host names resolved off the loop, and non-blocking TCP connect.
 *
 * What it does: net_resolve turns "host" + port into addresses without
 * blocking the loop: IP literals are parsed at once, names are looked up by
 * getaddrinfo on a detached helper thread (one per lookup) that hands the
 * result back through a pipe the loop watches. net_connect chains a lookup
 * with a non-blocking connect (connect -> EINPROGRESS -> POLLOUT ->
 * SO_ERROR), trying each address in turn, and hands over a connected fd.
 * What it does not: timeouts (the caller runs one timer over the whole
 * job), happy eyeballs, listening sockets, UDP.
 *
 * Both objects are EMBEDDED in their owner. Their callback runs exactly
 * once per start, always from the loop, never from inside net_*_start.
 * Cancelling is always safe: a lookup thread that finishes after its
 * requester went away drops its result on its own (the job it writes to is
 * reference-counted and outlives the requester). */
#ifndef AGORA_NET_H
#define AGORA_NET_H

#include <netdb.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop.h"

/* Addresses kept per lookup: a name rarely maps to more, and the rest would
 * only be tried after these all failed. */
#define NET_MAX_ADDRS 8

/* Longest host name (RFC 1035 2.3.4: 255 octets on the wire, 253 as text). */
#define NET_HOST_MAX 253

/* A function with getaddrinfo's contract; tests inject a slow one. */
typedef int net_resolver_fn(const char *host, const char *service, const struct addrinfo *hints,
                            struct addrinfo **res);

struct net_job; /* the shared state of one lookup thread (net.c) */

struct net_addr {
	struct sockaddr_storage addr;
	socklen_t len;
};

struct net_resolve;
/* On success count > 0 and addrs holds them (borrowed: valid during the
 * call); on failure count == 0 and net_resolve_error() says why. */
typedef void net_resolve_fn(struct net_resolve *r, const struct net_addr *addrs, size_t count,
                            void *data);

struct net_resolve {
	struct loop *loop;
	net_resolve_fn *fn;
	void *data;
	struct net_job *job;     /* the lookup in flight, or NULL */
	struct loop_watch watch; /* the job's pipe */
	struct loop_timer done;  /* delivers literal results and early errors */
	struct net_addr addrs[NET_MAX_ADDRS];
	size_t count;
	int pending; /* a callback is owed */
	char host[NET_HOST_MAX + 1];
	char error[384]; /* "cannot resolve " + host + reason */
};

struct net_connect;
/* fd >= 0: connected, non-blocking, close-on-exec; the callee owns it.
 * fd == -1: failed, net_connect_error() says why. */
typedef void net_connect_fn(struct net_connect *c, int fd, void *data);

struct net_connect {
	struct loop *loop;
	net_connect_fn *fn;
	void *data;
	struct net_resolve resolve;
	struct loop_watch watch; /* POLLOUT on the connecting socket */
	struct net_addr addrs[NET_MAX_ADDRS];
	size_t count, next; /* addresses, and the next one to try */
	int fd;
	int pending;
	char error[400]; /* holds a resolve error or "connect to ADDR: why" */
};

/* Prepares r (once, before first use). */
void net_resolve_init(struct net_resolve *r);
/* Looks up host (name, IP literal, or "[v6 literal]") for port; fn(data)
 * follows, also for failures (invalid name, no thread). A lookup already
 * running on r is cancelled first. Returns 0, or -1 at once on NULL
 * arguments or when not even the callback can be scheduled (error set; no
 * callback). */
int net_resolve_start(struct loop *loop, struct net_resolve *r, const char *host, uint16_t port,
                      net_resolve_fn *fn, void *data);
/* Forgets the lookup: no callback follows. Harmless when idle. */
void net_resolve_cancel(struct net_resolve *r);
const char *net_resolve_error(const struct net_resolve *r);

void net_connect_init(struct net_connect *c);
/* Resolves host, then connects to each address in turn until one accepts;
 * fn(data) follows once. Returns 0, or -1 at once (error set). */
int net_connect_start(struct loop *loop, struct net_connect *c, const char *host, uint16_t port,
                      net_connect_fn *fn, void *data);
/* Stops everything and closes the socket in progress; no callback follows. */
void net_connect_cancel(struct net_connect *c);
const char *net_connect_error(const struct net_connect *c);

/* "1.2.3.4:443" or "[::1]:443" into out. */
void net_addr_format(const struct net_addr *a, char *out, size_t out_len);

/* Tests only: lookups started from now on call fn instead of getaddrinfo
 * (NULL restores getaddrinfo). Results are freed with freeaddrinfo. */
void net_set_resolver(net_resolver_fn *fn);
/* Tests only: lookup threads not yet finished (their jobs not yet freed). */
int net_jobs_alive(void);

#endif
