/* json — see json.h. RFC 8259 for the grammar, RFC 3629 for UTF-8. */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ================================================================ arena */

/* A block of arena memory; its bytes follow the header. */
struct json_arena_block {
	struct json_arena_block *next;
	size_t size; /* usable bytes after the header */
};

/* The first block is at least this large: a typical gateway event (1-2 KB
 * of text) needs 4-6 KB of nodes and strings, so one block usually holds a
 * whole document. */
#define ARENA_MIN_BLOCK 8192
/* an arena past this is given back after a much smaller text (arena_reset) */
#define JSON_ARENA_KEEP (2 * 1024 * 1024)

/* Everything in the arena is kept 8-byte aligned, for the nodes. */
#define ARENA_ALIGN(n) (((n) + 7) & ~(size_t)7)

static char *
block_data(struct json_arena_block *b)
{
	return (char *)(b + 1);
}

static void
arena_use(struct json_doc *doc, struct json_arena_block *b)
{
	doc->current = b;
	doc->cursor = b ? block_data(b) : NULL;
	doc->limit = b ? block_data(b) + b->size : NULL;
}

static size_t
arena_capacity(const struct json_doc *doc)
{
	size_t total = 0;
	for (const struct json_arena_block *b = doc->blocks; b; b = b->next)
		total += b->size;
	return total;
}

/* Makes room for need bytes: moves to the next kept block if it is large
 * enough, else allocates a new one after the current block, twice the
 * arena's size so far, so a large document costs few allocations. */
static int
arena_grow(struct json_doc *doc, size_t need)
{
	struct json_arena_block *next = doc->current ? doc->current->next : doc->blocks;
	if (next && next->size >= need) {
		arena_use(doc, next);
		return 0;
	}
	size_t cap = arena_capacity(doc);
	/* doubling, checked: past SIZE_MAX / 2 only the request itself */
	size_t size = cap <= SIZE_MAX / 2 ? cap * 2 : need;
	if (size < ARENA_MIN_BLOCK)
		size = ARENA_MIN_BLOCK;
	if (size < need)
		size = need;
	if (size > SIZE_MAX - sizeof(struct json_arena_block))
		return -1;
	struct json_arena_block *b = mem_alloc(sizeof *b + size);
	if (!b)
		return -1;
	b->size = size;
	if (doc->current) {
		b->next = doc->current->next;
		doc->current->next = b;
	} else {
		b->next = doc->blocks;
		doc->blocks = b;
	}
	arena_use(doc, b);
	return 0;
}

static inline void *
arena_alloc(struct json_doc *doc, size_t size)
{
	if (size > SIZE_MAX - 7)
		return NULL; /* ARENA_ALIGN would wrap to a tiny size */
	size = ARENA_ALIGN(size);
	if (!doc->cursor || (size_t)(doc->limit - doc->cursor) < size) {
		if (arena_grow(doc, size) < 0)
			return NULL;
	}
	void *p = doc->cursor;
	doc->cursor += size;
	return p;
}

/* Forgets the previous document. When it needed more than one block, the
 * blocks are merged into one of their total size, so that a document of
 * the same size fits in one block and parses without allocating; if that
 * allocation fails the old blocks are simply reused. */
static void
arena_reset(struct json_doc *doc, size_t len)
{
	/* a text far smaller than the arena a big one left behind (a
	 * GUILD_CREATE of a MiB) gives that memory back: the arena grows
	 * again from this text's size, and small documents never get here */
	size_t cap = arena_capacity(doc);
	if (cap > JSON_ARENA_KEEP && len < cap / 16) {
		json_doc_free(doc);
		return;
	}
	if (doc->blocks && doc->blocks->next) {
		size_t total = arena_capacity(doc);
		struct json_arena_block *b = NULL;
		if (total <= SIZE_MAX - sizeof *b)
			b = mem_alloc(sizeof *b + total);
		if (b) {
			struct json_arena_block *old = doc->blocks;
			while (old) {
				struct json_arena_block *next = old->next;
				mem_free(old);
				old = next;
			}
			b->next = NULL;
			b->size = total;
			doc->blocks = b;
		}
	}
	arena_use(doc, doc->blocks);
}

/* ================================================================ DOM */

struct json_value {
	union {
		const char *text;               /* string or number text */
		const struct json_value *first; /* first child of a container */
	} u;
	const struct json_value *next; /* next sibling in the container */
	const char *key;               /* member name, when in an object */
	uint32_t len;                  /* text bytes, or number of children */
	uint32_t key_len;
	unsigned char type; /* enum json_type */
};

void
json_doc_init(struct json_doc *doc, size_t max_input)
{
	memset(doc, 0, sizeof *doc);
	/* lengths are kept in 32 bits in the nodes */
	doc->max_input = max_input < UINT32_MAX ? max_input : UINT32_MAX - 1;
}

void
json_doc_free(struct json_doc *doc)
{
	struct json_arena_block *b = doc->blocks;
	while (b) {
		struct json_arena_block *next = b->next;
		mem_free(b);
		b = next;
	}
	doc->blocks = NULL;
	arena_use(doc, NULL);
	doc->error[0] = '\0';
	doc->error_offset = 0;
}

const char *
json_doc_error(const struct json_doc *doc)
{
	return doc->error;
}

size_t
json_doc_error_offset(const struct json_doc *doc)
{
	return doc->error_offset;
}

/* ================================================================ UTF-8 */

