/* json — a strict RFC 8259 parser into an arena DOM, and a writer.
 *
 * Parsing. A struct json_doc owns an arena; json_parse() builds the tree of
 * the next document in it, reusing the arena's memory, so once the arena has
 * grown to fit the largest message seen, parsing allocates nothing at all.
 * Every value of the previous document dies at the next json_parse() on the
 * same doc (or at json_doc_free()): the gateway parses one event, handles it,
 * and parses the next in the same doc; copy what you keep.
 *
 *     struct json_doc doc;
 *     json_doc_init(&doc, 1 << 20);
 *     const struct json_value *root = json_parse(&doc, text, len);
 *     if (!root)
 *             log_warn("gateway", "bad event: %s", json_doc_error(&doc));
 *     const char *author = json_path_str(root, "d.author.id");    // or NULL
 *     const char *title = json_path_str(root, "d.embeds[0].title");
 *     json_doc_free(&doc);
 *
 * Strictness (RFC 8259): any value may be the top level; only space, tab,
 * CR and LF are whitespace; numbers follow the grammar of section 6 exactly
 * (no leading zeros, no "+1", no ".5", no "1.", no hex, no NaN/Infinity);
 * strings (section 7) must be valid UTF-8 (RFC 3629: no overlong forms, no
 * encoded surrogates, nothing past U+10FFFF), hold no raw control character
 * (< 0x20) and use only the escapes \" \\ \/ \b \f \n \r \t \uXXXX. A \u
 * high surrogate followed by a \u low one is the character they encode; a
 * lone surrogate escape (a low one, or a high one not followed by a low
 * one: what a JavaScript client sends after cutting a string inside a pair)
 * is not an error but decodes to U+FFFD, so one such character never drops
 * a whole gateway event. A byte order mark, trailing commas, comments and
 * anything after the value but whitespace are errors. Duplicate object
 * keys are kept (section 4 only says SHOULD be unique); lookups find the
 * first. Errors name the byte offset: "offset 17: expected ':' after the key".
 *
 * Values. Strings are decoded (escapes resolved, surrogate pairs joined into
 * UTF-8) into the arena and NUL-terminated; the length is still reported,
 * since "\u0000" puts a NUL inside a string. Numbers keep their exact text,
 * so a 64-bit ID or a long decimal never loses precision: convert with
 * json_int64()/json_uint64()/json_double() when you need a value. Every
 * accessor accepts NULL and answers "absent" (NULL, -1, 0), so lookups
 * chain without checks in between: json_get(json_get(root, "d"), "id").
 *
 * Writing. A struct json_writer appends one JSON text to a struct buf. It
 * places commas and colons itself; strings are escaped (RFC 8259 section 7)
 * and invalid UTF-8 in them comes out as U+FFFD, never raw. Any failure
 * (the buf's max reached, memory, a key outside an object, unbalanced
 * ends, a non-finite double) sets a sticky error flag, so a caller writes
 * the whole document and checks json_writer_finish() once (on failure the
 * buf holds a partial text: discard it).
 *
 *     struct json_writer w;
 *     json_writer_init(&w, &body);
 *     json_write_object_begin(&w);
 *     json_write_key(&w, "content");
 *     json_write_string(&w, text);
 *     json_write_object_end(&w);
 *     if (json_writer_finish(&w) < 0) ... // body too large or misuse
 *
 * Not here: streaming (the gateway hands us whole messages), comments,
 * JSON5, a number type other than the text (see the converters). */
#ifndef AGORA_JSON_H
#define AGORA_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Nesting deeper than this is an error, in the parser and the writer.
 * Discord's payloads nest fewer than 10 levels (a message's embeds' fields
 * are at 5); 64 leaves room for anything legitimate while keeping the
 * parser's stack of open containers (a fixed array of 64 small entries on
 * the C stack), json_write_value's recursion and the writer's comma state
 * (one bit per level in a uint64_t) bounded against "[[[[[[..." input. */
#define JSON_MAX_DEPTH 64

