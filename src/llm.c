/* llm.c — see llm.h. */
#include "llm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "template.h"

#define LLM_TOOL "suggest_channel_name"

/* One request in flight (or failed at once and waiting for its deferred
 * callback). */
struct llm_req {
	struct llm *llm; /* NULL once llm_free ran */
	llm_done_fn *fn;
	void *data;
	int called; /* fn ran */
	struct loop_defer defer;
	char error[LLM_ERROR_MAX + 1]; /* for a deferred failure */
	struct llm_req *prev, *next;
};

struct llm {
	struct loop *loop;
	struct http_client *http;
	char *url, *model, *token;
	int timeout_ms;
	struct llm_req *pending; /* every request whose fn has not run */
	char auth[512];          /* "Bearer TOKEN" */
};

static void
llm_unlink(struct llm *l, struct llm_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else if (l->pending == r)
		l->pending = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

/* Runs fn once and unlinks; the caller frees r when nothing else refers
 * to it. */
static void
llm_finish(struct llm_req *r, const char *name, const char *error)
{
	if (r->called)
		return;
	r->called = 1;
	if (r->llm)
		llm_unlink(r->llm, r);
	r->fn(r->data, name, error);
}

struct llm *
llm_new(struct loop *loop, const struct llm_options *opt)
{
	struct llm *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->loop = loop;
	l->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : 20000;
	struct http_client_options ho = {
	        .trust = opt->trust,
	        .user_agent = "Agora (LLM)",
	        .max_body = LLM_ANSWER_MAX,
	        .max_conns_per_host = 2,
	        .connect_timeout_ms = l->timeout_ms,
	};
	l->http = http_client_new(loop, &ho);
	l->url = opt->url && *opt->url ? strdup(opt->url) : NULL;
	l->model = strdup(opt->model && *opt->model ? opt->model : "llama3.2");
	if (opt->token && *opt->token) {
		int n = snprintf(l->auth, sizeof l->auth, "Bearer %s", opt->token);
		if (n < 0 || (size_t)n >= sizeof l->auth)
			l->auth[0] = 0; /* a token this long is not one; say "not configured" */
	}
	if (!l->http || !l->model || (opt->url && *opt->url && !l->url)) {
		llm_free(l);
		return NULL;
	}
	return l;
}

void
llm_free(struct llm *l)
{
	if (!l)
		return;
	/* requests in flight: http_client_free calls each back with an error */
	if (l->http)
		http_client_free(l->http);
	/* failures waiting for their deferred call: answer now; the queued
	 * defer finds them done and only frees them */
	while (l->pending) {
		struct llm_req *r = l->pending;
		llm_unlink(l, r);
		r->llm = NULL;
		llm_finish(r, NULL, "LLM error: stopped");
	}
	free(l->url);
	free(l->model);
	explicit_bzero(l->auth, sizeof l->auth);
	free(l);
}

static void
llm_on_defer(struct loop *loop, struct loop_defer *d)
{
	(void)loop;
	struct llm_req *r = d->data;
	llm_finish(r, NULL, r->error);
	free(r);
}

static void llm_fail_later(struct llm_req *r, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void
llm_fail_later(struct llm_req *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof r->error, fmt, ap);
	va_end(ap);
	loop_defer_init(&r->defer, llm_on_defer, r);
	loop_defer(r->llm->loop, &r->defer);
}

int
llm_request_body(struct buf *out, const char *model, const char *prompt)
{
	struct json_writer w;
	json_writer_init(&w, out);
	json_write_object_begin(&w);
	json_write_key_string(&w, "model", model);
	json_write_key(&w, "messages");
	json_write_array_begin(&w);
	json_write_object_begin(&w);
	json_write_key_string(&w, "role", "system");
	json_write_key_string(&w, "content",
	                      "You suggest Discord channel names. Answer only by calling the "
	                      "function " LLM_TOOL ".");
	json_write_object_end(&w);
	json_write_object_begin(&w);
	json_write_key_string(&w, "role", "user");
	json_write_key_string(&w, "content", prompt);
	json_write_object_end(&w);
	json_write_array_end(&w);
	/* the tool (OpenAI chat completions "tools": type function, JSON
	 * Schema parameters) and tool_choice naming it, so the model must call
	 * it instead of answering in prose */
	json_write_key(&w, "tools");
	json_write_array_begin(&w);
	json_write_object_begin(&w);
	json_write_key_string(&w, "type", "function");
	json_write_key(&w, "function");
	json_write_object_begin(&w);
	json_write_key_string(&w, "name", LLM_TOOL);
	json_write_key_string(&w, "description", "Record the suggested Discord channel name.");
	json_write_key(&w, "parameters");
	json_write_object_begin(&w);
	json_write_key_string(&w, "type", "object");
	json_write_key(&w, "properties");
	json_write_object_begin(&w);
	json_write_key(&w, "name");
	json_write_object_begin(&w);
	json_write_key_string(&w, "type", "string");
	json_write_key_string(&w, "description",
	                      "lowercase channel name: letters a-z, digits and hyphens, 2 to 32 "
	                      "characters, no spaces");
	json_write_object_end(&w);
	json_write_object_end(&w);
	json_write_key(&w, "required");
	json_write_array_begin(&w);
	json_write_string(&w, "name");
	json_write_array_end(&w);
	json_write_key_bool(&w, "additionalProperties", 0);
	json_write_object_end(&w);
	json_write_object_end(&w);
	json_write_object_end(&w);
	json_write_array_end(&w);
	json_write_key(&w, "tool_choice");
	json_write_object_begin(&w);
	json_write_key_string(&w, "type", "function");
	json_write_key(&w, "function");
	json_write_object_begin(&w);
	json_write_key_string(&w, "name", LLM_TOOL);
	json_write_object_end(&w);
	json_write_object_end(&w);
	json_write_key_bool(&w, "stream", 0);
	json_write_object_end(&w);
	return json_writer_finish(&w);
}

size_t
llm_channel_name(const char *text, size_t len, char *out, size_t cap)
{
	size_t n = 0, max = cap - 1 < LLM_NAME_MAX ? cap - 1 : LLM_NAME_MAX;
	for (size_t i = 0; i < len && n < max; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
			out[n++] = (char)c;
			continue;
		}
		/* separators a human would read as a word break */
		if (c == ' ' || c == '-' || c == '.' || c == '/' || c == '\t' || c == ':' ||
		    c == ',' || c == '+' || c == '&' || c == '|' || c == '\\' || c == '~') {
			if (n > 0 && out[n - 1] != '-')
				out[n++] = '-';
		}
		/* anything else (punctuation, control bytes, non-ASCII) dropped */
	}
	while (n > 0 && (out[n - 1] == '-' || out[n - 1] == '_'))
		n--;
	size_t lead = 0;
	while (lead < n && (out[lead] == '-' || out[lead] == '_'))
		lead++;
	memmove(out, out + lead, n - lead);
	n -= lead;
	out[n] = 0;
	return n;
}