/* Length (1-4) of the valid UTF-8 sequence at s[0..n), or 0 if invalid.
 * RFC 3629 section 4: no overlong forms (C0, C1, E0 80-9F, F0 80-8F), no
 * surrogates (ED A0-BF), nothing above U+10FFFF (F4 90+, F5-FF). */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0)
		return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c < 0xF0) {
		unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
		if (n < 3 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80)
			return 0;
		return 3;
	}
	if (c < 0xF5) {
		unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
		if (n < 4 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80 ||
		    (s[3] & 0xC0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

/* U+FFFD REPLACEMENT CHARACTER: what a lone surrogate escape decodes to. */
#define UTF8_REPLACEMENT 0xFFFDu

static size_t
utf8_put(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* ================================================================ parser */

struct parser {
	struct json_doc *doc;
	const unsigned char *start; /* the text, for error offsets */
	const unsigned char *p;     /* next byte to read */
	const unsigned char *end;
};

static void *
fail(struct parser *ps, const unsigned char *at, const char *what)
{
	struct json_doc *doc = ps->doc;
	doc->error_offset = (size_t)(at - ps->start);
	snprintf(doc->error, sizeof doc->error, "offset %zu: %s", doc->error_offset, what);
	return NULL;
}

/* RFC 8259 section 2: whitespace is space, tab, LF and CR only. */
static inline const unsigned char *
skip_ws(const unsigned char *p, const unsigned char *end)
{
	if (p < end && ' ' < *p)
		return p; /* the usual case: no whitespace at all */
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

static inline struct json_value *
new_node(struct parser *ps, enum json_type type)
{
	struct json_value *v = arena_alloc(ps->doc, sizeof *v);
	if (!v)
		return fail(ps, ps->p, "out of memory");
	v->u.first = NULL;
	v->next = NULL;
	v->key = NULL;
	v->len = 0;
	v->key_len = 0;
	v->type = (unsigned char)type;
	return v;
}

/* Copies a number's n bytes of text into the arena, where ARENA_ALIGN(n +
 * 1) bytes are reserved: 8 at a time, over-reading the text and over-
 * writing the reservation, both within bounds. Not the libc memcpy: musl's
 * (rep movsq) costs tens of cycles to start, for a few digits. */
static void
copy_text(char *dst, const unsigned char *src, size_t n, const unsigned char *src_end)
{
	if ((size_t)(src_end - src) < ARENA_ALIGN(n + 1)) {
		memcpy(dst, src, n); /* only at the very end of the text */
		return;
	}
	for (size_t i = 0; i < n; i += 8) {
		uint64_t x;
		memcpy(&x, src + i, 8);
		memcpy(dst + i, &x, 8);
	}
}

/* ---- scanning strings
 * Most of an event's bytes are in strings, so they are scanned a block at
 * a time: SCAN_WIDTH bytes are loaded, copied to the arena unconditionally
 * and tested together for the bytes that need a closer look: '"', '\\',
 * controls (< 0x20) and non-ASCII (>= 0x80, for UTF-8 validation). */
#if defined(__SSE2__)
#define SCAN_WIDTH 16

/* Index of the first byte of p[0..16) needing a look; 16 if none. */
static inline unsigned
first_special(const unsigned char *p)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i quote = _mm_cmpeq_epi8(x, _mm_set1_epi8('"'));
	__m128i backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'));
	/* a signed compare: 0x80-0xFF are negative, so below 0x20 as well */
	__m128i low = _mm_cmplt_epi8(x, _mm_set1_epi8(0x20));
	unsigned mask =
	        (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), low));
	return mask ? (unsigned)__builtin_ctz(mask) : 16;
}

static inline void
copy_block(char *dst, const unsigned char *src)
{
	_mm_storeu_si128((__m128i *)(void *)dst,
	                 _mm_loadu_si128((const __m128i *)(const void *)src));
}
#else
#define SCAN_WIDTH 8

/* The same 8 bytes at a time (SWAR). The classic "has zero byte" test
 * (y - 0x01..) & ~y & 0x80.. finds quotes and backslashes (y = x with them
 * turned into zero bytes); x - 0x20.. sets a high bit where a byte is below
 * 0x20; x's own high bits are the non-ASCII bytes. A borrow only runs
 * upwards from a byte that did match, so the lowest flagged byte is exact. */
static inline unsigned
first_special(const unsigned char *p)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t x;
	memcpy(&x, p, 8);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	uint64_t quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');
	uint64_t match = (((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) |
	                  (x - ones * 0x20) | x) &
	                 highs;
	return match ? (unsigned)__builtin_ctzll(match) / 8 : 8;
}

static inline void
copy_block(char *dst, const unsigned char *src)
{
	memcpy(dst, src, 8);
}
#endif

static int
hex4(const unsigned char *s, uint32_t *out)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned c = s[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

/* Decodes the escape at *at (a backslash) into out (room for 4 bytes):
 * the bytes written, *at moved past it; or -1 with *why (when why is not
 * NULL) saying what is wrong. RFC 8259 section 7: the two-character
 * escapes, and \uXXXX, where characters outside the BMP are a UTF-16
 * surrogate pair. The parser and the scanner both use it. */
static inline int
escape_decode(const unsigned char **at, const unsigned char *end, char *out, const char **why)
{
	const unsigned char *bs = *at;
	uint32_t cp, low;
	if (end - bs < 2) {
		if (why)
			*why = "unterminated string";
		return -1;
	}
	*at = bs + 2;
	switch (bs[1]) {
	case '"':
	case '\\':
	case '/':
		*out = (char)bs[1];
		return 1;
	case 'b':
		*out = '\b';
		return 1;
	case 'f':
		*out = '\f';
		return 1;
	case 'n':
		*out = '\n';
		return 1;
	case 'r':
		*out = '\r';
		return 1;
	case 't':
		*out = '\t';
		return 1;
	case 'u':
		break;
	default:
		if (why)
			*why = "invalid escape in string";
		return -1;
	}
	if (end - bs < 6 || hex4(bs + 2, &cp) < 0) {
		if (why)
			*why = "\\u must be followed by four hex digits";
		return -1;
	}
	*at = bs + 6;
	/* A lone surrogate (a low one, or a high one not followed by a low
	 * one) is well-formed JSON but no character: JavaScript clients send
	 * it when they cut a string inside a pair. Refusing it would drop the
	 * whole gateway event (a message not counted, a command not answered),
	 * so it becomes U+FFFD, as WHATWG's decoders and Python's
	 * errors="replace" do. The escape after a lone high one is decoded on
	 * its own (it may be a character, or another lone surrogate). */
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		cp = UTF8_REPLACEMENT;
	else if (cp >= 0xD800 && cp <= 0xDBFF) {
		const unsigned char *s = bs + 6;
		if (end - s >= 6 && s[0] == '\\' && s[1] == 'u' && hex4(s + 2, &low) == 0 &&
		    low >= 0xDC00 && low <= 0xDFFF) {
			cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
			*at = bs + 12;
		} else {
			cp = UTF8_REPLACEMENT;
		}
	}
	return (int)utf8_put(out, cp);
}

/* escape_decode for the parser: a failure is the document's error, at the
 * escape (an unterminated string at the string's start). */
static int
decode_escape(struct parser *ps, const unsigned char **at, const unsigned char *end, char *out)
{
	const unsigned char *bs = *at;
	const char *why = NULL;
	int n = escape_decode(at, end, out, &why);
	if (n < 0)
		fail(ps, end - bs < 2 ? ps->p : bs, why);
	return n;
}

/* The string at ps->p (its opening quote) when the current arena block is
 * too full for parse_string: find the closing quote first, then reserve
 * its raw length (decoding never lengthens: "\u00e9" is 6 bytes for 2). */
static int
parse_string_reserved(struct parser *ps, const char **out, uint32_t *out_len)
{
	const unsigned char *start = ps->p + 1, *q = start, *end = ps->end;
	for (;;) {
		while (end - q >= SCAN_WIDTH) {
			unsigned i = first_special(q);
			q += i;
			if (i < SCAN_WIDTH)
				break;
		}
		if (q >= end) {
			fail(ps, ps->p, "unterminated string");
			return -1;
		}
		if (*q == '"')
			break;
		q += *q == '\\' ? 2 : 1; /* the rest is checked while decoding */
	}
	char *dst = arena_alloc(ps->doc, (size_t)(q - start) + 1);
	if (!dst) {
		fail(ps, ps->p, "out of memory");
		return -1;
	}
	size_t k = 0;
	const unsigned char *s = start;
	while (s < q) {
		unsigned c = *s;
		if (c == '\\') {
			int n = decode_escape(ps, &s, q, dst + k);
			if (n < 0)
				return -1;
			k += (size_t)n;
			continue;
		}
		size_t n = 1;
		if (c < 0x20) {
			fail(ps, s, "control character in string (must be escaped)");
			return -1;
		}
		if (c >= 0x80 && !(n = utf8_len(s, (size_t)(q - s)))) {
			fail(ps, s, "invalid UTF-8 in string");
			return -1;
		}
		while (n--)
			dst[k++] = (char)*s++;
	}
	dst[k] = '\0';
	*out = dst;
	*out_len = (uint32_t)k;
	ps->p = q + 1;
	return 0;
}

/* Parses the string at ps->p (its opening quote), decoding it straight
 * into the free part of the current arena block in one pass: validating
 * UTF-8, rejecting raw controls, resolving escapes. When the block is too
 * full to be sure the string fits, parse_string_reserved starts over. */
#if defined(__GNUC__)
/* inlined into the parse loop's two calls: 9% fewer instructions per
 * gateway event (callgrind), the call's register saves being most of it */
__attribute__((always_inline))
#endif
static inline int
parse_string(struct parser *ps, const char **out, uint32_t *out_len)
{
	struct json_doc *doc = ps->doc;
	const unsigned char *q = ps->p + 1, *end = ps->end;
	char *d = doc->cursor;
	size_t room = d ? (size_t)(doc->limit - d) : 0;
	size_t k = 0; /* bytes decoded; always k < room */
	for (;;) {
		unsigned c;
		if (end - q >= SCAN_WIDTH && room - k > SCAN_WIDTH) {
			copy_block(d + k, q);
			unsigned i = first_special(q);
			q += i;
			k += i;
			if (i == SCAN_WIDTH)
				continue;
			c = *q;
		} else {
			if (q >= end) {
				fail(ps, ps->p, "unterminated string");
				return -1;
			}
			if (room - k < 8) /* an escape or a UTF-8 sequence + NUL */
				return parse_string_reserved(ps, out, out_len);
			c = *q;
			if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
				d[k++] = (char)c;
				q++;
				continue;
			}
		}
		if (c == '"')
			break;
		if (room - k < 8)
			return parse_string_reserved(ps, out, out_len);
		if (c == '\\') {
			int n = decode_escape(ps, &q, end, d + k);
			if (n < 0)
				return -1;
			k += (size_t)n;
		} else if (c < 0x20) {
			fail(ps, q, "control character in string (must be escaped)");
			return -1;
		} else {
			size_t n = utf8_len(q, (size_t)(end - q));
			if (!n) {
				fail(ps, q, "invalid UTF-8 in string");
				return -1;
			}
			while (n--)
				d[k++] = (char)*q++;
		}
	}
	d[k] = '\0';
	/* the block's free size is a multiple of 8, so this stays inside */
	doc->cursor = d + ARENA_ALIGN(k + 1);
	*out = d;
	*out_len = (uint32_t)k;
	ps->p = q + 1;
	return 0;
}

static int
is_digit(unsigned c)
{
	return c - '0' < 10;
}

/* RFC 8259 section 6: -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
 * The text is kept as written; converters read it on demand. */
static struct json_value *
parse_number(struct parser *ps)
{
	const unsigned char *q = ps->p, *end = ps->end;
	if (*q == '-')
		q++;
	if (q == end || !is_digit(*q))
		return fail(ps, q, "expected a digit");
	if (*q == '0') {
		q++;
		if (q < end && is_digit(*q))
			return fail(ps, q, "leading zeros are not allowed");
	} else {
		while (q < end && is_digit(*q))
			q++;
	}
	if (q < end && *q == '.') {
		q++;
		if (q == end || !is_digit(*q))
			return fail(ps, q, "expected a digit after the decimal point");
		while (q < end && is_digit(*q))
			q++;
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < end && (*q == '+' || *q == '-'))
			q++;
		if (q == end || !is_digit(*q))
			return fail(ps, q, "expected a digit in the exponent");
		while (q < end && is_digit(*q))
			q++;
	}
	struct json_value *v = new_node(ps, JSON_NUMBER);
	size_t len = (size_t)(q - ps->p);
	char *text = v ? arena_alloc(ps->doc, len + 1) : NULL;
	if (!text)
		return fail(ps, ps->p, "out of memory");
	copy_text(text, ps->p, len, end);
	text[len] = '\0';
	v->u.text = text;
	v->len = (uint32_t)len;
	ps->p = q;
	return v;
}

#define STRINGIFY(x) #x
#define TEXT_OF(x)   STRINGIFY(x)
#define DEPTH_TEXT   TEXT_OF(JSON_MAX_DEPTH)

/* true, false or null at ps->p. */
static struct json_value *
parse_literal(struct parser *ps)
{
	const unsigned char *p = ps->p;
	size_t left = (size_t)(ps->end - p), n;
	struct json_value *v;
	if (left >= 4 && memcmp(p, "true", 4) == 0) {
		v = new_node(ps, JSON_BOOL);
		n = 4;
		if (v)
			v->len = 1; /* booleans keep their value in len */
	} else if (left >= 5 && memcmp(p, "false", 5) == 0) {
		v = new_node(ps, JSON_BOOL);
		n = 5;
	} else if (left >= 4 && memcmp(p, "null", 4) == 0) {
		v = new_node(ps, JSON_NULL);
		n = 4;
	} else {
		return fail(ps, p, "expected a value");
	}
	if (v)
		ps->p = p + n;
	return v;
}

/* What the parse loop expects next. */
enum step {
	STEP_VALUE, /* a value (at the top, after '[', ',' or ':') */
	STEP_KEY,   /* a member's "key": (after '{' or ',' in an object) */
	STEP_AFTER, /* ',' or the close of the container (after a value) */
};

/* An array or object still open, and where its next child links in. */
struct open_container {
	struct json_value *node;
	const struct json_value **tail;
	unsigned char is_object;
	unsigned char close; /* '}' or ']' */
};

/* The whole grammar of RFC 8259 sections 2-5, as a loop over an explicit
 * stack of open containers rather than recursion: the depth limit then
 * bounds the stack exactly, and one loop keeps the position and the
 * current container in registers. Scalars go to parse_string,
 * parse_number and parse_literal. Returns the root value or NULL. */
static struct json_value *
parse_text(struct parser *ps)
{
	struct open_container stack[JSON_MAX_DEPTH];
	int depth = 0;
	struct json_value *root = NULL;
	const char *key = NULL; /* the key of the member being parsed */
	uint32_t key_len = 0;
	const unsigned char *end = ps->end;
	enum step step = STEP_VALUE;
	for (;;) {
		const unsigned char *p = skip_ws(ps->p, end);
		ps->p = p;
		if (step == STEP_VALUE) {
			struct json_value *v;
			if (p == end)
				return fail(ps, p, "unexpected end of text, expected a value");
			unsigned c = *p;
			if (c == '"') {
				v = new_node(ps, JSON_STRING);
				if (!v || parse_string(ps, &v->u.text, &v->len) < 0)
					return NULL;
			} else if (c == '{' || c == '[') {
				if (depth == JSON_MAX_DEPTH)
					return fail(ps, p,
					            "nesting deeper than " DEPTH_TEXT " levels");
				v = new_node(ps, c == '{' ? JSON_OBJECT : JSON_ARRAY);
				if (!v)
					return NULL;
				ps->p = p + 1;
			} else if (c == '-' || is_digit(c)) {
				v = parse_number(ps);
			} else {
				v = parse_literal(ps);
			}
			if (!v)
				return NULL;
			if (depth == 0) {
				root = v;
			} else {
				struct open_container *top = &stack[depth - 1];
				v->key = key;
				v->key_len = key_len;
				*top->tail = v;
				top->tail = &v->next;
				top->node->len++;
			}
			step = STEP_AFTER;
			if (v->type == JSON_OBJECT || v->type == JSON_ARRAY) {
				int is_object = v->type == JSON_OBJECT;
				stack[depth].node = v;
				stack[depth].tail = &v->u.first;
				stack[depth].is_object = (unsigned char)is_object;
				stack[depth].close = is_object ? '}' : ']';
				depth++;
				key = NULL;
				key_len = 0;
				p = skip_ws(ps->p, end);
				ps->p = p;
				if (p < end && *p == (is_object ? '}' : ']')) {
					ps->p = p + 1; /* empty */
					depth--;
				} else {
					step = is_object ? STEP_KEY : STEP_VALUE;
				}
			}
			continue;
		}
		if (step == STEP_KEY) {
			if (p == end || *p != '"')
				return fail(ps, p, "expected a string key");
			if (parse_string(ps, &key, &key_len) < 0)
				return NULL;
			p = skip_ws(ps->p, end);
			if (p == end || *p != ':')
				return fail(ps, p, "expected ':' after the key");
			ps->p = p + 1;
			step = STEP_VALUE;
			continue;
		}
		/* STEP_AFTER; a comma is the most frequent, so it comes first */
		if (depth == 0)
			return root;
		const struct open_container *top = &stack[depth - 1];
		if (p < end && *p == ',') {
			p = skip_ws(p + 1, end);
			ps->p = p;
			if (p < end && *p == top->close)
				return fail(ps, p, "trailing comma");
			step = top->is_object ? STEP_KEY : STEP_VALUE;
		} else if (p < end && *p == top->close) {
			ps->p = p + 1;
			depth--;
			continue;
		} else if (p == end) {
			return fail(ps, p,
			            top->is_object ? "unterminated object" : "unterminated array");
		} else {
			return fail(ps, p,
			            top->is_object ? "expected ',' or '}'" : "expected ',' or ']'");
		}
		key = NULL;
		key_len = 0;
	}
}

const struct json_value *
json_parse(struct json_doc *doc, const char *text, size_t len)
{
	struct parser ps = {doc, (const unsigned char *)text, (const unsigned char *)text,
	                    (const unsigned char *)text + len};
	doc->error[0] = '\0';
	doc->error_offset = 0;
	arena_reset(doc, len);
	if (len > doc->max_input) {
		ps.p += doc->max_input;
		return fail(&ps, ps.p, "text larger than the limit");
	}
	struct json_value *root = parse_text(&ps);
	if (!root)
		return NULL;
	/* RFC 8259 section 2: JSON-text = ws value ws, nothing more */
	ps.p = skip_ws(ps.p, ps.end);
	if (ps.p != ps.end)
		return fail(&ps, ps.p, "unexpected text after the value");
	return root;
}

/* ================================================================ access */

enum json_type
json_type(const struct json_value *v)
{
	return v ? (enum json_type)v->type : JSON_NONE;
}

int
json_is_null(const struct json_value *v)
{
	return v && v->type == JSON_NULL;
}

int
json_bool(const struct json_value *v)
{
	return v && v->type == JSON_BOOL ? (int)v->len : -1;
}

const char *
json_string(const struct json_value *v, size_t *len)
{
	if (!v || v->type != JSON_STRING)
		return NULL;
	if (len)
		*len = v->len;
	return v->u.text;
}

const char *
json_number_text(const struct json_value *v, size_t *len)
{
	if (!v || v->type != JSON_NUMBER)
		return NULL;
	if (len)
		*len = v->len;
	return v->u.text;
}

/* The magnitude of an integer written as [-]digits; -1 if s has anything
 * else (fraction, exponent) or the magnitude does not fit in 64 bits. */
static int
parse_magnitude(const char *s, size_t len, int *negative, uint64_t *out)
{
	size_t i = 0;
	*negative = len > 0 && s[0] == '-';
	i = (size_t)*negative;
	if (i == len)
		return -1;
	uint64_t v = 0;
	for (; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';
		/* (overflow builtins: a division per digit cost more than the
		 * rest of an ID's conversion) */
		if (d > 9 || __builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, d, &v))
			return -1;
	}
	*out = v;
	return 0;
}

