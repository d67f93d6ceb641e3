/* x509 — see x509.h. A DER walk: each element is read with its bounds
 * checked against the one that holds it. */
#include "x509.h"

#include <bearssl.h>
#include <string.h>

struct x509_der {
	const unsigned char *p, *end;
};

/* The next element of d: its tag, contents and the whole element. 0, or
 * -1 at the end or on a malformed one (long-form tags, indefinite or
 * over-long lengths, contents past the end). */
static int
x509_next(struct x509_der *d, unsigned *tag, struct x509_der *contents, const unsigned char **whole,
          size_t *whole_len)
{
	const unsigned char *start = d->p, *p = d->p;
	if (d->end - p < 2)
		return -1;
	*tag = *p++;
	if ((*tag & 0x1f) == 0x1f)
		return -1;
	size_t len = *p++;
	if (len & 0x80) {
		size_t n = len & 0x7f;
		if (n == 0 || n > 3 || (size_t)(d->end - p) < n)
			return -1;
		len = 0;
		while (n--)
			len = len << 8 | *p++;
	}
	if ((size_t)(d->end - p) < len)
		return -1;
	contents->p = p;
	contents->end = p + len;
	d->p = p + len;
	if (whole) {
		*whole = start;
		*whole_len = (size_t)(d->p - start);
	}
	return 0;
}

/* The next element, which must carry tag. */
static int
x509_expect(struct x509_der *d, unsigned tag, struct x509_der *contents)
{
	unsigned t;
	return x509_next(d, &t, contents, NULL, NULL) == 0 && t == tag ? 0 : -1;
}

static int
x509_is(const struct x509_der *c, const unsigned char *oid, size_t len)
{
	return (size_t)(c->end - c->p) == len && memcmp(c->p, oid, len) == 0;
}

/* An INTEGER's value as br_x509_decoder keeps it: non-negative, leading
 * zeros dropped. */
static int
x509_uint(struct x509_der *d, const unsigned char **v, size_t *len)
{
	struct x509_der c;
	if (x509_expect(d, 0x02, &c) < 0 || c.p == c.end || *c.p >= 0x80)
		return -1;
	while (c.p < c.end && *c.p == 0)
		c.p++;
	*v = c.p;
	*len = (size_t)(c.end - c.p);
	return 0;
}

