/* url — parses the absolute URLs Agora speaks to (RFC 3986), nothing more.
 *
 * What it does: splits "https://host:port/path?query" into the scheme, the
 * host (lower-cased; an IPv6 literal loses its brackets), the port (the
 * scheme's default when absent) and the request target (path + query, "/"
 * when the path is empty, RFC 9112 3.2.1), rejecting anything that could not
 * be sent safely on a request line, with the reason. It is pure: no I/O, no
 * allocation, no name resolution, so config validation, http and ws share
 * it. What it does not: relative references, user names or passwords in the
 * URL (secrets travel in headers, never in URLs that end up in logs),
 * percent-decoding, IDNA (non-ASCII host names are rejected), IPv6 zone ids.
 *
 * Schemes: http and https (RFC 9110 4.2), ws and wss (RFC 6455 3). */
#ifndef AGORA_URL_H
#define AGORA_URL_H

#include <stddef.h>
#include <stdint.h>

/* RFC 1035 2.3.4: a domain name is at most 253 characters written out; an
 * IPv6 literal is shorter still (45), so one bound serves both. */
#define URL_HOST_MAX 253
/* RFC 9110 4.1 recommends supporting URIs of at least 8000 octets; a longer
 * target is refused rather than truncated. */
#define URL_TARGET_MAX 8000

enum url_scheme { URL_HTTP, URL_HTTPS, URL_WS, URL_WSS };

struct url {
	enum url_scheme scheme;
	int secure;                      /* 1 for https and wss (TLS) */
	int ipv6;                        /* 1 when host is an IPv6 literal */
	uint16_t port;                   /* explicit, or the scheme's default */
	char host[URL_HOST_MAX + 1];     /* lower-case, without brackets */
	char target[URL_TARGET_MAX + 1]; /* path and query, never the fragment */
};

/* Parses text into u. Returns 0, or -1 with a sentence saying what is wrong
 * in err (u is then unspecified). */
int url_parse(const char *text, struct url *u, char *err, size_t err_len);

/* The scheme's default port: 80 for http and ws, 443 for https and wss. */
uint16_t url_default_port(enum url_scheme scheme);

/* Writes the Host header value (RFC 9110 7.2): the host, bracketed when
 * IPv6, with ":port" only when the port is not the default. Returns the
 * length, or -1 if it does not fit in len bytes (with the NUL). */
int url_authority(const struct url *u, char *out, size_t len);

#endif