int
json_int64(const struct json_value *v, int64_t *out)
{
	int negative;
	uint64_t m;
	if (!v || v->type != JSON_NUMBER || parse_magnitude(v->u.text, v->len, &negative, &m) < 0)
		return -1;
	if (negative) {
		if (m > (uint64_t)INT64_MAX + 1)
			return -1;
		*out = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
	} else {
		if (m > (uint64_t)INT64_MAX)
			return -1;
		*out = (int64_t)m;
	}
	return 0;
}

int
json_uint64(const struct json_value *v, uint64_t *out)
{
	int negative;
	uint64_t m;
	if (!v || v->type != JSON_NUMBER || parse_magnitude(v->u.text, v->len, &negative, &m) < 0)
		return -1;
	if (negative && m != 0)
		return -1;
	*out = m;
	return 0;
}

int
json_id(const struct json_value *v, uint64_t *out)
{
	int negative;
	uint64_t m;
	if (json_type(v) == JSON_NUMBER)
		return json_uint64(v, out);
	/* Discord docs, "Snowflakes": IDs are sent as strings, since they
	 * do not fit in a JavaScript number */
	if (json_type(v) != JSON_STRING || parse_magnitude(v->u.text, v->len, &negative, &m) < 0 ||
	    negative)
		return -1;
	*out = m;
	return 0;
}

