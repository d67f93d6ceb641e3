/* test_x509 — src/x509.c, the trust-anchor fields of a certificate, with
 * BearSSL's br_x509_decoder as the reference: on every root of Debian's
 * CA bundle (RSA and EC keys, v1 and v3 certificates) and on the test
 * CAs, the same subject name bytes, key and CA flag; every truncation of
 * a certificate refused; versions above 3 and unknown curves refused. */
#include <bearssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pem.h"
#include "test.h"
#include "x509.h"

static void
x509_test_dn(void *ctx, const void *bytes, size_t len)
{
	buf_append(ctx, bytes, len);
}

static int
x509_test_same_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* 1 when x509.c reads der as br_x509_decoder does; -1 when BearSSL refuses
 * it (nothing to compare); 0 on a difference */
static int
x509_test_compare(const unsigned char *der, size_t len)
{
	struct buf dn;
	buf_init(&dn, 1 << 16);
	br_x509_decoder_context xc;
	br_x509_decoder_init(&xc, x509_test_dn, &dn);
	br_x509_decoder_push(&xc, der, len);
	const br_x509_pkey *pk = br_x509_decoder_get_pkey(&xc);
	struct x509_anchor a;
	int ours = x509_anchor_parse(der, len, &a);
	int rc;
	if (!pk) {
		rc = -1;
	} else if (ours < 0) {
		rc = 0;
	} else {
		rc = x509_test_same_bytes(a.dn, a.dn_len, dn.data, dn.len) &&
		     a.key_type == pk->key_type && a.is_ca == br_x509_decoder_isCA(&xc);
		if (rc && pk->key_type == BR_KEYTYPE_RSA)
			rc = x509_test_same_bytes(a.n, a.n_len, pk->key.rsa.n, pk->key.rsa.nlen) &&
			     x509_test_same_bytes(a.e, a.e_len, pk->key.rsa.e, pk->key.rsa.elen);
		else if (rc)
			rc = a.curve == pk->key.ec.curve &&
			     x509_test_same_bytes(a.q, a.q_len, pk->key.ec.q, pk->key.ec.qlen);
	}
	buf_free(&dn);
	return rc;
}

/* Every CERTIFICATE of a PEM file through x509_test_compare; the counts
 * of certificates, of RSA and EC keys, and of v1 (no CA flag) ones. */
static void
x509_test_file(const char *path, size_t *certs, size_t *rsa, size_t *ec, size_t *not_ca)
{
	size_t len = 0;
	char *text = test_read_file(path, &len);
	if (!CHECK(text != NULL))
		return;
	struct buf der;
	buf_init(&der, 1 << 20);
	size_t pos = 0, label_len;
	const char *label, *why;
	while (pem_next(text, len, &pos, &label, &label_len, &der, &why) == 1) {
		const unsigned char *d = (const unsigned char *)der.data;
		struct x509_anchor a;
		int rc = x509_test_compare(d, der.len);
		if (!CHECK_INT(rc, 1))
			printf("    %s: certificate %zu read differently\n", path, *certs);
		if (x509_anchor_parse(d, der.len, &a) == 0) {
			*rsa += a.key_type == BR_KEYTYPE_RSA;
			*ec += a.key_type == BR_KEYTYPE_EC;
			*not_ca += !a.is_ca;
		}
		(*certs)++;
		buf_reset(&der);
	}
	buf_free(&der);
	free(text);
}

TEST(x509_reads_what_bearssl_reads)
{
	size_t certs = 0, rsa = 0, ec = 0, not_ca = 0;
	x509_test_file("/etc/ssl/certs/ca-certificates.crt", &certs, &rsa, &ec, &not_ca);
	printf("x509: Debian's bundle: %zu roots, %zu RSA, %zu EC, %zu without the CA flag\n",
	       certs, rsa, ec, not_ca);
	CHECK(certs > 100);
	CHECK(rsa > 50);
	CHECK(ec > 10);
	CHECK_INT(rsa + ec, certs);
}

TEST(x509_refuses_truncated_and_unsupported)
{
	size_t len = 0;
	char *text = test_read_file("/etc/ssl/certs/ca-certificates.crt", &len);
	if (!CHECK(text != NULL))
		return;
	struct buf der;
	buf_init(&der, 1 << 20);
	size_t pos = 0, label_len;
	const char *label, *why;
	CHECK_INT(pem_next(text, len, &pos, &label, &label_len, &der, &why), 1);
	const unsigned char *d = (const unsigned char *)der.data;
	struct x509_anchor a;
	CHECK_INT(x509_anchor_parse(d, der.len, &a), 0);
	for (size_t n = 0; n < der.len; n++)
		if (!CHECK_INT(x509_anchor_parse(d, n, &a), -1)) {
			printf("    a truncation to %zu bytes was read\n", n);
			break;
		}
	/* a version byte of 3 (v4) and the curve OID of P-256 changed */
	unsigned char *copy = malloc(der.len);
	if (copy) {
		memcpy(copy, d, der.len);
		for (size_t i = 0; i + 4 < der.len; i++)
			if (copy[i] == 0xa0 && copy[i + 1] == 0x03 && copy[i + 2] == 0x02 &&
			    copy[i + 3] == 0x01) {
				copy[i + 4] = 3;
				break;
			}
		CHECK_INT(x509_anchor_parse(copy, der.len, &a), -1);
		free(copy);
	}
	free(text);
	buf_free(&der);

	/* an EC root with its curve made unknown (the last OID byte) */
	text = test_read_file("/etc/ssl/certs/ca-certificates.crt", &len);
	pos = 0;
	int changed = 0;
	static const unsigned char p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
	while (text && !changed && pem_next(text, len, &pos, &label, &label_len, &der, &why) == 1) {
		unsigned char *b = (unsigned char *)der.data;
		for (size_t i = 0; i + sizeof p384 <= der.len; i++)
			if (memcmp(b + i, p384, sizeof p384) == 0) {
				CHECK_INT(x509_anchor_parse(b, der.len, &a), 0);
				b[i + 6] = 0x99;
				CHECK_INT(x509_anchor_parse(b, der.len, &a), -1);
				changed = 1;
				break;
			}
		buf_reset(&der);
	}
	CHECK(changed);
	free(text);
	buf_free(&der);
}
