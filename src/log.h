/* log — one line per event on stderr:
 *
 *     2026-11-25T07:49:36.123Z INFO gateway: connected to the gateway
 *
 * TIMESTAMP is UTC with milliseconds, LEVEL one of DEBUG INFO WARNING ERROR
 * CRITICAL (Python's names, since LOG_LEVEL comes from the spec), component
 * the module that speaks. Lines below the configured level are dropped
 * before any formatting. Each line is written with a single write(2), so
 * lines never interleave. A message never contains a newline: control
 * characters are replaced, so outside text cannot forge log lines. */
#ifndef AGORA_LOG_H
#define AGORA_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_CRITICAL };

/* Sets the lowest level printed (default LOG_INFO). */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Where lines go (default 2, stderr); tests point it at a pipe. */
void log_set_fd(int fd);
/* Parses "DEBUG", "info", "WARN", ...; 0 on success, -1 if unknown. */
int log_parse_level(const char *name, enum log_level *level);
/* The upper-case name of a level. */
const char *log_level_name(enum log_level level);
/* Writes one line if level is enabled. */
void log_msg(enum log_level level, const char *component, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* A line that repeats while a failure lasts ("cannot connect to Redis")
 * is printed the first time, then at most once per interval_ms, each time
 * saying how many were held back since the last one printed; when the
 * failure is over, log_limit_end says how many were held back at the end.
 * A zeroed struct is ready to use; it allocates nothing. */
struct log_limit {
	long long last_ms;     /* CLOCK_MONOTONIC ms of the last printed line */
	unsigned long held;    /* held back since the last printed line */
	unsigned long repeats; /* occurrences since the first, printed or not */
};
/* Returns 1 if the line was printed, 0 if it was held back (or the level
 * is disabled). */
int log_limited(struct log_limit *l, long long interval_ms, enum log_level level,
                const char *component, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The failure is over: when lines were held back since the last printed
 * one, one line "WHAT: N more like it held back" says so; then resets l. */
void log_limit_end(struct log_limit *l, enum log_level level, const char *component,
                   const char *what);

#define log_debug(c, ...) log_msg(LOG_DEBUG, c, __VA_ARGS__)
#define log_info(c, ...)  log_msg(LOG_INFO, c, __VA_ARGS__)
#define log_warn(c, ...)  log_msg(LOG_WARNING, c, __VA_ARGS__)
#define log_error(c, ...) log_msg(LOG_ERROR, c, __VA_ARGS__)
#define log_crit(c, ...)  log_msg(LOG_CRITICAL, c, __VA_ARGS__)

#endif