int
json_double(const struct json_value *v, double *out)
{
	if (!v || v->type != JSON_NUMBER)
		return -1;
	/* the text is NUL-terminated and follows the JSON grammar, which
	 * strtod reads fully in the C locale (Agora never calls setlocale) */
	errno = 0;
	double d = strtod(v->u.text, NULL);
	if (errno == ERANGE && isinf(d))
		return -1;
	*out = d;
	return 0;
}

size_t
json_len(const struct json_value *v)
{
	return v && (v->type == JSON_ARRAY || v->type == JSON_OBJECT) ? v->len : 0;
}

const struct json_value *
json_first(const struct json_value *v)
{
	return v && (v->type == JSON_ARRAY || v->type == JSON_OBJECT) ? v->u.first : NULL;
}

const struct json_value *
json_next(const struct json_value *v)
{
	return v ? v->next : NULL;
}

const char *
json_key(const struct json_value *v, size_t *len)
{
	if (!v || !v->key)
		return NULL;
	if (len)
		*len = v->key_len;
	return v->key;
}

const struct json_value *
json_at(const struct json_value *v, size_t index)
{
	if (!v || v->type != JSON_ARRAY || index >= v->len)
		return NULL;
	const struct json_value *e = v->u.first;
	while (index--)
		e = e->next;
	return e;
}

const struct json_value *
json_getn(const struct json_value *v, const char *key, size_t key_len)
{
	if (!v || v->type != JSON_OBJECT)
		return NULL;
	for (const struct json_value *m = v->u.first; m; m = m->next) {
		if (m->key_len == key_len && memcmp(m->key, key, key_len) == 0)
			return m;
	}
	return NULL;
}

const struct json_value *
json_get(const struct json_value *v, const char *key)
{
	return json_getn(v, key, strlen(key));
}

const struct json_value *
json_path(const struct json_value *v, const char *path)
{
	const char *s = path;
	while (v && *s) {
		if (*s == '[') {
			size_t index = 0;
			s++;
			if (!is_digit((unsigned char)*s))
				return NULL;
			while (is_digit((unsigned char)*s)) {
				/* no array is longer than the text it came from */
				if (index > UINT32_MAX)
					return NULL;
				index = index * 10 + (size_t)(*s++ - '0');
			}
			if (*s++ != ']')
				return NULL;
			v = json_at(v, index);
		} else {
			size_t n = strcspn(s, ".[");
			if (n == 0)
				return NULL;
			v = json_getn(v, s, n);
			s += n;
		}
		if (*s == '.') {
			s++;
			if (*s == '\0' || *s == '.' || *s == '[')
				return NULL;
		}
	}
	return v;
}

const char *
json_path_str(const struct json_value *v, const char *path)
{
	return json_string(json_path(v, path), NULL);
}

int
json_path_int64(const struct json_value *v, const char *path, int64_t *out)
{
	return json_int64(json_path(v, path), out);
}

int
json_path_id(const struct json_value *v, const char *path, uint64_t *out)
{
	return json_id(json_path(v, path), out);
}

int
json_equal(const struct json_value *a, const struct json_value *b)
{
	if (!a || !b)
		return a == b;
	if (a->type != b->type || a->len != b->len)
		return 0;
	switch (a->type) {
	case JSON_NUMBER:
	case JSON_STRING:
		return memcmp(a->u.text, b->u.text, a->len) == 0;
	case JSON_ARRAY:
	case JSON_OBJECT:
		for (a = a->u.first, b = b->u.first; a && b; a = a->next, b = b->next) {
			if (a->key_len != b->key_len ||
			    (a->key_len && memcmp(a->key, b->key, a->key_len) != 0) ||
			    !json_equal(a, b))
				return 0;
		}
		return !a && !b;
	default:
		return 1; /* null, or booleans of equal len (their value) */
	}
}

/* ================================================================ scanner */

/* Index of the first byte of p[0..SCAN_WIDTH) that ends a run of plain
 * string bytes when scanning without decoding: '"', '\\' or a control
 * (< 0x20). Unlike first_special, bytes >= 0x80 do not stop it: skipped
 * strings are not checked for UTF-8 (see json.h). */
#if defined(__SSE2__)
static inline unsigned
scan_special(const unsigned char *p)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i quote = _mm_cmpeq_epi8(x, _mm_set1_epi8('"'));
	__m128i backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'));
	/* unsigned x <= 0x1F: min(x, 0x1F) == x */
	__m128i low = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1F)), x);
	unsigned mask =
	        (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), low));
	return mask ? (unsigned)__builtin_ctz(mask) : 16;
}
#else
/* SWAR as in first_special, with "below 0x20" as (x - 0x20..) & ~x: a byte
 * >= 0x80 has its high bit in x, so it is not flagged. */