static int
llm_err(char *err, size_t err_len, const char *msg)
{
	snprintf(err, err_len, "%s", msg);
	return -1;
}

/* arguments JSON text -> the "name" string; 0 or -1 with a message */
static int
llm_name_from_object_text(const char *text, size_t len, char *name, size_t cap, char *err,
                          size_t err_len, const char *what)
{
	struct json_doc doc;
	json_doc_init(&doc, LLM_ANSWER_MAX);
	const struct json_value *root = json_parse(&doc, text, len);
	int rc = -1;
	char msg[160];
	if (!root) {
		snprintf(msg, sizeof msg, "LLM error: %s: not valid JSON", what);
		llm_err(err, err_len, msg);
	} else if (json_type(root) != JSON_OBJECT) {
		snprintf(msg, sizeof msg, "LLM error: %s: not a JSON object", what);
		llm_err(err, err_len, msg);
	} else {
		const struct json_value *v = json_get(root, "name");
		size_t n;
		const char *s = v ? json_string(v, &n) : NULL;
		if (!s) {
			snprintf(msg, sizeof msg, "LLM error: %s: no string \"name\"", what);
			llm_err(err, err_len, msg);
		} else if (llm_channel_name(s, n, name, cap) == 0) {
			llm_err(err, err_len, "LLM error: the suggested name is empty");
		} else {
			rc = 0;
		}
	}
	json_doc_free(&doc);
	return rc;
}

