/* url — see url.h. */
#include "url.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	enum url_scheme scheme;
	int secure;
} schemes[] = {
        {"http", URL_HTTP, 0},
        {"https", URL_HTTPS, 1},
        {"ws", URL_WS, 0},
        {"wss", URL_WSS, 1},
};

uint16_t
url_default_port(enum url_scheme scheme)
{
	return scheme == URL_HTTPS || scheme == URL_WSS ? 443 : 80;
}

static int
fail(char *err, size_t err_len, const char *reason)
{
	if (err && err_len)
		snprintf(err, err_len, "%s", reason);
	return -1;
}

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_hex(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int
to_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* RFC 3986 3.3 and 3.4: pchar / "/" / "?" = unreserved, sub-delims, ":",
 * "@", "/", "?" and percent-encoded octets. Anything else (space, CR, LF,
 * quotes, non-ASCII) must be percent-encoded by whoever wrote the URL; we
 * refuse rather than guess, since a raw CR or space would split the request
 * line. */
static int
is_target_char(int c)
{
	return is_alpha(c) || is_digit(c) || (c && strchr("-._~!$&'()*+,;=:@/?", c));
}

/* Host names as DNS spells them (RFC 1123 2.1: letters, digits, hyphens),
 * plus "_", which real records carry, and "." between labels. */
static int
parse_reg_name(const char *s, size_t len, struct url *u, char *err, size_t err_len)
{
	if (len == 0)
		return fail(err, err_len, "the host is empty");
	if (len > URL_HOST_MAX)
		return fail(err, err_len, "the host name is longer than 253 characters");
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		if (c == '.') {
			/* a single trailing dot (an absolute name) is allowed */
			if (label == 0)
				return fail(err, err_len, "the host name has an empty label");
			label = 0;
		} else if (is_alpha(c) || is_digit(c) || c == '-' || c == '_') {
			/* RFC 1035 2.3.4: labels are 63 octets or less */
			if (++label > 63)
				return fail(
				        err, err_len,
				        "a label of the host name is longer than 63 characters");
		} else {
			char msg[96];
			if (c > 0x20 && c < 0x7f)
				snprintf(msg, sizeof msg, "the host name contains '%c'", c);
			else
				snprintf(msg, sizeof msg, "the host name contains the byte 0x%02x",
				         c);
			return fail(err, err_len, msg);
		}
		u->host[i] = (char)to_lower(c);
	}
	u->host[len] = '\0';
	return 0;
}

/* RFC 3986 3.2.2: IP-literal = "[" IPv6address "]"; zone ids (RFC 6874)
 * and IPvFuture are not supported. inet_pton does the validating: it is
 * pure computation, no I/O. */
static int
parse_ipv6(const char *s, size_t len, struct url *u, char *err, size_t err_len)
{
	char text[64];
	unsigned char bin[16];
	if (len == 0)
		return fail(err, err_len, "the IPv6 address in brackets is empty");
	if (len >= sizeof text)
		return fail(err, err_len, "the IPv6 address in brackets is too long");
	memcpy(text, s, len);
	text[len] = '\0';
	if (strchr(text, '%'))
		return fail(err, err_len, "IPv6 zone identifiers are not supported");
	if (inet_pton(AF_INET6, text, bin) != 1)
		return fail(err, err_len, "the address in brackets is not a valid IPv6 address");
	for (size_t i = 0; i <= len; i++)
		u->host[i] = (char)to_lower((unsigned char)text[i]);
	u->ipv6 = 1;
	return 0;
}

static int
parse_port(const char *s, size_t len, struct url *u, char *err, size_t err_len)
{
	/* RFC 3986 allows an empty port, but in a config file it is a typo */
	if (len == 0)
		return fail(err, err_len, "the port after ':' is empty");
	unsigned long port = 0;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit((unsigned char)s[i]))
			return fail(err, err_len, "the port is not a number");
		port = port * 10 + (unsigned long)(s[i] - '0');
		if (port > 65535)
			return fail(err, err_len, "the port is greater than 65535");
	}
	if (port == 0)
		return fail(err, err_len, "the port is 0");
	u->port = (uint16_t)port;
	return 0;
}