static const unsigned char x509_oid_rsa[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const unsigned char x509_oid_ec[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const unsigned char x509_oid_p256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const unsigned char x509_oid_p384[] = {0x2b, 0x81, 0x04, 0x00, 0x22};
static const unsigned char x509_oid_p521[] = {0x2b, 0x81, 0x04, 0x00, 0x23};
static const unsigned char x509_oid_basic[] = {0x55, 0x1d, 0x13};

static int
x509_key(struct x509_der *spki, struct x509_anchor *a)
{
	struct x509_der alg, oid, bits;
	if (x509_expect(spki, 0x30, &alg) < 0 || x509_expect(&alg, 0x06, &oid) < 0)
		return -1;
	if (x509_is(&oid, x509_oid_rsa, sizeof x509_oid_rsa)) {
		struct x509_der seq;
		if (x509_expect(spki, 0x03, &bits) < 0 || bits.p == bits.end || *bits.p != 0)
			return -1;
		bits.p++;
		if (x509_expect(&bits, 0x30, &seq) < 0 || x509_uint(&seq, &a->n, &a->n_len) < 0 ||
		    x509_uint(&seq, &a->e, &a->e_len) < 0)
			return -1;
		a->key_type = BR_KEYTYPE_RSA;
		return 0;
	}
	if (x509_is(&oid, x509_oid_ec, sizeof x509_oid_ec)) {
		struct x509_der curve;
		if (x509_expect(&alg, 0x06, &curve) < 0)
			return -1;
		if (x509_is(&curve, x509_oid_p256, sizeof x509_oid_p256))
			a->curve = BR_EC_secp256r1;
		else if (x509_is(&curve, x509_oid_p384, sizeof x509_oid_p384))
			a->curve = BR_EC_secp384r1;
		else if (x509_is(&curve, x509_oid_p521, sizeof x509_oid_p521))
			a->curve = BR_EC_secp521r1;
		else
			return -1;
		if (x509_expect(spki, 0x03, &bits) < 0 || bits.p == bits.end || *bits.p != 0)
			return -1;
		a->q = bits.p + 1;
		a->q_len = (size_t)(bits.end - a->q);
		a->key_type = BR_KEYTYPE_EC;
		return 0;
	}
	return -1;
}

/* Extensions ([3] EXPLICIT SEQUENCE OF Extension): the CA flag of
 * basicConstraints, as br_x509_decoder reads it (a BOOLEAN byte not 0; the
 * last such extension wins). */
static int
x509_extensions(struct x509_der *ext, struct x509_anchor *a)
{
	struct x509_der list;
	if (x509_expect(ext, 0x30, &list) < 0)
		return -1;
	while (list.p < list.end) {
		struct x509_der e, oid, value, c;
		unsigned tag;
		if (x509_expect(&list, 0x30, &e) < 0 || x509_expect(&e, 0x06, &oid) < 0 ||
		    x509_next(&e, &tag, &c, NULL, NULL) < 0)
			return -1;
		if (tag == 0x01) { /* critical */
			if (c.end - c.p != 1 || x509_next(&e, &tag, &c, NULL, NULL) < 0)
				return -1;
		}
		if (tag != 0x04)
			return -1;
		value = c;
		if (!x509_is(&oid, x509_oid_basic, sizeof x509_oid_basic))
			continue;
		struct x509_der bc, first;
		if (x509_expect(&value, 0x30, &bc) < 0)
			return -1;
		if (bc.p < bc.end) {
			if (x509_next(&bc, &tag, &first, NULL, NULL) < 0)
				return -1;
			if (tag == 0x01) {
				if (first.end - first.p != 1)
					return -1;
				a->is_ca = *first.p != 0;
			}
		}
	}
	return 0;
}

int
x509_anchor_parse(const unsigned char *der, size_t len, struct x509_anchor *a)
{
	memset(a, 0, sizeof *a);
	struct x509_der all = {der, der + len}, cert, tbs, e;
	unsigned tag;
	if (x509_expect(&all, 0x30, &cert) < 0 || x509_expect(&cert, 0x30, &tbs) < 0)
		return -1;
	if (x509_next(&tbs, &tag, &e, NULL, NULL) < 0)
		return -1;
	if (tag == 0xa0) { /* version: v1 to v3 */
		struct x509_der v;
		if (x509_expect(&e, 0x02, &v) < 0 || v.end - v.p != 1 || *v.p > 2 ||
		    x509_next(&tbs, &tag, &e, NULL, NULL) < 0)
			return -1;
	}
	if (tag != 0x02) /* serialNumber */
		return -1;
	struct x509_der skip, spki;
	if (x509_expect(&tbs, 0x30, &skip) < 0 || /* signature */
	    x509_expect(&tbs, 0x30, &skip) < 0 || /* issuer */
	    x509_expect(&tbs, 0x30, &skip) < 0 || /* validity */
	    x509_next(&tbs, &tag, &skip, &a->dn, &a->dn_len) < 0 || tag != 0x30 ||
	    x509_expect(&tbs, 0x30, &spki) < 0 || x509_key(&spki, a) < 0)
		return -1;
	while (tbs.p < tbs.end) {
		if (x509_next(&tbs, &tag, &e, NULL, NULL) < 0)
			return -1;
		if (tag == 0xa3) {
			if (x509_extensions(&e, a) < 0)
				return -1;
		} else if (tag != 0x81 && tag != 0x82) { /* issuer/subjectUniqueID */
			return -1;
		}
	}
	return 0;
}