static inline unsigned
scan_special(const unsigned char *p)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t x;
	memcpy(&x, p, 8);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	x = __builtin_bswap64(x);
#endif
	uint64_t quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');
	uint64_t match = (((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) |
	                  ((x - ones * 0x20) & ~x)) &
	                 highs;
	return match ? (unsigned)__builtin_ctzll(match) / 8 : 8;
}
#endif

/* The escape at p (a backslash), checked (RFC 8259 section 7): the byte
 * after it, or NULL. Surrogates need no check: a lone one is accepted
 * (json_parse decodes it to U+FFFD). */
static const unsigned char *
scan_escape(const unsigned char *p, const unsigned char *end)
{
	uint32_t cp;
	if (end - p < 2)
		return NULL;
	switch (p[1]) {
	case '"':
	case '\\':
	case '/':
	case 'b':
	case 'f':
	case 'n':
	case 'r':
	case 't':
		return p + 2;
	case 'u':
		return end - p >= 6 && hex4(p + 2, &cp) == 0 ? p + 6 : NULL;
	default:
		return NULL;
	}
}

/* The string at p (its opening quote): the byte after its closing quote,
 * or NULL (unterminated, a raw control, a bad escape). Inlined into its
 * callers, as parse_string is: most of a payload's values are strings. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline const unsigned char *
scan_string(const unsigned char *p, const unsigned char *end)
{
	p++;
	for (;;) {
		if (end - p >= SCAN_WIDTH) {
			unsigned i = scan_special(p);
			p += i;
			if (i == SCAN_WIDTH)
				continue;
		} else {
			while (p < end && *p >= 0x20 && *p != '"' && *p != '\\')
				p++;
			if (p == end)
				return NULL;
		}
		if (*p == '"')
			return p + 1;
		if (*p != '\\')
			return NULL; /* a raw control character */
		p = scan_escape(p, end);
		if (!p)
			return NULL;
	}
}

/* The number at p (RFC 8259 section 6, as parse_number): the byte after
 * it, or NULL. */
static const unsigned char *
scan_number(const unsigned char *p, const unsigned char *end)
{
	if (p < end && *p == '-')
		p++;
	if (p == end || !is_digit(*p))
		return NULL;
	if (*p == '0') {
		p++;
		if (p < end && is_digit(*p))
			return NULL;
	} else {
		while (p < end && is_digit(*p))
			p++;
	}
	if (p < end && *p == '.') {
		p++;
		if (p == end || !is_digit(*p))
			return NULL;
		while (p < end && is_digit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !is_digit(*p))
			return NULL;
		while (p < end && is_digit(*p))
			p++;
	}
	return p;
}

/* true, false or null at p: the byte after it, or NULL. */
static const unsigned char *
scan_literal(const unsigned char *p, const unsigned char *end)
{
	size_t left = (size_t)(end - p);
	if (left >= 4 && (memcmp(p, "true", 4) == 0 || memcmp(p, "null", 4) == 0))
		return p + 4;
	if (left >= 5 && memcmp(p, "false", 5) == 0)
		return p + 5;
	return NULL;
}

/* One value at p (no whitespace before it), with at most `room` arrays
 * and objects open at once inside it: the byte after it, or NULL with
 * *error set. The grammar of parse_text without the nodes; the open
 * containers are one bit each (object or array) in a uint64_t, which the
 * depth limit (64) bounds. */
static const unsigned char *
scan_value(const unsigned char *p, const unsigned char *end, int room, const char **error,
           const unsigned char **error_at)
{
	uint64_t objects = 0; /* bit d: the container open at level d is an object */
	int depth = 0;
	unsigned c;
	const unsigned char *scalar; /* where the scalar being read began */
value:
	if (p == end) {
		*error = "unexpected end of text, expected a value";
		goto fail;
	}
	c = *p;
	scalar = p;
	if (c == '"') {
		p = scan_string(p, end);
		if (!p) {
			*error = "bad string";
			goto fail_here;
		}
	} else if (c == '{' || c == '[') {
		if (depth >= room) {
			*error = "nesting deeper than " DEPTH_TEXT " levels";
			goto fail;
		}
		if (c == '{')
			objects |= (uint64_t)1 << depth;
		else
			objects &= ~((uint64_t)1 << depth);
		depth++;
		p = skip_ws(p + 1, end);
		if (p < end && *p == (c == '{' ? '}' : ']')) {
			p++;
			depth--;
		} else if (c == '{') {
			goto key;
		} else {
			goto value;
		}
	} else if (c == '-' || is_digit(c)) {
		p = scan_number(p, end);
		if (!p) {
			*error = "bad number";
			goto fail_here;
		}
	} else {
		p = scan_literal(p, end);
		if (!p) {
			*error = "expected a value";
			goto fail_here;
		}
	}
after:
	if (depth == 0)
		return p;
	p = skip_ws(p, end);
	{
		int is_object = (int)(objects >> (depth - 1) & 1);
		if (p < end && *p == ',') {
			p = skip_ws(p + 1, end);
			if (is_object)
				goto key;
			goto value;
		}
		if (p < end && *p == (is_object ? '}' : ']')) {
			p++;
			depth--;
			goto after;
		}
		*error = is_object ? "expected ',' or '}'" : "expected ',' or ']'";
		goto fail;
	}
key:
	if (p == end || *p != '"') {
		*error = "expected a string key";
		goto fail;
	}
	scalar = p;
	p = scan_string(p, end);
	if (!p) {
		*error = "bad string";
		goto fail_here;
	}
	p = skip_ws(p, end);
	if (p == end || *p != ':') {
		*error = "expected ':' after the key";
		goto fail;
	}
	p = skip_ws(p + 1, end);
	goto value;
fail_here:
	/* the scalar's helpers say only "bad": its start is near enough */
	p = scalar;
fail:
	*error_at = p;
	return NULL;
}

enum { SCAN_FIRST, SCAN_AFTER, SCAN_DONE, SCAN_ERROR };

static int
scan_fail(struct json_scan *s, const unsigned char *at, const char *what)
{
	s->state = SCAN_ERROR;
	s->error = what;
	s->error_offset = (size_t)(at - s->start);
	return -1;
}

int
json_scan_begin(struct json_scan *s, const char *text, size_t len)
{
	if (!text) { /* (NULL + 0 is undefined, even for an empty text) */
		text = "";
		len = 0;
	}
	s->start = (const unsigned char *)text;
	s->end = s->start + len;
	s->error = NULL;
	s->error_offset = 0;
	const unsigned char *p = skip_ws(s->start, s->end);
	if (p == s->end || *p != '{')
		return scan_fail(s, p, "expected an object");
	s->p = p + 1;
	s->state = SCAN_FIRST;
	return 0;
}

int
json_scan_next(struct json_scan *s, struct json_span *key, struct json_span *value)
{
	if (s->state == SCAN_DONE)
		return 0;
	if (s->state == SCAN_ERROR)
		return -1;
	const unsigned char *end = s->end, *p = skip_ws(s->p, end), *q;
	if (p < end && *p == '}') {
		/* RFC 8259 section 2: nothing after the value but whitespace */
		p = skip_ws(p + 1, end);
		if (p != end)
			return scan_fail(s, p, "unexpected text after the value");
		s->state = SCAN_DONE;
		return 0;
	}
	if (s->state == SCAN_AFTER) {
		if (p == end || *p != ',')
			return scan_fail(s, p, "expected ',' or '}'");
		p = skip_ws(p + 1, end); /* a '}' now is a trailing comma: no key */
	}
	if (p == end || *p != '"')
		return scan_fail(s, p, "expected a string key");
	q = scan_string(p, end);
	if (!q)
		return scan_fail(s, p, "bad string");
	key->p = (const char *)p + 1;
	key->len = (size_t)(q - p) - 2;
	p = skip_ws(q, end);
	if (p == end || *p != ':')
		return scan_fail(s, p, "expected ':' after the key");
	p = skip_ws(p + 1, end);
	const char *error = NULL;
	const unsigned char *error_at = p;
	/* the object itself is one of the JSON_MAX_DEPTH levels */
	q = scan_value(p, end, JSON_MAX_DEPTH - 1, &error, &error_at);
	if (!q)
		return scan_fail(s, error_at, error);
	value->p = (const char *)p;
	value->len = (size_t)(q - p);
	s->p = q;
	s->state = SCAN_AFTER;
	return 1;
}