int
url_parse(const char *text, struct url *u, char *err, size_t err_len)
{
	if (!text || !*text)
		return fail(err, err_len, "the URL is empty");
	memset(u, 0, sizeof *u);

	/* RFC 3986 3.1: scheme ":" — compared case-insensitively */
	const char *colon = strchr(text, ':');
	size_t scheme_len = colon ? (size_t)(colon - text) : 0;
	size_t i;
	for (i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		const char *name = schemes[i].name;
		if (strlen(name) != scheme_len)
			continue;
		size_t k = 0;
		while (k < scheme_len && to_lower((unsigned char)text[k]) == name[k])
			k++;
		if (k == scheme_len)
			break;
	}
	if (!colon || i == sizeof schemes / sizeof schemes[0])
		return fail(err, err_len,
		            "the URL must start with http://, https://, ws:// or wss://");
	u->scheme = schemes[i].scheme;
	u->secure = schemes[i].secure;
	if (strncmp(colon, "://", 3) != 0)
		return fail(err, err_len, "the scheme must be followed by \"://\"");

	/* RFC 3986 3.2: the authority ends at the first "/", "?" or "#" */
	const char *auth = colon + 3;
	size_t auth_len = strcspn(auth, "/?#");
	const char *rest = auth + auth_len;
	if (memchr(auth, '@', auth_len))
		return fail(err, err_len,
		            "user names and passwords in URLs are not supported (secrets go in "
		            "files)");
	const char *host = auth, *port = NULL;
	size_t host_len, port_len = 0;
	if (auth_len && auth[0] == '[') {
		const char *close = memchr(auth, ']', auth_len);
		if (!close)
			return fail(err, err_len, "the IPv6 address has no closing ']'");
		host = auth + 1;
		host_len = (size_t)(close - host);
		const char *after = close + 1;
		if (after < rest && *after != ':')
			return fail(err, err_len, "unexpected text after the IPv6 address");
		if (after < rest) {
			port = after + 1;
			port_len = (size_t)(rest - port);
		}
		if (parse_ipv6(host, host_len, u, err, err_len) < 0)
			return -1;
	} else {
		const char *pc = memchr(auth, ':', auth_len);
		host_len = pc ? (size_t)(pc - auth) : auth_len;
		if (pc) {
			port = pc + 1;
			port_len = (size_t)(rest - port);
		}
		if (parse_reg_name(host, host_len, u, err, err_len) < 0)
			return -1;
	}
	u->port = url_default_port(u->scheme);
	if (port && parse_port(port, port_len, u, err, err_len) < 0)
		return -1;

	/* path and query; RFC 9110 4.2.4 and 9112 3.2: the fragment is never
	 * sent, and an empty path is sent as "/" */
	size_t target_len = strcspn(rest, "#");
	size_t out = 0;
	if (target_len == 0 || rest[0] == '?')
		u->target[out++] = '/';
	if (target_len > URL_TARGET_MAX - out)
		return fail(err, err_len, "the path and query are longer than 8000 characters");
	for (size_t k = 0; k < target_len; k++) {
		int c = (unsigned char)rest[k];
		if (c == '%') {
			if (k + 2 >= target_len || !is_hex((unsigned char)rest[k + 1]) ||
			    !is_hex((unsigned char)rest[k + 2]))
				return fail(err, err_len,
				            "'%' in the path must be followed by two hex digits");
		} else if (!is_target_char(c)) {
			char msg[112];
			if (c > 0x20 && c < 0x7f)
				snprintf(msg, sizeof msg,
				         "the path or query contains '%c' (percent-encode it)", c);
			else
				snprintf(msg, sizeof msg,
				         "the path or query contains the byte 0x%02x "
				         "(percent-encode it)",
				         c);
			return fail(err, err_len, msg);
		}
		u->target[out++] = (char)c;
	}
	u->target[out] = '\0';
	return 0;
}

int
url_authority(const struct url *u, char *out, size_t len)
{
	int n;
	int default_port = u->port == url_default_port(u->scheme);
	if (u->ipv6)
		n = default_port ? snprintf(out, len, "[%s]", u->host)
		                 : snprintf(out, len, "[%s]:%u", u->host, (unsigned)u->port);
	else
		n = default_port ? snprintf(out, len, "%s", u->host)
		                 : snprintf(out, len, "%s:%u", u->host, (unsigned)u->port);
	if (n < 0 || (size_t)n >= len)
		return -1;
	return n;
}