enum json_type {
	JSON_NONE = 0, /* what json_type(NULL) says: an absent value */
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

/* One node of the DOM, in the doc's arena; opaque, read it through the
 * accessors below. Valid until the next json_parse() on its doc. */
struct json_value;

struct json_arena_block; /* json.c */

/* A parser and the arena holding the last document parsed. Embed it; read
 * nothing inside but through the functions. */
struct json_doc {
	size_t max_input;                 /* longest text json_parse() accepts */
	struct json_arena_block *blocks;  /* every block the arena owns */
	struct json_arena_block *current; /* the block being filled */
	char *cursor;                     /* next free byte in current */
	char *limit;                      /* end of current */
	size_t error_offset;              /* byte offset of the last error */
	char error[128];                  /* "" or the last parse error */
};

/* ------------------------------------------------------------ parsing */

/* An empty doc accepting texts up to max_input bytes (the caller's bound,
 * e.g. the WebSocket message limit). Allocates nothing.
 * Memory: the arena keeps the size the largest document needed until
 * json_doc_free(). A node is 40 bytes, so hostile input like "[0,0,0,..."
 * needs about 24 arena bytes per input byte (a gateway event, under 3),
 * and blocks grow by doubling: budget up to 50 * max_input. */
void json_doc_init(struct json_doc *doc, size_t max_input);
/* Frees the arena; every value of the doc dies. The doc may be reused
 * (it is empty, as after json_doc_init with the same limit). */
void json_doc_free(struct json_doc *doc);
/* Parses text[0..len) (no NUL needed; the caller keeps text, nothing
 * points into it afterwards). Returns the root value, owned by doc, or NULL
 * with json_doc_error() set: invalid JSON, too deep, too large, or out of
 * memory. Values of the doc's previous document die here. */
const struct json_value *json_parse(struct json_doc *doc, const char *text, size_t len);
/* "offset N: what went wrong" after a failed json_parse; "" otherwise. */
const char *json_doc_error(const struct json_doc *doc);
/* The byte offset in the text where the last json_parse failed. */
size_t json_doc_error_offset(const struct json_doc *doc);

/* ------------------------------------------------------------ values */

/* The type of v; JSON_NONE for NULL. */
enum json_type json_type(const struct json_value *v);
/* 1 if v is JSON null (not: absent), else 0. */
int json_is_null(const struct json_value *v);
/* 1 for true, 0 for false, -1 when v is not a boolean. */
int json_bool(const struct json_value *v);
/* The decoded string, NUL-terminated, in the arena; *len (if len is not
 * NULL) gets its length in bytes. NULL when v is not a string. */
const char *json_string(const struct json_value *v, size_t *len);
/* The number's text exactly as written ("-1.5e3"); NULL if not a number. */
const char *json_number_text(const struct json_value *v, size_t *len);
/* The number as an int64_t: 0, or -1 when v is not a number, has a
 * fraction or exponent, or does not fit (*out untouched then). */
int json_int64(const struct json_value *v, int64_t *out);
/* The same for uint64_t (negative numbers fail). */
int json_uint64(const struct json_value *v, uint64_t *out);
/* An ID as Discord sends it: a string of decimal digits (a snowflake) or
 * an integral number, as a uint64_t. 0, or -1 when v is neither or the
 * value does not fit. */
int json_id(const struct json_value *v, uint64_t *out);
/* The number as the nearest double: 0, or -1 when v is not a number or it
 * overflows to infinity. */
int json_double(const struct json_value *v, double *out);

/* ------------------------------------------------------------ containers */

/* Elements of an array, members of an object; 0 for anything else. */
size_t json_len(const struct json_value *v);
/* The first element/member of an array/object; NULL when empty or not a
 * container. Iterate:
 *     for (const struct json_value *m = json_first(obj); m; m = json_next(m))
 *             ... json_key(m, NULL) ... m is the member's value ...          */
const struct json_value *json_first(const struct json_value *v);
/* The element/member after v in its container; NULL at the end. */
const struct json_value *json_next(const struct json_value *v);
/* A member's key (decoded, NUL-terminated; *len gets its length); NULL
 * when v is not an object member. */
const char *json_key(const struct json_value *v, size_t *len);
/* The index-th element of an array (from 0); NULL if absent. Linear. */
const struct json_value *json_at(const struct json_value *v, size_t index);
/* The value of the first member named key of object v; NULL if absent. */
const struct json_value *json_get(const struct json_value *v, const char *key);
/* The same with a key of key_len bytes (may hold NUL). */
const struct json_value *json_getn(const struct json_value *v, const char *key, size_t key_len);

/* Path access: members by name separated by '.', array elements by [N]:
 * "d.author.id", "d.embeds[0].title", "[2]", "" (v itself). NULL when any
 * step is absent or of the wrong type, or the path is malformed. Keys with
 * '.' or '[' in them need json_get(). */
const struct json_value *json_path(const struct json_value *v, const char *path);
/* The string at path (NUL-terminated, in the arena), or NULL if absent or
 * not a string. */
const char *json_path_str(const struct json_value *v, const char *path);
/* The integer at path: 0, or -1 (absent, not an integral number, range). */
int json_path_int64(const struct json_value *v, const char *path, int64_t *out);
/* The ID (snowflake string or integral number) at path: 0 or -1. */
int json_path_id(const struct json_value *v, const char *path, uint64_t *out);

/* 1 when a and b are the same tree: same types, same decoded strings and
 * keys (in the same order), same number text ("1.0" is not "1"). */
int json_equal(const struct json_value *a, const struct json_value *b);

/* ------------------------------------------------------------ writing */

struct json_writer {
	struct buf *out;    /* borrowed: the text is appended here */
	int error;          /* sticky: nonzero after any failure */
	int depth;          /* open arrays/objects */
	int after_key;      /* a key was written, its value is next */
	int has_root;       /* the top-level value has begun */
	uint64_t in_object; /* bit d-1: open level d is an object (else array) */
	uint64_t has_items; /* bit d-1: open level d holds an item already */
};

/* A writer appending to out (the caller keeps out and its contents). */
void json_writer_init(struct json_writer *w, struct buf *out);
/* 0 when everything was written and every array/object closed, else -1. */
int json_writer_finish(const struct json_writer *w);

void json_write_object_begin(struct json_writer *w);
void json_write_object_end(struct json_writer *w);
void json_write_array_begin(struct json_writer *w);
void json_write_array_end(struct json_writer *w);
/* A member name; inside an object, before each value. */
void json_write_key(struct json_writer *w, const char *key);
void json_write_keyn(struct json_writer *w, const char *key, size_t len);
/* A string value, escaped; invalid UTF-8 becomes U+FFFD. */
void json_write_string(struct json_writer *w, const char *s);
void json_write_stringn(struct json_writer *w, const char *s, size_t len);
void json_write_int64(struct json_writer *w, int64_t n);
/* An ID the way Discord sends and expects them: "412345678901234567", a
 * string of decimal digits (JSON numbers lose precision in JavaScript). */
void json_write_id(struct json_writer *w, uint64_t id);
void json_write_uint64(struct json_writer *w, uint64_t n);
/* The shortest text that reads back as the same double; a NaN or an
 * infinity (JSON has none) sets the error flag. */
void json_write_double(struct json_writer *w, double d);
void json_write_bool(struct json_writer *w, int b);
void json_write_null(struct json_writer *w);
/* len bytes of JSON the caller vouches for, written as one value. */
void json_write_raw(struct json_writer *w, const char *json, size_t len);
/* A parsed value (and everything under it), e.g. to forward a subtree. */
void json_write_value(struct json_writer *w, const struct json_value *v);

/* Shorthands for a key followed by its value. */
void json_write_key_string(struct json_writer *w, const char *key, const char *s);
void json_write_key_int64(struct json_writer *w, const char *key, int64_t n);
void json_write_key_bool(struct json_writer *w, const char *key, int b);

#endif
