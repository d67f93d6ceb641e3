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
 * Scanning. json_scan_* find members of an object and hand back their raw
 * text, building nothing, for the hot path (see "scanning" below).
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

/* ------------------------------------------------------------ scanning
 *
 * Reading a few members of an object without building a DOM: the hot path
 * (a MESSAGE_CREATE wants 4 of its ~30 members and none of its 1.5 KB of
 * strings decoded). Nothing is allocated and nothing is copied: a member's
 * value comes back as a span of the caller's text, which the json_span_*
 * readers below convert, or which is scanned again for a nested member.
 *
 *     struct json_scan_field f[] = {{"id", 2}, {"author", 6}};
 *     if (json_scan_fields(text, len, f, 2, 0) < 0) ... // not an object
 *     uint64_t id;
 *     json_span_id(f[0].value, &id);   // -1 if absent or not an ID
 *
 * Strictness: the structure is checked as json_parse checks it (brackets,
 * commas, colons, string keys, no trailing comma, nothing after the top
 * value but whitespace, nesting at most JSON_MAX_DEPTH counting the
 * scanned object as one), and every scalar skipped is checked for its
 * grammar: literals, numbers (RFC 8259 section 6), strings (terminated, no
 * raw control character, only the escapes of section 7, \u with four hex
 * digits). Not checked in skipped strings: UTF-8 validity, so a text
 * json_parse refuses for a bad byte inside a string may scan. Everything
 * json_parse accepts scans, to the same members (the first of duplicate
 * keys wins, keys compared decoded, as json_get does) with spans that
 * json_parse reads as the values json_get returns (tests/fuzz/
 * fuzz_jsonscan.c checks exactly that). Any input: no read outside
 * text[0..len), no crash; bad input is -1. */

/* A value's raw text inside the scanned text (no whitespace around);
 * p == NULL when absent. Borrowed: valid as long as the text. */
struct json_span {
	const char *p;
	size_t len;
};

/* An iterator over the members of one object, the whole text. */
struct json_scan {
	const unsigned char *start, *p, *end;
	int state;         /* json.c */
	const char *error; /* NULL, or what was wrong (a static string) */
	size_t error_offset;
};

/* Starts on text[0..len), which must be one object (whitespace around
 * allowed). 0, or -1 when it does not start with '{' (error set). */
int json_scan_begin(struct json_scan *s, const char *text, size_t len);
/* The next member: 1 with *key (the raw text between its quotes, escapes
 * not decoded: compare with json_span_key_is) and *value; 0 after the last
 * one (the object closed, only whitespace after it); -1 on malformed text
 * (s->error, s->error_offset), and -1 again on every later call. */
int json_scan_next(struct json_scan *s, struct json_span *key, struct json_span *value);
/* 1 when the raw key (as json_scan_next gives it) decodes to name[0..
 * name_len), else 0. */
int json_span_key_is(struct json_span key, const char *name, size_t name_len);

/* One member wanted from an object: key and key_len in, value out. */
struct json_scan_field {
	const char *key;
	size_t key_len;
	struct json_span value; /* the first member named key; p NULL if none */
};
/* Stop once every field is found: the rest of the object is not read, so
 * not checked either; for a span the scanner already read whole (a member
 * value from a full scan). */
#define JSON_SCAN_STOP_EARLY 1
/* Finds the fields in the object text[0..len) (json_scan_begin's rules):
 * each gets the first member named its key, or p NULL. 0, or -1 when the
 * text is not a well-formed object (fields found so far are set). */
int json_scan_fields(const char *text, size_t len, struct json_scan_field *fields, size_t n,
                     int flags);
/* One value wanted by its path from the object: members by name separated
 * by '.', as json_path ("d.author.bot"; no [N], no '.' inside a key). */
struct json_scan_path {
	const char *path;       /* NUL-terminated */
	struct json_span value; /* what json_path finds; p NULL if nothing */
};
/* At most this many paths per call, each of at most this many members. */
#define JSON_SCAN_PATHS_MAX  16
#define JSON_SCAN_PATH_DEPTH 8
/* Finds every path in the object text[0..len) in one pass: the members on
 * a path are descended into as they come, everything else skipped, the
 * whole text checked (json_scan_begin's rules). Each path gets what
 * json_path would find (the first of duplicate keys at every step; p NULL
 * when a step is absent or not an object). 0, or -1 (malformed, not an
 * object, more than JSON_SCAN_PATHS_MAX paths). */
int json_scan_paths(const char *text, size_t len, struct json_scan_path *paths, size_t n);
/* Skips whitespace and one value at text[*pos..len): 0 with *pos just
 * after it, or -1 (malformed, too deep: more than JSON_MAX_DEPTH open). */
int json_scan_skip(const char *text, size_t len, size_t *pos);

/* Readers of a span, with json_*'s rules; any span is safe to pass (they
 * check it is exactly one value of the type, no more), and absent spans
 * answer "absent". */
/* The type by the first byte; JSON_NONE when absent or no value starts so. */
enum json_type json_span_type(struct json_span v);
/* 1 for true, 0 for false, -1 otherwise (json_bool). */
int json_span_bool(struct json_span v);
/* An integral number as an int64_t: 0, or -1 (json_int64). */
int json_span_int64(struct json_span v, int64_t *out);
/* An ID, snowflake string or integral number: 0, or -1 (json_id). */
int json_span_id(struct json_span v, uint64_t *out);
/* A string decoded as json_parse decodes it (escapes, pairs joined, a lone
 * surrogate as U+FFFD; invalid UTF-8 refused) into out[0..cap), NUL-
 * terminated; *len (if not NULL) gets its length. 0, or -1 when v is not a
 * valid string or it does not fit (cap bytes including the NUL). */
int json_span_string(struct json_span v, char *out, size_t cap, size_t *len);

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