static inline int
key_is(struct json_span key, const char *name, size_t name_len)
{
	if (!key.p)
		return 0;
	const unsigned char *p = (const unsigned char *)key.p, *end = p + key.len;
	/* Every escape shortens ("\u00e9" is 6 bytes for 2, "\n" 2 for 1),
	 * so a raw key decodes to itself when it has no backslash and to
	 * something shorter when it has one. Most keys are told apart by
	 * that and their first byte, without looking for a backslash. */
	if (key.len < name_len)
		return 0;
	if (name_len == 0)
		return key.len == 0;
	if (key.len == name_len)
		return memcmp(p, name, name_len) == 0 && !memchr(name, '\\', name_len);
	if (p[0] != '\\' && p[0] != (unsigned char)name[0])
		return 0;
	const unsigned char *bs = memchr(p, '\\', key.len);
	if (!bs)
		return 0;
	size_t k = (size_t)(bs - p);
	if (k > name_len || memcmp(p, name, k) != 0)
		return 0;
	p = bs;
	while (p < end) {
		if (*p == '\\') {
			char out[4];
			int n = escape_decode(&p, end, out, NULL);
			if (n < 0 || name_len - k < (size_t)n ||
			    memcmp(name + k, out, (size_t)n) != 0)
				return 0;
			k += (size_t)n;
		} else {
			if (k == name_len || (unsigned char)name[k] != *p)
				return 0;
			k++;
			p++;
		}
	}
	return k == name_len;
}

int
json_span_key_is(struct json_span key, const char *name, size_t name_len)
{
	return key_is(key, name, name_len);
}

int
json_scan_fields(const char *text, size_t len, struct json_scan_field *fields, size_t n, int flags)
{
	struct json_scan s;
	struct json_span key, value;
	size_t found = 0;
	for (size_t i = 0; i < n; i++)
		fields[i].value = (struct json_span){NULL, 0};
	if (json_scan_begin(&s, text, len) < 0)
		return -1;
	int r;
	while ((r = json_scan_next(&s, &key, &value)) == 1) {
		for (size_t i = 0; i < n; i++) {
			/* the first of duplicate keys wins, as in json_getn */
			if (fields[i].value.p ||
			    !json_span_key_is(key, fields[i].key, fields[i].key_len))
				continue;
			fields[i].value = value;
			found++; /* (a key asked twice gets it twice: no break) */
		}
		if ((flags & JSON_SCAN_STOP_EARLY) && found == n)
			return 0;
	}
	return r;
}

/* The object at p (its '{'): its members matched against segment at[i]
 * of paths[i] (UINT8_MAX: path i does not lead here), member
 * values allowed `room` open containers each. A member whose key is the
 * last segment of a path gives that path its value; one whose key is an
 * inner segment, with an object value, is descended into; everything else
 * is skipped (scan_value). Only the first member with a given key counts
 * (json_get's rule), so `seen` marks the paths already served here. The
 * recursion follows the paths only: at most JSON_SCAN_PATH_DEPTH deep.
 * Returns the byte after the '}', or NULL with *error set. */
/* A path cut into its members once per call: segment k of path i is
 * path + start[i][k], len[i][k] bytes; segs[i] of them. */
struct scan_segments {
	uint16_t start[JSON_SCAN_PATHS_MAX][JSON_SCAN_PATH_DEPTH];
	uint16_t len[JSON_SCAN_PATHS_MAX][JSON_SCAN_PATH_DEPTH];
	uint8_t segs[JSON_SCAN_PATHS_MAX];
	uint32_t plain; /* bit i: path i has no backslash */
};

static const unsigned char *
paths_object(const unsigned char *p, const unsigned char *end, int room,
             struct json_scan_path *paths, const struct scan_segments *sg, const uint8_t *at,
             size_t n, const char **error, const unsigned char **error_at)
{
	uint32_t seen = 0, active = 0;
	/* the first bytes the wanted keys here start with: most members are
	 * passed over on that alone (an escaped first byte, or an empty
	 * segment, can start anything) */
	uint64_t first[4] = {0, 0, 0, 0};
	for (size_t i = 0; i < n; i++) {
		if (at[i] == UINT8_MAX)
			continue;
		active |= (uint32_t)1 << i;
		if (sg->len[i][at[i]] == 0) {
			first[0] = first[1] = first[2] = first[3] = ~(uint64_t)0;
		} else {
			unsigned char c = (unsigned char)paths[i].path[sg->start[i][at[i]]];
			first[c >> 6] |= (uint64_t)1 << (c & 63);
		}
	}
	first['\\' >> 6] |= (uint64_t)1 << ('\\' & 63);
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}')
		return p + 1;
	for (;;) {
		if (p == end || *p != '"') {
			*error = "expected a string key";
			goto fail;
		}
		const unsigned char *q = scan_string(p, end);
		if (!q) {
			*error = "bad string";
			goto fail;
		}
		struct json_span key = {(const char *)p + 1, (size_t)(q - p) - 2};
		p = skip_ws(q, end);
		if (p == end || *p != ':') {
			*error = "expected ':' after the key";
			goto fail;
		}
		const unsigned char *v = skip_ws(p + 1, end);
		uint8_t sub[JSON_SCAN_PATHS_MAX];
		uint32_t take = 0, descend = 0;
		/* only the paths that lead here and were not served yet */
		uint32_t left = active & ~seen;
		if (key.len &&
		    !(first[(unsigned char)key.p[0] >> 6] >> ((unsigned char)key.p[0] & 63) & 1))
			left = 0;
		for (; left; left &= left - 1) {
			unsigned i = (unsigned)__builtin_ctz(left), k = at[i];
			size_t seg_len = sg->len[i][k];
			const char *seg = paths[i].path + sg->start[i][k];
			/* the usual mismatch, without a call: shorter, or another
			 * first byte that is not an escape */
			if (key.len == seg_len && (sg->plain >> i & 1)) {
				/* same length: equal only as raw bytes (an escape
				 * would have made the raw key longer) */
				if (memcmp(key.p, seg, seg_len) != 0)
					continue;
			} else if (key.len < seg_len ||
			           (seg_len && key.p[0] != seg[0] && key.p[0] != '\\') ||
			           !key_is(key, seg, seg_len)) {
				continue;
			}
			seen |= (uint32_t)1 << i;
			if (k + 1 < sg->segs[i]) {
				sub[i] = (uint8_t)(k + 1);
				descend |= (uint32_t)1 << i;
			} else {
				take |= (uint32_t)1 << i;
			}
		}
		if (descend && v < end && *v == '{') {
			if (room < 1) {
				*error = "nesting deeper than " DEPTH_TEXT " levels";
				p = v;
				goto fail;
			}
			for (size_t i = 0; i < n; i++)
				if (!(descend >> i & 1))
					sub[i] = UINT8_MAX;
			q = paths_object(v, end, room - 1, paths, sg, sub, n, error, error_at);
			if (!q)
				return NULL;
		} else {
			q = scan_value(v, end, room, error, error_at);
			if (!q)
				return NULL;
		}
		for (; take; take &= take - 1)
			paths[__builtin_ctz(take)].value =
			        (struct json_span){(const char *)v, (size_t)(q - v)};
		p = skip_ws(q, end);
		if (p < end && *p == ',') {
			p = skip_ws(p + 1, end);
			continue;
		}
		if (p < end && *p == '}')
			return p + 1;
		*error = "expected ',' or '}'";
		goto fail;
	}
fail:
	*error_at = p;
	return NULL;
}

