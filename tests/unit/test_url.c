/* test_url.c — URL parsing: what is accepted, how it is split, and that
 * every bad URL is refused with a reason. */
#include <string.h>

#include "test.h"
#include "url.h"

static struct url u;
static char err[160];

static int
parse(const char *text)
{
	err[0] = '\0';
	return url_parse(text, &u, err, sizeof err);
}

TEST(url_splits_scheme_host_port_target)
{
	CHECK_INT(parse("https://discord.com/api/v10"), 0);
	CHECK_INT(u.scheme, URL_HTTPS);
	CHECK_INT(u.secure, 1);
	CHECK_STR(u.host, "discord.com");
	CHECK_INT(u.port, 443);
	CHECK_STR(u.target, "/api/v10");

	CHECK_INT(parse("http://127.0.0.1:8080/api/chat/completions?x=1&y=%2F"), 0);
	CHECK_INT(u.scheme, URL_HTTP);
	CHECK_INT(u.secure, 0);
	CHECK_STR(u.host, "127.0.0.1");
	CHECK_INT(u.port, 8080);
	CHECK_STR(u.target, "/api/chat/completions?x=1&y=%2F");

	CHECK_INT(parse("wss://gateway.discord.gg/?v=10&encoding=json&compress=zlib-stream"), 0);
	CHECK_INT(u.scheme, URL_WSS);
	CHECK_INT(u.secure, 1);
	CHECK_INT(u.port, 443);
	CHECK_STR(u.target, "/?v=10&encoding=json&compress=zlib-stream");

	CHECK_INT(parse("ws://localhost:9000"), 0);
	CHECK_INT(u.scheme, URL_WS);
	CHECK_INT(u.port, 9000);
	CHECK_STR(u.target, "/");
}

TEST(url_default_ports_and_empty_paths)
{
	CHECK_INT(parse("http://example.org"), 0);
	CHECK_INT(u.port, 80);
	CHECK_STR(u.target, "/"); /* RFC 9112 3.2.1: empty path is sent as "/" */
	CHECK_INT(parse("https://example.org?q=1"), 0);
	CHECK_INT(u.port, 443);
	CHECK_STR(u.target, "/?q=1");
	CHECK_INT(parse("https://example.org#frag"), 0);
	CHECK_STR(u.target, "/");
	CHECK_INT(parse("https://example.org/a/b#frag?no"), 0);
	CHECK_STR(u.target, "/a/b"); /* the fragment is never sent */
	CHECK_INT(url_default_port(URL_HTTP), 80);
	CHECK_INT(url_default_port(URL_HTTPS), 443);
	CHECK_INT(url_default_port(URL_WS), 80);
	CHECK_INT(url_default_port(URL_WSS), 443);
}

TEST(url_scheme_and_host_are_case_insensitive)
{
	CHECK_INT(parse("HTTPS://Discord.COM/Api/V10"), 0);
	CHECK_INT(u.scheme, URL_HTTPS);
	CHECK_STR(u.host, "discord.com");
	CHECK_STR(u.target, "/Api/V10"); /* the path is case-sensitive: kept */
}

TEST(url_ipv6_literals)
{
	CHECK_INT(parse("http://[::1]:8080/x"), 0);
	CHECK_INT(u.ipv6, 1);
	CHECK_STR(u.host, "::1");
	CHECK_INT(u.port, 8080);
	CHECK_STR(u.target, "/x");
	CHECK_INT(parse("https://[2001:DB8::A]"), 0);
	CHECK_STR(u.host, "2001:db8::a");
	CHECK_INT(u.port, 443);
	CHECK_INT(parse("https://[::ffff:192.0.2.1]/"), 0);
	CHECK_STR(u.host, "::ffff:192.0.2.1");

	char auth[300];
	CHECK_INT(parse("http://[::1]:8080/"), 0);
	CHECK_INT(url_authority(&u, auth, sizeof auth), 10);
	CHECK_STR(auth, "[::1]:8080");
	CHECK_INT(parse("http://[::1]/"), 0);
	url_authority(&u, auth, sizeof auth);
	CHECK_STR(auth, "[::1]");
}

TEST(url_authority_omits_default_port)
{
	char auth[300];
	CHECK_INT(parse("https://discord.com:443/api"), 0);
	url_authority(&u, auth, sizeof auth);
	CHECK_STR(auth, "discord.com");
	CHECK_INT(parse("https://discord.com:8443/api"), 0);
	url_authority(&u, auth, sizeof auth);
	CHECK_STR(auth, "discord.com:8443");
	CHECK_INT(parse("http://a.b:80"), 0);
	url_authority(&u, auth, sizeof auth);
	CHECK_STR(auth, "a.b");
	/* too small a buffer is an error, not a truncation */
	CHECK_INT(url_authority(&u, auth, 3), -1);
}