/* A content fallback may come wrapped in a Markdown code fence. */
static void
llm_unfence(const char **s, size_t *len)
{
	const char *p = *s, *end = *s + *len;
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r' || end[-1] == '\t'))
		end--;
	if (end - p >= 6 && memcmp(p, "```", 3) == 0 && memcmp(end - 3, "```", 3) == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl && nl < end - 3) {
			p = nl + 1;
			end -= 3;
		}
	}
	*s = p;
	*len = (size_t)(end - p);
}

int
llm_parse_answer(const char *body, size_t len, char *name, size_t cap, char *err, size_t err_len)
{
	name[0] = 0;
	struct json_doc doc;
	json_doc_init(&doc, LLM_ANSWER_MAX);
	const struct json_value *root = json_parse(&doc, body, len);
	int rc = -1;
	if (!root || json_type(root) != JSON_OBJECT) {
		llm_err(err, err_len, "LLM error: the answer is not a JSON object");
		goto out;
	}
	const struct json_value *message = json_path(root, "choices[0].message");
	if (!message || json_type(message) != JSON_OBJECT) {
		const char *e = json_path_str(root, "error.message");
		if (!e)
			e = json_path_str(root, "detail");
		if (e) {
			char msg[LLM_ERROR_MAX + 1];
			snprintf(msg, sizeof msg, "LLM error: the endpoint said: %.120s", e);
			llm_err(err, err_len, msg);
		} else {
			llm_err(err, err_len, "LLM error: the answer has no choices[0].message");
		}
		goto out;
	}
	const struct json_value *calls = json_get(message, "tool_calls");
	if (calls && json_type(calls) == JSON_ARRAY && json_len(calls) > 0) {
		for (const struct json_value *c = json_first(calls); c; c = json_next(c)) {
			const char *fname = json_path_str(c, "function.name");
			if (!fname || strcmp(fname, LLM_TOOL) != 0)
				continue;
			const struct json_value *args = json_path(c, "function.arguments");
			size_t n;
			const char *s = args ? json_string(args, &n) : NULL;
			if (!s) {
				llm_err(err, err_len,
				        "LLM error: tool call arguments: not a JSON string");
				goto out;
			}
			rc = llm_name_from_object_text(s, n, name, cap, err, err_len,
			                               "tool call arguments");
			goto out;
		}
		llm_err(err, err_len, "LLM error: the answer calls no " LLM_TOOL " tool");
		goto out;
	}
	/* fallback: the model ignored tool_choice but answered in JSON */
	const struct json_value *content = json_get(message, "content");
	size_t n;
	const char *s = content ? json_string(content, &n) : NULL;
	if (s) {
		llm_unfence(&s, &n);
		if (n > 0 && s[0] == '{') {
			rc = llm_name_from_object_text(s, n, name, cap, err, err_len,
			                               "answer content");
			goto out;
		}
	}
	llm_err(err, err_len, "LLM error: the answer holds no tool call");
out:
	json_doc_free(&doc);
	if (rc < 0)
		name[0] = 0;
	return rc;
}

