/* llm — a channel name suggested by Open WebUI (spec 6.1, issue 10.2).
 *
 * What it does: POSTs one OpenAI-compatible chat completion to
 * OPEN_WEB_UI_URL (the full endpoint, http:// or https://) with a bearer
 * token, the model, the rendered prompt, one function tool
 * (suggest_channel_name with a required string "name") and a tool_choice
 * naming it, so the answer is structured. The answer is read strictly:
 * choices[0].message.tool_calls[].function.arguments is a JSON string that
 * must parse as an object with a string "name"; when the model answered
 * with no tool call, a message content that is itself such a JSON object
 * (optionally in a ``` fence) is accepted as a fallback. The name is then
 * forced into Discord's channel-name rules (llm_channel_name).
 *
 * Every request calls back exactly once, from the loop (never from inside
 * llm_suggest), with a name or with a one-line failure meant to be stored
 * in place of the suggestion ("LLM not configured", "LLM error: ...").
 * What it does not: retries (a proposal keeps its failure text and an
 * admin can re-run the suggestion), streaming, conversation state. */
#ifndef AGORA_LLM_H
#define AGORA_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct loop;
struct tls_trust;

/* Discord: channel names are 1-100 characters (Discord docs, "Channel
 * Object"); ours are ASCII, so 100 bytes. */
#define LLM_NAME_MAX 100
/* The answer body we accept: a tool call is a few hundred bytes; 1 MiB
 * bounds a confused or hostile endpoint. */
#define LLM_ANSWER_MAX (1024 * 1024)
/* The failure text stored in place of a suggestion is at most this long. */
#define LLM_ERROR_MAX 200

struct llm_options {
	const char *url;               /* full endpoint; NULL or "": "LLM not configured" */
	const char *model;             /* OPEN_WEB_UI_MODEL */
	const char *token;             /* the open_webui_token secret; NULL: not configured */
	int timeout_ms;                /* LLM_TIMEOUT_SECONDS * 1000: the whole request */
	const struct tls_trust *trust; /* for https endpoints (borrowed) */
};

struct llm;

/* name (success) or error (failure): exactly one is non-NULL; both
 * borrowed for the call. */
typedef void llm_done_fn(void *data, const char *name, const char *error);

/* A client for one endpoint (options copied). NULL when out of memory. */
struct llm *llm_new(struct loop *loop, const struct llm_options *opt);
/* Every request still pending calls back once, now, with "LLM error:
 * stopped". Not from inside an llm callback. */
void llm_free(struct llm *l);

/* Asks for a channel name for prompt (the rendered
 * prompts/channel_name_suggestion.txt; copied). fn(data) runs exactly once,
 * later, from the loop. */
void llm_suggest(struct llm *l, const char *prompt, llm_done_fn *fn, void *data);

/* llm_suggest with the prompt rendered from prompt_template (the text of
 * prompts/channel_name_suggestion.txt), {idea} replaced by idea. The
 * template fences the idea in triple quotes, so a run of three or more
 * '"' inside the idea becomes as many '\'' (the member's text can never
 * close the fence and talk to the model as the prompt). fn(data) runs
 * exactly once, later, as for llm_suggest. */
void llm_suggest_idea(struct llm *l, const char *prompt_template, const char *idea, llm_done_fn *fn,
                      void *data);
/* The prompt llm_suggest_idea sends, appended to out (for tests). 0 or -1. */
int llm_render_prompt(struct buf *out, const char *prompt_template, const char *idea);

/* The request body llm_suggest sends, appended to out (for tests). */
int llm_request_body(struct buf *out, const char *model, const char *prompt);

/* Reads an answer body: the tool call's arguments, or the content
 * fallback, then llm_channel_name. 0 with the name in name (of cap bytes,
 * at least LLM_NAME_MAX + 1), or -1 with "LLM error: ..." in err. Pure:
 * the fuzz target drives it. */
int llm_parse_answer(const char *body, size_t len, char *name, size_t cap, char *err,
                     size_t err_len);

/* Forces text into Discord's channel-name rules: lowercase ASCII; spaces,
 * dots and other separators become '-'; only [a-z0-9_-] kept; runs of '-'
 * collapsed; '-' and '_' trimmed at both ends; at most LLM_NAME_MAX bytes.
 * Writes a NUL-terminated result into out (cap >= LLM_NAME_MAX + 1);
 * returns its length, 0 when nothing usable was left. */
size_t llm_channel_name(const char *text, size_t len, char *out, size_t cap);

#endif
