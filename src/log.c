/* log — see log.h. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static int log_fd = 2;

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};

void
log_set_level(enum log_level level)
{
	min_level = level;
}

enum log_level
log_get_level(void)
{
	return min_level;
}

void
log_set_fd(int fd)
{
	log_fd = fd;
}

const char *
log_level_name(enum log_level level)
{
	if ((unsigned)level > LOG_CRITICAL)
		return "?";
	return level_names[level];
}

int
log_parse_level(const char *name, enum log_level *level)
{
	for (int i = 0; i <= LOG_CRITICAL; i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	/* Python's logging accepts these aliases too */
	if (strcasecmp(name, "WARN") == 0) {
		*level = LOG_WARNING;
		return 0;
	}
	if (strcasecmp(name, "FATAL") == 0) {
		*level = LOG_CRITICAL;
		return 0;
	}
	return -1;
}

void
log_msg(enum log_level level, const char *component, const char *fmt, ...)
{
	if (level < min_level)
		return;
	int saved_errno = errno; /* callers may log, then read errno */

	/* a line is bounded: longer messages are cut, never split */
	char line[2048];
	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	int head = snprintf(line, sizeof line,
	                    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ", tm.tm_year + 1900,
	                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	                    now.tv_nsec / 1000000, log_level_name(level), component);
	if (head < 0 || (size_t)head >= sizeof line)
		head = 0;

	va_list ap;
	va_start(ap, fmt);
	int body = vsnprintf(line + head, sizeof line - (size_t)head - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)head;
	if (body > 0)
		len += (size_t)body < sizeof line - (size_t)head - 1
		               ? (size_t)body
		               : sizeof line - (size_t)head - 2;
	/* outside text (user input, server errors) must not forge lines */
	for (size_t i = (size_t)head; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c < 0x20 || c == 0x7f)
			line[i] = ' ';
	}
	line[len++] = '\n';

	const char *p = line;
	while (len > 0) {
		ssize_t n = write(log_fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		len -= (size_t)n;
	}
	errno = saved_errno;
}

static long long
log_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
log_limited(struct log_limit *l, long long interval_ms, enum log_level level, const char *component,
            const char *fmt, ...)
{
	long long now = log_clock_ms();
	l->repeats++;
	/* the first line of a failure always goes out, then one per interval */
	if (l->repeats > 1 && now - l->last_ms < interval_ms) {
		l->held++;
		return 0;
	}
	if (level < min_level) {
		l->last_ms = now;
		l->held = 0;
		return 0;
	}
	char text[1600];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (n < 0)
		text[0] = '\0';
	if (l->held)
		log_msg(level, component, "%s (%lu more like it held back in the last %lld s)",
		        text, l->held, (now - l->last_ms) / 1000);
	else
		log_msg(level, component, "%s", text);
	l->last_ms = now;
	l->held = 0;
	return 1;
}

void
log_limit_end(struct log_limit *l, enum log_level level, const char *component, const char *what)
{
	if (l->held)
		log_msg(level, component, "%s: %lu more like it held back", what, l->held);
	l->last_ms = 0;
	l->held = 0;
	l->repeats = 0;
}
