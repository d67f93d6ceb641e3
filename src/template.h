/* template — the announcement templates (templates/NAME.md) and LLM prompts
 * (prompts/NAME.txt), with {placeholder} substitution.
 *
 * What it does: every file of templates/ and prompts/ is embedded in the
 * binary at build time (templates/embed.sh), so the scratch image needs
 * none of them; when TEMPLATES_DIR or PROMPTS_DIR is set, template_load
 * reads the same names from there once, at start, and a file missing or
 * unreadable there is an error (an operator who points at a directory
 * wants it used, not silently ignored). template_render replaces
 * `{name}` with the caller's value for each known name; any other brace
 * text is copied as it is, so a template may hold literal braces.
 * What it does not: escaping. Values are inserted verbatim: the caller
 * decides what a value may contain (Markdown, a JSON string). No reload
 * while running. */
#ifndef AGORA_TEMPLATE_H
#define AGORA_TEMPLATE_H

#include <stddef.h>

#include "buf.h"

/* One embedded file: "templates/NAME" or "prompts/NAME". */
struct template_file {
	const char *name;
	const char *text;
	size_t len;
};
/* The build's table (text_embedded.c), ended by an entry with name NULL. */
extern const struct template_file template_embedded[];

/* The texts Agora uses. */
enum template_id {
	TEMPLATE_NEW_CHANNEL,         /* templates/new_channel_announcement.md */
	TEMPLATE_PROMOTED_CHANNEL,    /* templates/promoted_channel_announcement.md */
	TEMPLATE_PROMPT_CHANNEL_NAME, /* prompts/channel_name_suggestion.txt */
	TEMPLATE_COUNT
};

/* A file read from an override directory is at most this big: templates
 * become Discord embed descriptions (4,096 characters), prompts a few KB. */
#define TEMPLATE_FILE_MAX (64 * 1024)

/* The texts in use: built-in, or read from the override directories. */
struct templates {
	char *text[TEMPLATE_COUNT]; /* NUL-terminated, owned */
	size_t len[TEMPLATE_COUNT];
};

/* Fills t: each text from templates_dir / prompts_dir when that is
 * non-NULL and non-empty, else the built-in copy. 0, or -1 with
 * "PATH: why" in err (t is then freed). */
int template_load(struct templates *t, const char *templates_dir, const char *prompts_dir,
                  char *err, size_t err_len);
void template_free(struct templates *t);
/* The text of id (never NULL after a successful load). */
const char *template_text(const struct templates *t, enum template_id id);
/* The built-in copy by its table name ("prompts/channel_name_suggestion.txt"),
 * or NULL. */
const struct template_file *template_builtin(const char *name);

/* A placeholder and its value (both borrowed). */
struct template_var {
	const char *name;  /* without braces: "channel" for {channel} */
	const char *value; /* NULL renders as "" */
};

/* Appends text to out with each {name} of vars replaced by its value.
 * Returns 0, or -1 when out refused to grow (out is then cut). */
int template_render(const char *text, const struct template_var *vars, size_t var_count,
                    struct buf *out);

#endif