static void
llm_on_response(const struct http_response *res, const char *error, void *data)
{
	struct llm_req *r = data;
	struct llm *l = r->llm;
	char msg[LLM_ERROR_MAX + 1];
	char name[LLM_NAME_MAX + 1];
	if (error) {
		/* http's messages: "... timed out ...", "no complete response ...
		 * within N ms", "cannot connect to host:port", "http client closed" */
		if (strstr(error, "timed out") || strstr(error, "within"))
			snprintf(msg, sizeof msg, "LLM error: no answer within %d s",
			         l ? l->timeout_ms / 1000 : 0);
		else if (strstr(error, "client closed"))
			snprintf(msg, sizeof msg, "LLM error: stopped");
		else
			snprintf(msg, sizeof msg, "LLM error: %.150s", error);
		log_warn("llm", "request failed: %s", error);
		llm_finish(r, NULL, msg);
	} else if (res->status != 200) {
		snprintf(msg, sizeof msg, "LLM error: HTTP %d from the endpoint", res->status);
		log_warn("llm", "endpoint answered HTTP %d", res->status);
		llm_finish(r, NULL, msg);
	} else if (llm_parse_answer(res->body, res->body_len, name, sizeof name, msg, sizeof msg) <
	           0) {
		log_warn("llm", "unusable answer (%zu bytes): %s", res->body_len, msg);
		llm_finish(r, NULL, msg);
	} else {
		log_info("llm", "suggested channel name: %s", name);
		llm_finish(r, name, NULL);
	}
	free(r);
}

/* A request on l's pending list (answered by llm_free if still there), or
 * NULL after answering fn at once: no memory for even the request. */
static struct llm_req *
req_new(struct llm *l, llm_done_fn *fn, void *data)
{
	struct llm_req *r = calloc(1, sizeof *r);
	if (!r) {
		fn(data, NULL, "LLM error: out of memory");
		return NULL;
	}
	r->llm = l;
	r->fn = fn;
	r->data = data;
	r->next = l->pending;
	if (l->pending)
		l->pending->prev = r;
	l->pending = r;
	return r;
}

void
llm_suggest(struct llm *l, const char *prompt, llm_done_fn *fn, void *data)
{
	struct llm_req *r = req_new(l, fn, data);
	if (!r)
		return;
	if (!l->url || !l->auth[0]) {
		llm_fail_later(r, "LLM not configured");
		return;
	}
	struct buf body;
	buf_init(&body, LLM_ANSWER_MAX);
	if (llm_request_body(&body, l->model, prompt ? prompt : "") < 0) {
		buf_free(&body);
		llm_fail_later(r, "LLM error: cannot build the request");
		return;
	}
	struct http_header headers[] = {
	        {"Authorization", l->auth},
	        {"Content-Type", "application/json"},
	        {"Accept", "application/json"},
	};
	/* the http client calls back for a request it accepted; the request is
	 * then no longer ours to answer from llm_free's list */
	llm_unlink(l, r);
	if (http_request(l->http, "POST", l->url, headers, 3, body.data, body.len, l->timeout_ms,
	                 llm_on_response, r) < 0) {
		r->next = l->pending;
		if (l->pending)
			l->pending->prev = r;
		l->pending = r;
		llm_fail_later(r, "LLM error: %.150s", http_client_error(l->http));
	}
	buf_free(&body);
}

int
llm_render_prompt(struct buf *out, const char *prompt_template, const char *idea)
{
	size_t len = strlen(idea);
	char *safe = malloc(len + 1);
	if (!safe)
		return -1;
	for (size_t i = 0; i < len;) {
		size_t run = 0;
		while (i + run < len && idea[i + run] == '"')
			run++;
		if (run >= 3) {
			memset(safe + i, '\'', run);
			i += run;
		} else if (run > 0) {
			memcpy(safe + i, idea + i, run);
			i += run;
		} else {
			safe[i] = idea[i];
			i++;
		}
	}
	safe[len] = 0;
	struct template_var vars[] = {{"idea", safe}};
	int rc = template_render(prompt_template, vars, 1, out);
	free(safe);
	return rc;
}

void
llm_suggest_idea(struct llm *l, const char *prompt_template, const char *idea, llm_done_fn *fn,
                 void *data)
{
	struct buf prompt;
	buf_init(&prompt, 64 * 1024);
	if (!prompt_template || !idea || llm_render_prompt(&prompt, prompt_template, idea) < 0) {
		buf_free(&prompt);
		/* answered later, as every failure of this module */
		struct llm_req *r = req_new(l, fn, data);
		if (r)
			llm_fail_later(r, "LLM error: the prompt could not be rendered");
		return;
	}
	llm_suggest(l, buf_str(&prompt), fn, data);
	buf_free(&prompt);
}