int
json_scan_paths(const char *text, size_t len, struct json_scan_path *paths, size_t n)
{
	struct scan_segments sg;
	uint8_t at[JSON_SCAN_PATHS_MAX];
	if (n > JSON_SCAN_PATHS_MAX)
		return -1;
	sg.plain = 0;
	for (size_t i = 0; i < n; i++) {
		paths[i].value = (struct json_span){NULL, 0};
		/* a path too deep or too long is never found (it would only
		 * recurse further) */
		const char *path = paths[i].path;
		size_t plen = strlen(path), k = 0, from = 0;
		at[i] = plen < UINT16_MAX ? 0 : UINT8_MAX;
		for (size_t c = 0; c <= plen && at[i] == 0; c++) {
			if (c < plen && path[c] != '.')
				continue;
			if (k == JSON_SCAN_PATH_DEPTH) {
				at[i] = UINT8_MAX;
				break;
			}
			sg.start[i][k] = (uint16_t)from;
			sg.len[i][k] = (uint16_t)(c - from);
			k++;
			from = c + 1;
		}
		sg.segs[i] = (uint8_t)k;
		if (!memchr(path, '\\', plen))
			sg.plain |= (uint32_t)1 << i;
	}
	if (!text)
		return -1;
	const unsigned char *start = (const unsigned char *)text, *end = start + len;
	const unsigned char *p = skip_ws(start, end), *error_at;
	const char *error;
	if (p == end || *p != '{')
		return -1;
	/* the object is one of the JSON_MAX_DEPTH levels */
	p = paths_object(p, end, JSON_MAX_DEPTH - 1, paths, &sg, at, n, &error, &error_at);
	if (!p || skip_ws(p, end) != end)
		return -1;
	return 0;
}

int
json_scan_skip(const char *text, size_t len, size_t *pos)
{
	if (!text || *pos > len)
		return -1;
	const unsigned char *start = (const unsigned char *)text, *end = start + len;
	const char *error;
	const unsigned char *error_at;
	const unsigned char *q =
	        scan_value(skip_ws(start + *pos, end), end, JSON_MAX_DEPTH, &error, &error_at);
	if (!q)
		return -1;
	*pos = (size_t)(q - start);
	return 0;
}

enum json_type
json_span_type(struct json_span v)
{
	if (!v.p || v.len == 0)
		return JSON_NONE;
	switch (v.p[0]) {
	case '"':
		return JSON_STRING;
	case '{':
		return JSON_OBJECT;
	case '[':
		return JSON_ARRAY;
	case 't':
	case 'f':
		return JSON_BOOL;
	case 'n':
		return JSON_NULL;
	default:
		return v.p[0] == '-' || is_digit((unsigned char)v.p[0]) ? JSON_NUMBER : JSON_NONE;
	}
}

int
json_span_bool(struct json_span v)
{
	if (!v.p)
		return -1;
	if (v.len == 4 && memcmp(v.p, "true", 4) == 0)
		return 1;
	if (v.len == 5 && memcmp(v.p, "false", 5) == 0)
		return 0;
	return -1;
}

/* 1 when v is exactly one number by the grammar. */
static int
span_is_number(struct json_span v)
{
	if (!v.p || !v.len)
		return 0;
	const unsigned char *p = (const unsigned char *)v.p, *end = p + v.len;
	return scan_number(p, end) == end;
}

int
json_span_int64(struct json_span v, int64_t *out)
{
	int negative;
	uint64_t m;
	if (!span_is_number(v) || parse_magnitude(v.p, v.len, &negative, &m) < 0)
		return -1;
	if (negative) {
		if (m > (uint64_t)INT64_MAX + 1)
			return -1;
		*out = m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
	} else {
		if (m > (uint64_t)INT64_MAX)
			return -1;
		*out = (int64_t)m;
	}
	return 0;
}

int
json_span_id(struct json_span v, uint64_t *out)
{
	int negative;
	uint64_t m;
	if (json_span_type(v) == JSON_NUMBER) {
		/* json_uint64: "-0" is 0, any other negative is refused */
		if (!span_is_number(v) || parse_magnitude(v.p, v.len, &negative, &m) < 0 ||
		    (negative && m != 0))
			return -1;
		*out = m;
		return 0;
	}
	/* a snowflake string: decoded digits only (an escape may write one),
	 * any number of them as long as the value fits, as json_id reads it */
	if (json_span_type(v) != JSON_STRING)
		return -1;
	const unsigned char *p = (const unsigned char *)v.p + 1;
	const unsigned char *end = (const unsigned char *)v.p + v.len;
	/* the usual snowflake: "1310561843356889108", 1 to 19 plain digits,
	 * which cannot overflow */
	if (v.len >= 3 && v.len <= 21 && end[-1] == '"') {
		size_t k = 0, n = v.len - 2;
		m = 0;
		while (k < n && (unsigned)(p[k] - '0') <= 9)
			m = m * 10 + (unsigned)(p[k++] - '0');
		if (k == n) {
			*out = m;
			return 0;
		}
	}
	size_t digits = 0;
	m = 0;
	while (p < end && *p != '"') {
		char tmp[4];
		const unsigned char *d = p;
		size_t n = 1;
		if (*p == '\\') {
			int r = escape_decode(&p, end, tmp, NULL);
			if (r < 0)
				return -1;
			d = (const unsigned char *)tmp;
			n = (size_t)r;
		} else {
			p++;
		}
		for (size_t i = 0; i < n; i++) {
			unsigned c = (unsigned)d[i] - '0';
			if (c > 9 || __builtin_mul_overflow(m, 10, &m) ||
			    __builtin_add_overflow(m, c, &m))
				return -1;
			digits++;
		}
	}
	if (p == end || p + 1 != end || digits == 0)
		return -1;
	*out = m;
	return 0;
}

int
json_span_string(struct json_span v, char *out, size_t cap, size_t *len)
{
	if (json_span_type(v) != JSON_STRING || cap == 0)
		return -1;
	const unsigned char *p = (const unsigned char *)v.p + 1,
	                    *end = (const unsigned char *)v.p + v.len;
	size_t k = 0;
	for (;;) {
		if (p == end)
			return -1; /* unterminated */
		unsigned c = *p;
		if (c == '"')
			break;
		char tmp[4];
		size_t n;
		const unsigned char *from;
		if (c == '\\') {
			int r = escape_decode(&p, end, tmp, NULL);
			if (r < 0)
				return -1;
			n = (size_t)r;
			from = (const unsigned char *)tmp;
		} else {
			if (c < 0x20)
				return -1;
			n = c < 0x80 ? 1 : utf8_len(p, (size_t)(end - p));
			if (!n)
				return -1;
			from = p;
			p += n;
		}
		if (cap - k <= n) /* room for n bytes and the NUL */
			return -1;
		memcpy(out + k, from, n);
		k += n;
	}
	if (p + 1 != end)
		return -1; /* more after the closing quote */
	out[k] = '\0';
	if (len)
		*len = k;
	return 0;
}

/* ================================================================ writer */

void
json_writer_init(struct json_writer *w, struct buf *out)
{
	memset(w, 0, sizeof *w);
	w->out = out;
}

int
json_writer_finish(const struct json_writer *w)
{
	return w->error || w->depth != 0 || !w->has_root || w->after_key ? -1 : 0;
}

/* Appends to the buf; a short piece straight into its free space, 8 bytes
 * at a time (musl's memcpy is slow to start, and most pieces are a few
 * bytes: a comma, a key, a short value). */
static void
put(struct json_writer *w, const void *bytes, size_t len)
{
	struct buf *b = w->out;
	if (w->error)
		return;
	if (len < 64 && b->data && b->cap - b->len > len) {
		char *d = b->data + b->len;
		const char *s = bytes;
		size_t i = 0;
		for (; i + 8 <= len; i += 8)
			memcpy(d + i, s + i, 8);
		for (; i < len; i++)
			d[i] = s[i];
		b->len += len;
		d[len] = '\0'; /* buf keeps its text NUL-terminated */
		return;
	}
	if (buf_append(b, bytes, len) < 0)
		w->error = 1;
}