/* Each bad URL with a word its reason must contain. */
static const struct {
	const char *url;
	const char *reason;
} bad_urls[] = {
        {"", "empty"},
        {"discord.com/api", "must start with"},
        {"ftp://example.org/", "must start with"},
        {"httpx://example.org/", "must start with"},
        {"http:/example.org/", "://"},
        {"http:example.org", "://"},
        {"http://", "host is empty"},
        {"http:///path", "host is empty"},
        {"http://:80/", "host is empty"},
        {"http://user:pw@example.org/", "passwords"},
        {"http://token@example.org/", "passwords"},
        {"http://exa mple.org/", "host name contains the byte 0x20"},
        {"http://ex\tample.org/", "0x09"},
        {"http://exämple.org/", "0xc3"},
        {"http://a..b/", "empty label"},
        {"http://.a/", "empty label"},
        {"http://example.org:/", "port after ':' is empty"},
        {"http://example.org:0/", "port is 0"},
        {"http://example.org:65536/", "greater than 65535"},
        {"http://example.org:99999999999999999999/", "greater than 65535"},
        {"http://example.org:8o/", "not a number"},
        {"http://example.org:-1/", "not a number"},
        {"http://[::1/", "closing ']'"},
        {"http://[]/", "empty"},
        {"http://[::g]/", "not a valid IPv6"},
        {"http://[127.0.0.1]/", "not a valid IPv6"},
        {"http://[fe80::1%25eth0]/", "zone"},
        {"http://[::1]x/", "after the IPv6"},
        {"http://[::1]:0/", "port is 0"},
        {"http://::1/", "host is empty"},
        {"http://example.org/a b", "contains the byte 0x20"},
        {"http://example.org/a\r\nHost: evil", "0x0d"},
        {"http://example.org/a\"b", "'\"'"},
        {"http://example.org/%zz", "two hex digits"},
        {"http://example.org/%4", "two hex digits"},
        {"http://example.org/%", "two hex digits"},
        {"http://example.org/caf\xc3\xa9", "0xc3"},
        {"http://example.org/a\\b", "'\\'"},
};

TEST(url_rejects_bad_urls_with_a_reason)
{
	for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
		int rc = parse(bad_urls[i].url);
		if (!CHECK_INT(rc, -1) || !CHECK(strstr(err, bad_urls[i].reason) != NULL))
			CHECK_STR(bad_urls[i].url, err); /* shows which URL, and why */
	}
}

TEST(url_length_limits)
{
	static char text[URL_TARGET_MAX + 64];
	/* a 63-character label is fine, 64 is not */
	memset(text, 0, sizeof text);
	memcpy(text, "http://", 7);
	memset(text + 7, 'a', 63);
	CHECK_INT(parse(text), 0);
	text[7 + 63] = 'a';
	CHECK_INT(parse(text), -1);
	CHECK(strstr(err, "63") != NULL);

	/* a host of 253 characters (labels of 63) is fine; 254 is not */
	memset(text, 0, sizeof text);
	memcpy(text, "http://", 7);
	size_t n = 7;
	while (n - 7 < 253) {
		text[n] = (n - 7) % 64 == 63 ? '.' : 'b';
		n++;
	}
	CHECK_INT(parse(text), 0);
	CHECK_INT(strlen(u.host), 253);
	text[n++] = 'c';
	CHECK_INT(parse(text), -1);
	CHECK(strstr(err, "253") != NULL);

	/* a target of exactly URL_TARGET_MAX characters fits; one more does not */
	memset(text, 0, sizeof text);
	memcpy(text, "http://h", 8);
	text[8] = '/';
	memset(text + 9, 'p', URL_TARGET_MAX - 1);
	CHECK_INT(parse(text), 0);
	CHECK_INT(strlen(u.target), URL_TARGET_MAX);
	text[9 + URL_TARGET_MAX - 1] = 'p';
	CHECK_INT(parse(text), -1);
	CHECK(strstr(err, "8000") != NULL);
}

TEST(url_null_error_buffer_is_fine)
{
	CHECK_INT(url_parse("nope", &u, NULL, 0), -1);
	CHECK_INT(url_parse("http://ok/", &u, NULL, 0), 0);
}
