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

#define log_debug(c, ...) log_msg(LOG_DEBUG, c, __VA_ARGS__)
#define log_info(c, ...)  log_msg(LOG_INFO, c, __VA_ARGS__)
#define log_warn(c, ...)  log_msg(LOG_WARNING, c, __VA_ARGS__)
#define log_error(c, ...) log_msg(LOG_ERROR, c, __VA_ARGS__)
#define log_crit(c, ...)  log_msg(LOG_CRITICAL, c, __VA_ARGS__)

#endif
