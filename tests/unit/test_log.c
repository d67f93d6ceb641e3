/* test_log.c — the log line format, level filtering and that outside text
 * cannot forge extra lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "test.h"

/* Runs the logging calls with the log pointed at a pipe; returns what was
 * written (static buffer). */
static const char *
capture(enum log_level level, void (*emit)(void))
{
	static char out[8192];
	int fds[2];
	if (pipe(fds) < 0)
		return "";
	enum log_level saved = log_get_level();
	log_set_level(level);
	log_set_fd(fds[1]);
	emit();
	log_set_fd(2);
	log_set_level(saved);
	close(fds[1]);
	ssize_t n = read(fds[0], out, sizeof out - 1);
	close(fds[0]);
	out[n > 0 ? n : 0] = '\0';
	return out;
}

static void
emit_each_level(void)
{
	log_debug("gateway", "d %d", 1);
	log_info("gateway", "i %s", "two");
	log_warn("rest", "w");
	log_error("db", "e");
	log_crit("main", "c");
}

static void
emit_hostile(void)
{
	log_info("bot", "user said: %s", "hi\n2026-01-01T00:00:00.000Z CRITICAL main: forged\r");
}

static int
count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

TEST(log_format_is_timestamp_level_component_message)
{
	const char *out = capture(LOG_DEBUG, emit_each_level);
	CHECK_INT(count_lines(out), 5);
	/* 2026-11-25T07:49:36.123Z DEBUG gateway: d 1 */
	CHECK(strlen(out) > 25 && out[4] == '-' && out[10] == 'T' && out[19] == '.' &&
	      out[23] == 'Z');
	CHECK(strstr(out, "Z DEBUG gateway: d 1\n"));
	CHECK(strstr(out, "Z INFO gateway: i two\n"));
	CHECK(strstr(out, "Z WARNING rest: w\n"));
	CHECK(strstr(out, "Z ERROR db: e\n"));
	CHECK(strstr(out, "Z CRITICAL main: c\n"));
}

TEST(log_level_filters_lower_levels)
{
	const char *out = capture(LOG_ERROR, emit_each_level);
	CHECK_INT(count_lines(out), 2);
	CHECK(!strstr(out, "INFO"));
	CHECK(!strstr(out, "WARNING"));
	CHECK(strstr(out, " ERROR db: e"));
}

TEST(log_messages_cannot_forge_lines)
{
	const char *out = capture(LOG_INFO, emit_hostile);
	CHECK_INT(count_lines(out), 1);
	CHECK(strstr(out, "user said: hi 2026-01-01"));
}

TEST(log_parse_level_names)
{
	enum log_level l;
	CHECK_INT(log_parse_level("debug", &l), 0);
	CHECK_INT(l, LOG_DEBUG);
	CHECK_INT(log_parse_level("WARN", &l), 0);
	CHECK_INT(l, LOG_WARNING);
	CHECK_INT(log_parse_level("Critical", &l), 0);
	CHECK_INT(l, LOG_CRITICAL);
	CHECK_INT(log_parse_level("LOUD", &l), -1);
	CHECK_INT(log_parse_level("", &l), -1);
}

/* ---- log_limited: the first line, then a count (issue 12.2) */

static void
emit_repeating_failure(void)
{
	static struct log_limit limit;
	/* 1,000 failures within one interval: one line */
	for (int i = 0; i < 1000; i++)
		log_limited(&limit, 60000, LOG_WARNING, "cache", "cannot connect: refused %d", i);
	/* the interval passes: the next line says how many were held back */
	limit.last_ms -= 60000;
	log_limited(&limit, 60000, LOG_WARNING, "cache", "cannot connect: refused again");
	for (int i = 0; i < 5; i++)
		log_limited(&limit, 60000, LOG_WARNING, "cache", "cannot connect: refused");
	/* recovered: the five held back are summed up once */
	log_limit_end(&limit, LOG_WARNING, "cache", "Redis");
	/* a new failure prints at once */
	log_limited(&limit, 60000, LOG_WARNING, "cache", "cannot connect: new outage");
}

TEST(log_limited_first_then_count)
{
	const char *out = capture(LOG_INFO, emit_repeating_failure);
	CHECK_INT(count_lines(out), 4);
	CHECK(strstr(out, "cannot connect: refused 0\n") != NULL);
	CHECK(strstr(out, "refused 1\n") == NULL);
	CHECK(strstr(out, "cannot connect: refused again (999 more like it held back") != NULL);
	CHECK(strstr(out, "Redis: 5 more like it held back") != NULL);
	CHECK(strstr(out, "cannot connect: new outage") != NULL);
}