static void
putch(struct json_writer *w, char c)
{
	put(w, &c, 1);
}

static uint64_t
level_bit(const struct json_writer *w)
{
	return (uint64_t)1 << (w->depth - 1);
}

/* Before any value: the comma in an array, the check that a key came
 * first in an object, the check for a second top-level value. */
static int
begin_value(struct json_writer *w)
{
	if (w->error)
		return -1;
	if (w->depth == 0) {
		if (w->has_root)
			w->error = 1;
		w->has_root = 1;
	} else if (w->in_object & level_bit(w)) {
		if (!w->after_key)
			w->error = 1;
		w->after_key = 0;
	} else {
		if (w->has_items & level_bit(w))
			putch(w, ',');
		w->has_items |= level_bit(w);
	}
	return w->error ? -1 : 0;
}

/* RFC 8259 section 7: '"', '\\' and the controls must be escaped; the
 * short forms where they exist, \u00XX for the rest. Invalid UTF-8 is
 * replaced by U+FFFD one byte at a time, so the output is always valid. */
static void
put_string(struct json_writer *w, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *end = p + len, *run = p;
	putch(w, '"');
	while (p < end) {
		if (end - p >= SCAN_WIDTH) {
			/* runs of plain ASCII, a block at a time as in the parser */
			unsigned i = first_special(p);
			p += i;
			if (i == SCAN_WIDTH)
				continue;
		}
		unsigned c = *p;
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0x80) {
			size_t n = utf8_len(p, (size_t)(end - p));
			if (n) {
				p += n;
				continue;
			}
		}
		put(w, run, (size_t)(p - run));
		char esc[6] = {'\\', 0, '0', '0', 0, 0};
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			put(w, esc, 2);
			break;
		case '\b':
			put(w, "\\b", 2);
			break;
		case '\f':
			put(w, "\\f", 2);
			break;
		case '\n':
			put(w, "\\n", 2);
			break;
		case '\r':
			put(w, "\\r", 2);
			break;
		case '\t':
			put(w, "\\t", 2);
			break;
		default:
			if (c >= 0x80) {
				put(w, "\xEF\xBF\xBD", 3);
			} else {
				esc[1] = 'u';
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
				put(w, esc, 6);
			}
		}
		p++;
		run = p;
	}
	put(w, run, (size_t)(p - run));
	putch(w, '"');
}

static void
begin_container(struct json_writer *w, int is_object)
{
	if (begin_value(w) < 0)
		return;
	if (w->depth >= JSON_MAX_DEPTH) {
		w->error = 1;
		return;
	}
	w->depth++;
	if (is_object)
		w->in_object |= level_bit(w);
	else
		w->in_object &= ~level_bit(w);
	w->has_items &= ~level_bit(w);
	putch(w, is_object ? '{' : '[');
}

static void
end_container(struct json_writer *w, int is_object)
{
	if (w->error)
		return;
	if (w->depth == 0 || w->after_key || !(w->in_object & level_bit(w)) != !is_object) {
		w->error = 1;
		return;
	}
	w->depth--;
	putch(w, is_object ? '}' : ']');
}

void
json_write_object_begin(struct json_writer *w)
{
	begin_container(w, 1);
}

void
json_write_object_end(struct json_writer *w)
{
	end_container(w, 1);
}

void
json_write_array_begin(struct json_writer *w)
{
	begin_container(w, 0);
}

void
json_write_array_end(struct json_writer *w)
{
	end_container(w, 0);
}

void
json_write_keyn(struct json_writer *w, const char *key, size_t len)
{
	if (w->error)
		return;
	if (w->depth == 0 || !(w->in_object & level_bit(w)) || w->after_key) {
		w->error = 1;
		return;
	}
	if (w->has_items & level_bit(w))
		putch(w, ',');
	w->has_items |= level_bit(w);
	put_string(w, key, len);
	putch(w, ':');
	w->after_key = 1;
}

void
json_write_key(struct json_writer *w, const char *key)
{
	json_write_keyn(w, key, strlen(key));
}

void
json_write_stringn(struct json_writer *w, const char *s, size_t len)
{
	if (begin_value(w) == 0)
		put_string(w, s, len);
}

void
json_write_string(struct json_writer *w, const char *s)
{
	json_write_stringn(w, s, strlen(s));
}

/* Writes the decimal digits of n (with a '-' first when negative is set)
 * backwards, ending just before end; returns where they start. 20 digits
 * and a sign fit in the 24 bytes before end that callers provide. */
static char *
format_decimal(char *end, uint64_t n, int negative)
{
	char *p = end;
	do {
		*--p = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	if (negative)
		*--p = '-';
	return p;
}

void
json_write_uint64(struct json_writer *w, uint64_t n)
{
	char digits[24];
	char *end = digits + sizeof digits;
	char *start = format_decimal(end, n, 0);
	if (begin_value(w) == 0)
		put(w, start, (size_t)(end - start));
}

void
json_write_int64(struct json_writer *w, int64_t n)
{
	char digits[24];
	char *end = digits + sizeof digits;
	/* the magnitude in unsigned arithmetic, so INT64_MIN is fine */
	uint64_t m = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
	char *start = format_decimal(end, m, n < 0);
	if (begin_value(w) == 0)
		put(w, start, (size_t)(end - start));
}

void
json_write_id(struct json_writer *w, uint64_t id)
{
	char digits[24];
	char *end = digits + sizeof digits;
	char *start = format_decimal(end, id, 0);
	if (begin_value(w) == 0) {
		putch(w, '"');
		put(w, start, (size_t)(end - start));
		putch(w, '"');
	}
}

void
json_write_double(struct json_writer *w, double d)
{
	if (!isfinite(d)) {
		w->error = 1;
		return;
	}
	/* the shortest of 15, 16, 17 significant digits that reads back
	 * exactly; %g prints "1e+300" or "-0", both valid JSON numbers */
	char text[32];
	for (int precision = 15; precision <= 17; precision++) {
		snprintf(text, sizeof text, "%.*g", precision, d);
		if (strtod(text, NULL) == d)
			break;
	}
	if (begin_value(w) == 0)
		put(w, text, strlen(text));
}

void
json_write_bool(struct json_writer *w, int b)
{
	if (begin_value(w) == 0)
		put(w, b ? "true" : "false", b ? 4 : 5);
}

void
json_write_null(struct json_writer *w)
{
	if (begin_value(w) == 0)
		put(w, "null", 4);
}

void
json_write_raw(struct json_writer *w, const char *json, size_t len)
{
	if (begin_value(w) == 0)
		put(w, json, len);
}

void
json_write_value(struct json_writer *w, const struct json_value *v)
{
	switch (json_type(v)) {
	case JSON_NULL:
		json_write_null(w);
		break;
	case JSON_BOOL:
		json_write_bool(w, (int)v->len);
		break;
	case JSON_NUMBER:
		json_write_raw(w, v->u.text, v->len);
		break;
	case JSON_STRING:
		json_write_stringn(w, v->u.text, v->len);
		break;
	case JSON_ARRAY:
	case JSON_OBJECT: {
		int is_object = v->type == JSON_OBJECT;
		begin_container(w, is_object);
		for (const struct json_value *e = v->u.first; e && !w->error; e = e->next) {
			if (is_object)
				json_write_keyn(w, e->key, e->key_len);
			json_write_value(w, e);
		}
		end_container(w, is_object);
		break;
	}
	case JSON_NONE:
		w->error = 1;
		break;
	}
}

void
json_write_key_string(struct json_writer *w, const char *key, const char *s)
{
	json_write_key(w, key);
	json_write_string(w, s);
}

void
json_write_key_int64(struct json_writer *w, const char *key, int64_t n)
{
	json_write_key(w, key);
	json_write_int64(w, n);
}

void
json_write_key_bool(struct json_writer *w, const char *key, int b)
{
	json_write_key(w, key);
	json_write_bool(w, b);
}
