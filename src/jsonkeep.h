/* jsonkeep — a streaming JSON pruner: reads one JSON text in chunks of any
 * size and writes out only the members a keep spec names.
 *
 * Why: the largest gateway payload, GUILD_CREATE, runs to a MiB and more
 * (every member, role, emoji, channel topic...), while the bot keeps a few
 * fields of each channel. Parsing it whole into a DOM costs several times
 * its size; pruning it as it is inflated costs a small fixed state, and the
 * DOM is built from the pruned text only (gateway.c, zstream.h's sink).
 *
 * The keep spec is a tree: a list of member names, each with either a
 * sub-spec (the members to keep of that value when it is an object; when it
 * is an array, the sub-spec applies to each element, arrays in arrays
 * included) or none (the whole value is kept). A scalar is kept whole
 * wherever its member is kept. Keys match on their decoded text ("\u0069d"
 * is "id").
 *
 * The root spec is chosen per document by its top-level "t" member (the
 * gateway's event name): the first top-level member named "t" whose value
 * is a string equal to a rule's t selects that rule's spec for the root's
 * members that follow it. Members before "t", members of a document whose
 * "t" matches no rule, and documents whose root is not an object are kept
 * whole. (Discord and the emulator send "t" before "d"; if "d" came first
 * it is kept whole, exactly as without pruning.)
 *
 * The output is valid JSON (commas placed for what is kept, insignificant
 * whitespace dropped, strings and numbers copied as written), and the input
 * is validated exactly as json.h's parser does (RFC 8259, UTF-8, escapes,
 * lone surrogates allowed, at most JSON_MAX_DEPTH levels): any text
 * json_parse accepts is accepted here, any text it refuses is refused, and
 * the output parses to the DOM pruned by the same rules. Never crashes on
 * any input; memory is the output buffer (bounded) and a fixed stack. */
#ifndef AGORA_JSONKEEP_H
#define AGORA_JSONKEEP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"

/* Keys and "t" values longer than this (decoded) match no spec. */
#define JSONKEEP_KEY_MAX 64

struct jsonkeep_spec {
	const char *key;                 /* plain text (no '"', '\\', control); NULL ends a list */
	const struct jsonkeep_spec *sub; /* NULL: keep the whole value */
};

struct jsonkeep_rule {
	const char *t;                    /* the event name; NULL ends the list */
	const struct jsonkeep_spec *root; /* the root members to keep after "t" */
};

struct jsonkeep_frame {
	const struct jsonkeep_spec *spec; /* members/elements to keep; NULL: all */
	size_t mark;                      /* output length before the current member */
	uint32_t count;                   /* items written to the output */
	uint8_t is_object, emit, root;    /* root: the top-level object */
};

struct jsonkeep {
	const struct jsonkeep_rule *rules;
	struct buf out;
	int state, sub;   /* lexer state and its sub-state */
	int failed, done; /* done: the root value is complete */
	size_t offset;    /* input bytes taken, for errors */
	int depth;        /* open containers */
	struct jsonkeep_frame stack[JSON_MAX_DEPTH];
	/* the value being read */
	uint8_t emit;                     /* it goes to the output */
	const struct jsonkeep_spec *spec; /* its spec, when it is a container */
	uint8_t is_key;                   /* the string being read is a key */
	uint8_t capture;                  /* decode the string into dec[] */
	uint8_t t_member;                 /* the value is the root's first "t" */
	uint8_t t_seen;                   /* the root's first "t" was met */
	const struct jsonkeep_spec *rule; /* the root spec chosen by "t" */
	const char *literal;              /* "true", "false" or "null" */
	int literal_at;
	/* string scanning: UTF-8 continuation bytes left and the next's range */
	int utf8_need;
	uint8_t utf8_lo, utf8_hi;
	uint32_t hex;        /* a \u escape's value so far */
	uint32_t pending_hi; /* a decoded high surrogate waiting for its low */
	char dec[JSONKEEP_KEY_MAX];
	size_t dec_len;
	int dec_over;
	char error[128];
};

/* A pruner for rules (a list ended by {NULL}; NULL: no rule, keep all)
 * writing at most max_out bytes. Allocates nothing. */
void jsonkeep_init(struct jsonkeep *k, const struct jsonkeep_rule *rules, size_t max_out);
/* Frees the output buffer; k may be reused after jsonkeep_reset. */
void jsonkeep_free(struct jsonkeep *k);
/* Starts a new document (the output buffer is kept, emptied). */
void jsonkeep_reset(struct jsonkeep *k);
/* Takes the next chunk of the document: 0, or -1 (invalid JSON, too deep,
 * output over the limit, no memory) with jsonkeep_error set; after an error
 * every feed fails until jsonkeep_reset. */
int jsonkeep_feed(struct jsonkeep *k, const void *data, size_t len);
/* The document ended: 0 when it was complete, else -1 with the error. */
int jsonkeep_finish(struct jsonkeep *k);
/* The pruned text (NUL-terminated), after a successful finish; borrowed. */
const char *jsonkeep_output(const struct jsonkeep *k, size_t *len);
/* "offset N: why" after a failure; "" when none. */
const char *jsonkeep_error(const struct jsonkeep *k);

/* The reference the streaming pruner must agree with (tests, fuzzing):
 * writes v pruned by rules (same selection by "t") to w. */
void jsonkeep_prune_dom(struct json_writer *w, const struct json_value *v,
                        const struct jsonkeep_rule *rules);

#endif
