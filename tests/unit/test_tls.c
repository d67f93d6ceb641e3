/* test_tls — src/tls.c against a peer someone else wrote: `openssl s_server`
 * with certificates made at test time (tests/data/tls/mkcerts.sh), plus
 * in-process sockets for plain mode, silence and ClientHello capture. */
#include <arpa/inet.h>
#include <bearssl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "mem.h"
#include "net.h"
#include "tls.h"
#include "test.h"

/* ---- fixtures */

/* The certificate directory, generated once per run. */
static const char *
tls_test_certs(void)
{
	static char dir[512];
	if (!dir[0]) {
		snprintf(dir, sizeof dir, "%s/tls", test_tmpdir());
		char cmd[1024];
		snprintf(cmd, sizeof cmd, "sh tests/data/tls/mkcerts.sh '%s' >/dev/null 2>&1", dir);
		if (system(cmd) != 0)
			printf("    mkcerts.sh failed\n");
	}
	return dir;
}

static char *
tls_test_path(const char *name)
{
	static char paths[4][600];
	static int next;
	char *p = paths[next++ % 4];
	snprintf(p, sizeof paths[0], "%s/%s", tls_test_certs(), name);
	return p;
}

struct tls_test_server {
	pid_t pid;
	uint16_t port;
	int stdin_fd; /* kept open: s_server quits at end of its stdin */
};

/* Starts `openssl s_server -rev` with cert on a free loopback port and
 * waits until it prints ACCEPT. The child dies with us (PDEATHSIG) even if
 * the runner crashes; tls_test_server_stop() kills it otherwise. */
static int tls_test_server_spawn_at(struct tls_test_server *s, const char *cert, int rev,
                                    uint16_t port);

static int
tls_test_server_spawn(struct tls_test_server *s, const char *cert, int rev)
{
	uint16_t port;
	int probe = test_listen(&port);
	if (probe < 0)
		return -1;
	close(probe); /* free again; s_server binds it next */
	return tls_test_server_spawn_at(s, cert, rev, port);
}

/* The same on a given port (a server replaced by another on its port). */
static int
tls_test_server_spawn_at(struct tls_test_server *s, const char *cert, int rev, uint16_t port)
{
	s->port = port;
	char accept_arg[32], out_path[600];
	snprintf(accept_arg, sizeof accept_arg, "127.0.0.1:%u", (unsigned)s->port);
	snprintf(out_path, sizeof out_path, "%s/s_server.%u.out", tls_test_certs(),
	         (unsigned)s->port);
	const char *cert_path = tls_test_path(cert);
	const char *key_path = tls_test_path("server.key");
	pid_t parent = getpid();
	/* an output file left by an earlier server on the same port number
	 * would show its ACCEPT before this child has even started */
	unlink(out_path);
	int in[2];
	if (pipe(in) < 0)
		return -1;
	s->stdin_fd = in[1];
	s->pid = fork();
	if (s->pid < 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int devnull = open("/dev/null", O_RDWR);
		if (out < 0 || devnull < 0)
			_exit(1);
		dup2(in[0], 0);
		close(in[1]);
		dup2(out, 1);
		dup2(out, 2);
		/* -rev: answer each line reversed; otherwise print what
		 * arrives (and DONE on close_notify) */
		execlp("openssl", "openssl", "s_server", "-accept", accept_arg, "-cert", cert_path,
		       "-key", key_path, rev ? "-rev" : (char *)NULL, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	/* wait for "ACCEPT" (at most 5 s) */
	for (int i = 0; i < 500; i++) {
		char *text = test_read_file(out_path, NULL);
		int ready = text && strstr(text, "ACCEPT") != NULL;
		free(text);
		if (ready)
			return 0;
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			close(s->stdin_fd);
			return -1;
		}
		struct timespec ms = {0, 10 * 1000000};
		nanosleep(&ms, NULL);
	}
	return -1;
}

/* What s_server printed so far (malloc'd; the caller frees). */
static char *
tls_test_server_output(const struct tls_test_server *s)
{
	char out_path[600];
	snprintf(out_path, sizeof out_path, "%s/s_server.%u.out", tls_test_certs(),
	         (unsigned)s->port);
	return test_read_file(out_path, NULL);
}

static int
tls_test_server_start(struct tls_test_server *s, const char *cert)
{
	return tls_test_server_spawn(s, cert, 1);
}

static void
tls_test_server_stop(struct tls_test_server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
		close(s->stdin_fd);
	}
}

/* A client that sends one line, collects what comes back until `want` is
 * in it, then closes gracefully. */
struct tls_test {
	struct loop *loop;
	struct tls *tls;
	struct loop_timer guard;
	const char *send;
	const char *want;
	char got[80000];
	size_t got_len;
	int connected, readable, drained, closed, free_on_close;
	int manual_read;      /* the test body reads, not the callback */
	int close_after_send; /* tls_close right after the write */
	char error[400];
};

static void
tls_test_event(struct tls *t, enum tls_event ev, void *data)
{
	struct tls_test *s = data;
	switch (ev) {
	case TLS_EV_CONNECTED:
		s->connected++;
		if (!tls_is_open(t))
			printf("    CONNECTED but not open\n");
		if (s->send && tls_write(t, s->send, strlen(s->send)) < 0)
			printf("    tls_write failed: %s\n", tls_error(t));
		if (s->close_after_send)
			tls_close(t);
		break;
	case TLS_EV_READABLE: {
		s->readable++;
		if (s->manual_read)
			break;
		ssize_t n;
		while ((n = tls_read(t, s->got + s->got_len, sizeof s->got - 1 - s->got_len)) > 0)
			s->got_len += (size_t)n;
		s->got[s->got_len] = 0;
		if (s->want && strstr(s->got, s->want))
			tls_close(t);
		break;
	}
	case TLS_EV_DRAINED:
		s->drained++;
		break;
	case TLS_EV_CLOSED:
		s->closed++;
		snprintf(s->error, sizeof s->error, "%s", tls_error(t));
		if (tls_is_open(t))
			printf("    CLOSED but still open\n");
		if (s->free_on_close) {
			tls_free(t); /* from inside its own callback */
			s->tls = NULL;
		}
		loop_stop(s->loop);
		break;
	}
}

static void
tls_test_guard(struct loop *loop, struct loop_timer *t)
{
	(void)t;
	printf("    guard timer: the test took too long\n");
	loop_stop(loop);
}

static void
tls_test_step_done(struct loop *loop, struct loop_timer *t)
{
	(void)t;
	loop_stop(loop);
}

/* Runs the loop for about ms milliseconds. */
static void
tls_test_spin(struct tls_test *s, int64_t ms)
{
	struct loop_timer step;
	loop_timer_init(&step, tls_test_step_done, s);
	loop_timer_start(s->loop, &step, ms);
	loop_run(s->loop);
	loop_timer_stop(s->loop, &step);
}

static void
tls_test_init(struct tls_test *s, int64_t guard_ms)
{
	memset(s, 0, sizeof *s);
	s->loop = loop_new();
	s->tls = tls_new(s->loop, tls_test_event, s);
	loop_timer_init(&s->guard, tls_test_guard, s);
	loop_timer_start(s->loop, &s->guard, guard_ms);
}

static void
tls_test_done(struct tls_test *s)
{
	loop_timer_stop(s->loop, &s->guard);
	tls_free(s->tls);
	loop_free(s->loop); /* runs the deferred release */
	/* let net's lookup threads (for "localhost") let go of their jobs */
	struct timespec ms = {0, 20 * 1000000};
	nanosleep(&ms, NULL);
}

static struct tls_trust *
tls_test_trust(void)
{
	char err[256] = "";
	struct tls_trust *trust = tls_trust_load(tls_test_path("ca.crt"), err, sizeof err);
	if (!trust)
		printf("    trust: %s\n", err);
	return trust;
}

/* Runs one TLS client against s_server presenting cert; fills s. */
static void
tls_test_against(struct tls_test *s, const char *cert, const char *host)
{
	struct tls_test_server srv;
	int started = tls_test_server_start(&srv, cert) == 0;
	CHECK(started);
	struct tls_trust *trust = tls_test_trust();
	CHECK(trust != NULL);
	tls_test_init(s, 10000);
	if (started && trust) {
		CHECK_INT(tls_connect(s->tls, host, srv.port, trust, 5000), 0);
		CHECK_INT(loop_run(s->loop), 0);
	}
	tls_test_done(s);
	tls_test_server_stop(&srv);
	tls_trust_free(trust);
}

/* ---- trust anchors */

TEST(tls_trust_load_system_bundle)
{
	char err[256] = "";
	struct tls_trust *trust =
	        tls_trust_load("/etc/ssl/certs/ca-certificates.crt", err, sizeof err);
	CHECK(trust != NULL);
	CHECK_STR(err, "");
	/* Debian ships well over a hundred roots */
	CHECK(tls_trust_count(trust) > 100);
	tls_trust_free(trust);
}

TEST(tls_trust_load_errors)
{
	char err[256] = "";
	CHECK(tls_trust_load("/nonexistent/ca.pem", err, sizeof err) == NULL);
	CHECK_STR(err, "cannot open /nonexistent/ca.pem: No such file or directory");

	const char *path = test_write_file("empty.pem", "just some text\n");
	CHECK(tls_trust_load(path, err, sizeof err) == NULL);
	char want[600];
	snprintf(want, sizeof want, "cannot load trust anchors from %s: no certificate in the file",
	         path);
	CHECK_STR(err, want);

	path = test_write_file("broken.pem", "-----BEGIN CERTIFICATE-----\n"
	                                     "!!!not base64!!!\n"
	                                     "-----END CERTIFICATE-----\n");
	CHECK(tls_trust_load(path, err, sizeof err) == NULL);
	snprintf(want, sizeof want, "cannot load trust anchors from %s: invalid PEM", path);
	CHECK_STR(err, want);
}

TEST(tls_trust_load_alloc_failures)
{
	/* every allocation of a load fails in turn: NULL with a message,
	 * never a crash or a leak (ASan checks the leaks) */
	const char *ca = tls_test_path("ca.crt");
	for (long n = 0; n < 100; n++) {
		char err[256] = "";
		mem_fail_after(n);
		struct tls_trust *trust = tls_trust_load(ca, err, sizeof err);
		mem_fail_after(-1);
		if (trust) {
			CHECK_INT(tls_trust_count(trust), 1);
			tls_trust_free(trust);
			break;
		}
		CHECK(strstr(err, "out of memory") != NULL);
	}
}

/* ---- against openssl s_server */

TEST(tls_sserver_valid_roundtrip)
{
	struct tls_test s;
	s.send = NULL;
	struct tls_test_server srv;
	int started = tls_test_server_start(&srv, "good.crt") == 0;
	CHECK(started);
	struct tls_trust *trust = tls_test_trust();
	tls_test_init(&s, 10000);
	/* s_server -rev answers each line reversed */
	s.send = "hello agora\n";
	s.want = "aroga olleh";
	CHECK_INT(tls_connect(s.tls, "localhost", srv.port, trust, 5000), 0);
	CHECK_INT(s.connected, 0); /* events only from the loop */
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.connected, 1);
	CHECK(s.readable >= 1);
	CHECK_INT(s.drained, 1);
	CHECK_INT(s.closed, 1);
	CHECK_STR(s.got, "aroga olleh\n");
	CHECK_STR(s.error, ""); /* our own graceful close */
	CHECK(!tls_is_open(s.tls));
	CHECK_INT(tls_read(s.tls, s.got, sizeof s.got), -1);
	CHECK_INT(tls_write(s.tls, "x", 1), -1);
	/* the server's own account of the session: TLS 1.2, and with AES-NI
	 * the AES-128-GCM suite we offer first (s_server follows the client's
	 * order) */
	char *out = tls_test_server_output(&srv);
	CHECK(out && strstr(out, "Protocol version: TLSv1.2"));
	if (br_aes_x86ni_ctr_get_vtable() && br_ghash_pclmul_get())
		CHECK(out && strstr(out, "Ciphersuite: ECDHE-ECDSA-AES128-GCM-SHA256"));
	free(out);

	/* the same stream connects again, and a second exchange works */
	s.connected = s.closed = 0;
	s.got_len = 0;
	s.got[0] = 0;
	s.send = "second\n";
	s.want = "dnoces";
	CHECK_INT(tls_connect(s.tls, "localhost", srv.port, trust, 5000), 0);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.connected, 1);
	CHECK_INT(s.closed, 1);
	CHECK(strstr(s.got, "dnoces") != NULL);

	/* 64 KB in 64 lines: several records each way, the send queue
	 * feeding the engine in pieces */
	static char lines[64 * 1000 + 1], want[64 * 1000 + 1];
	for (int i = 0; i < 64; i++) {
		char *l = lines + i * 1000, *w = want + i * 1000;
		for (int k = 0; k < 999; k++)
			l[k] = (char)('A' + (i + k * 7) % 26);
		l[999] = '\n';
		for (int k = 0; k < 999; k++)
			w[k] = l[998 - k];
		w[999] = '\n';
	}
	s.connected = s.closed = s.drained = 0;
	s.got_len = 0;
	s.got[0] = 0;
	s.send = lines;
	s.want = want;
	CHECK_INT(tls_connect(s.tls, "localhost", srv.port, trust, 5000), 0);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.connected, 1);
	CHECK_INT(s.drained, 1);
	CHECK_INT(s.closed, 1);
	CHECK_INT(s.got_len, 64000);
	CHECK(strcmp(s.got, want) == 0);
	CHECK_STR(s.error, "");
	tls_test_done(&s);
	tls_test_server_stop(&srv);
	tls_trust_free(trust);
}

TEST(tls_sserver_unknown_ca_refused)
{
	struct tls_test s;
	tls_test_against(&s, "untrusted.crt", "localhost");
	CHECK_INT(s.connected, 0);
	CHECK_INT(s.closed, 1);
	CHECK_STR(s.error, "certificate not trusted (unknown CA)");
}

TEST(tls_sserver_wrong_host_refused)
{
	struct tls_test s;
	tls_test_against(&s, "wrongname.crt", "localhost");
	CHECK_INT(s.connected, 0);
	CHECK_INT(s.closed, 1);
	CHECK_STR(s.error, "certificate does not match host name localhost");
}

TEST(tls_sserver_expired_refused)
{
	struct tls_test s;
	tls_test_against(&s, "expired.crt", "localhost");
	CHECK_INT(s.connected, 0);
	CHECK_INT(s.closed, 1);
	CHECK_STR(s.error, "certificate expired or not yet valid");
}

TEST(tls_free_inside_closed_callback)
{
	struct tls_test s;
	struct tls_test_server srv;
	int started = tls_test_server_start(&srv, "untrusted.crt") == 0;
	CHECK(started);
	struct tls_trust *trust = tls_test_trust();
	tls_test_init(&s, 10000);
	s.free_on_close = 1;
	CHECK_INT(tls_connect(s.tls, "localhost", srv.port, trust, 5000), 0);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.closed, 1);
	CHECK(s.tls == NULL);
	tls_test_done(&s); /* tls_free(NULL) is fine */
	tls_test_server_stop(&srv);
	tls_trust_free(trust);
}

/* ---- a peer that accepts TCP and never answers */

/* Reads what the client sent into a listening socket's first connection.
 * The bytes wait in the kernel even after the client went away. */
static size_t
tls_test_collect(int lfd, unsigned char *out, size_t cap)
{
	int fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		return 0;
	size_t len = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	while (len < cap && poll(&p, 1, 200) > 0) {
		ssize_t n = read(fd, out + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	return len;
}

TEST(tls_handshake_timeout_silent_peer)
{
	uint16_t port;
	int lfd = test_listen(&port);
	CHECK(lfd >= 0);
	struct tls_trust *trust = tls_test_trust();
	struct tls_test s;
	tls_test_init(&s, 5000);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(tls_connect(s.tls, "127.0.0.1", port, trust, 300), 0);
	CHECK_INT(loop_run(s.loop), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK_INT(s.connected, 0);
	CHECK_INT(s.closed, 1);
	char want[128];
	snprintf(want, sizeof want, "TLS handshake with 127.0.0.1:%u timed out after 300 ms",
	         (unsigned)port);
	CHECK_STR(s.error, want);
	CHECK(ms >= 299 && ms < 2000); /* ms clock: up to 1 ms of rounding */
	tls_test_done(&s);
	close(lfd);
	tls_trust_free(trust);
}

/* The cipher suites of a ClientHello record (RFC 5246 7.4.1.2), in order. */
static size_t
tls_test_hello_suites(const unsigned char *b, size_t len, uint16_t *out, size_t cap)
{
	/* record: type 22 (handshake), version, length; then handshake type 1
	 * (client_hello), 3-byte length, version, 32 random bytes */
	if (len < 5 + 4 + 2 + 32 + 1 || b[0] != 22 || b[5] != 1)
		return 0;
	size_t p = 5 + 4 + 2 + 32;
	p += 1 + b[p]; /* session id */
	if (p + 2 > len)
		return 0;
	size_t suites_len = (size_t)b[p] << 8 | b[p + 1];
	p += 2;
	size_t n = 0;
	for (size_t i = 0; i + 1 < suites_len && p + i + 1 < len && n < cap; i += 2)
		out[n++] = (uint16_t)(b[p + i] << 8 | b[p + i + 1]);
	return n;
}

static int
tls_test_index(const uint16_t *list, size_t n, uint16_t a, uint16_t b)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == a || list[i] == b)
			return (int)i;
	return -1;
}

TEST(tls_client_hello_offers_aes_gcm_first)
{
	uint16_t port;
	int lfd = test_listen(&port);
	struct tls_trust *trust = tls_test_trust();
	struct tls_test s;
	tls_test_init(&s, 5000);
	CHECK_INT(tls_connect(s.tls, "localhost", port, trust, 200), 0);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.closed, 1);
	unsigned char hello[4096];
	size_t len = tls_test_collect(lfd, hello, sizeof hello);
	uint16_t suites[128];
	size_t n = tls_test_hello_suites(hello, len, suites, 128);
	CHECK(n >= 10);
	int aes = tls_test_index(suites, n, BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	                         BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
	int chacha = tls_test_index(suites, n, BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	                            BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256);
	CHECK(aes >= 0);
	CHECK(chacha >= 0);
	if (br_aes_x86ni_ctr_get_vtable() && br_ghash_pclmul_get()) {
		CHECK_INT(aes, 0); /* AES-NI here: AES-128-GCM leads */
		CHECK(aes < chacha);
	} else {
		CHECK(chacha < aes); /* software: BearSSL's order stays */
	}
	/* the SNI extension carries the host name (RFC 6066 3) */
	int sni = 0;
	for (size_t i = 0; i + 9 <= len; i++)
		sni |= memcmp(hello + i, "localhost", 9) == 0;
	CHECK(sni);
	tls_test_done(&s);
	close(lfd);
	tls_trust_free(trust);
}

/* A listening socket on 127.0.0.1:port (SO_REUSEADDR: the port was a
 * server's a moment ago); -1 on error. */
static int
tls_test_listen_at(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 8) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The session id length a stream offers in its ClientHello to
 * localhost:port, captured by a socket that never answers; -1 when no
 * ClientHello came. */
static int
tls_test_offered_session(struct tls_trust *trust, int lfd, uint16_t port)
{
	struct tls_test s;
	tls_test_init(&s, 5000);
	CHECK_INT(tls_connect(s.tls, "localhost", port, trust, 200), 0);
	CHECK_INT(loop_run(s.loop), 0);
	unsigned char hello[4096];
	size_t len = tls_test_collect(lfd, hello, sizeof hello);
	tls_test_done(&s);
	/* record header 5, handshake header 4, version 2, random 32 */
	if (len < 5 + 4 + 2 + 32 + 1 || hello[0] != 22 || hello[5] != 1)
		return -1;
	return hello[5 + 4 + 2 + 32];
}

/* Session resumption (RFC 5246 7.3): the second connection to the same
 * host and port resumes the first one's session;
 * another port is offered nothing; an impostor on the same port, which
 * cannot know the session, gets a full handshake and its certificate is
 * refused, after which the session is not offered again. */
TEST(tls_sserver_session_resumed_for_its_host_and_port)
{
	struct tls_test_server srv;
	int started = tls_test_server_start(&srv, "good.crt") == 0;
	CHECK(started);
	struct tls_trust *trust = tls_test_trust();
	struct tls_test s;
	tls_test_init(&s, 10000);
	uint16_t port = srv.port;
	s.send = "first\n";
	s.want = "tsrif";
	CHECK_INT(tls_connect(s.tls, "localhost", port, trust, 5000), 0);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.connected, 1);
	CHECK_INT(tls_resumed(s.tls), 0);
	CHECK(strstr(s.got, "tsrif") != NULL);

	s.connected = s.closed = 0;
	s.got_len = 0;
	s.got[0] = 0;
	s.send = "second\n";
	s.want = "dnoces";
	CHECK_INT(tls_connect(s.tls, "localhost", port, trust, 5000), 0);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.connected, 1);
	CHECK_INT(tls_resumed(s.tls), 1);
	/* an abbreviated handshake completes only when both sides hold the
	 * first one's master secret (its Finished messages are keyed by it) */
	CHECK(strstr(s.got, "dnoces") != NULL);
	tls_test_done(&s);

	/* another port: no session offered */
	uint16_t other;
	int lfd = test_listen(&other);
	CHECK(lfd >= 0);
	if (lfd >= 0) {
		CHECK_INT(tls_test_offered_session(trust, lfd, other), 0);
		close(lfd);
	}

	/* an impostor (a certificate from another CA) on the same port */
	tls_test_server_stop(&srv);
	started = tls_test_server_spawn_at(&srv, "untrusted.crt", 1, port) == 0;
	CHECK(started);
	tls_test_init(&s, 10000);
	s.send = "x\n";
	s.want = "x";
	CHECK_INT(tls_connect(s.tls, "localhost", port, trust, 5000), 0);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.connected, 0);
	CHECK_INT(s.closed, 1);
	CHECK_STR(s.error, "certificate not trusted (unknown CA)");
	CHECK_INT(tls_resumed(s.tls), 0);
	tls_test_done(&s);
	tls_test_server_stop(&srv);

	/* ... and the session is forgotten */
	lfd = tls_test_listen_at(port);
	CHECK(lfd >= 0);
	if (lfd >= 0) {
		CHECK_INT(tls_test_offered_session(trust, lfd, port), 0);
		close(lfd);
	}
	tls_trust_free(trust);
}

/* The control for the test above: a cached session is offered (a
 * 32-byte session id in the ClientHello) to its own host and port. */
TEST(tls_sserver_session_offered_to_its_port)
{
	struct tls_test_server srv;
	int started = tls_test_server_start(&srv, "good.crt") == 0;
	CHECK(started);
	struct tls_trust *trust = tls_test_trust();
	struct tls_test s;
	tls_test_init(&s, 10000);
	uint16_t port = srv.port;
	s.send = "a\n";
	s.want = "a";
	CHECK_INT(tls_connect(s.tls, "localhost", port, trust, 5000), 0);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.connected, 1);
	tls_test_done(&s);
	tls_test_server_stop(&srv);
	int lfd = tls_test_listen_at(port);
	CHECK(lfd >= 0);
	if (lfd >= 0) {
		CHECK_INT(tls_test_offered_session(trust, lfd, port), 32);
		close(lfd);
	}
	tls_trust_free(trust);
}

/* ---- errors before TLS starts */

TEST(tls_connect_refused_and_bad_args)
{
	uint16_t port;
	int lfd = test_listen(&port);
	close(lfd);
	struct tls_trust *trust = tls_test_trust();
	struct tls_test s;
	tls_test_init(&s, 5000);
	CHECK_INT(tls_connect(s.tls, "127.0.0.1", port, trust, 2000), 0);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.closed, 1);
	char want[128];
	snprintf(want, sizeof want, "connect to 127.0.0.1:%u: Connection refused", (unsigned)port);
	CHECK_STR(s.error, want);

	CHECK_INT(tls_connect(s.tls, "", 443, trust, 1000), -1);
	CHECK_INT(tls_connect(s.tls, "example.com", 0, trust, 1000), -1);
	CHECK_INT(tls_connect(s.tls, "example.com", 443, trust, 0), -1);

	/* a bad name comes back as an event with net's sentence */
	s.closed = 0;
	CHECK_INT(tls_connect(s.tls, "nosuch.invalid", 443, trust, 5000), 0);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.closed, 1);
	CHECK(strncmp(s.error, "cannot resolve nosuch.invalid: ", 31) == 0);
	tls_test_done(&s);
	tls_trust_free(trust);
}

/* ---- plain mode (trust == NULL) against an in-process echo peer */

struct tls_test_echo {
	int lfd, fd;
	struct loop_watch lw, w;
	int close_after; /* bytes after which the peer closes */
	size_t echoed;
};

static void
tls_test_echo_io(struct loop *loop, struct loop_watch *w, short revents)
{
	(void)revents;
	struct tls_test_echo *e = w->data;
	char b[512];
	ssize_t n = read(e->fd, b, sizeof b);
	if (n <= 0) {
		loop_watch_stop(loop, w);
		close(e->fd);
		e->fd = -1;
		return;
	}
	if (write(e->fd, b, (size_t)n) != n)
		printf("    echo write short\n");
	e->echoed += (size_t)n;
	if (e->close_after && e->echoed >= (size_t)e->close_after) {
		loop_watch_stop(loop, w);
		close(e->fd);
		e->fd = -1;
	}
}

static void
tls_test_echo_accept(struct loop *loop, struct loop_watch *w, short revents)
{
	(void)revents;
	struct tls_test_echo *e = w->data;
	e->fd = accept(e->lfd, NULL, NULL);
	if (e->fd >= 0) {
		loop_watch_init(&e->w, tls_test_echo_io, e);
		loop_watch_start(loop, &e->w, e->fd, POLLIN);
	}
	loop_watch_stop(loop, w);
}

TEST(tls_plain_mode_roundtrip)
{
	struct tls_test_echo e;
	memset(&e, 0, sizeof e);
	uint16_t port;
	e.lfd = test_listen(&port);
	e.fd = -1;
	struct tls_test s;
	tls_test_init(&s, 5000);
	loop_watch_init(&e.lw, tls_test_echo_accept, &e);
	loop_watch_start(s.loop, &e.lw, e.lfd, POLLIN);
	s.send = "plain bytes";
	s.want = "plain bytes";
	CHECK_INT(tls_connect(s.tls, "127.0.0.1", port, NULL, 2000), 0);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.connected, 1);
	CHECK_INT(s.drained, 1);
	CHECK_INT(s.closed, 1);
	CHECK_STR(s.got, "plain bytes");
	CHECK_STR(s.error, "");
	CHECK_INT(tls_pending(s.tls), 0);

	/* the peer closes after echoing: CLOSED with no error, and only
	 * after every byte was read */
	s.connected = s.closed = s.drained = 0;
	s.got_len = 0;
	s.got[0] = 0;
	s.want = NULL;
	s.send = "bye";
	e.close_after = 3;
	e.echoed = 0;
	if (e.fd >= 0) {
		loop_watch_stop(s.loop, &e.w);
		close(e.fd);
		e.fd = -1;
	}
	loop_watch_start(s.loop, &e.lw, e.lfd, POLLIN);
	CHECK_INT(tls_connect(s.tls, "127.0.0.1", port, NULL, 2000), 0);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.closed, 1);
	CHECK_STR(s.got, "bye");
	CHECK_STR(s.error, "");

	/* a large write is queued, sent in pieces and echoed whole */
	static char big[300000], back[300000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)('a' + i % 26);
	loop_watch_stop(s.loop, &e.w);
	if (e.fd >= 0)
		close(e.fd);
	e.fd = -1;
	e.close_after = 0;
	e.echoed = 0;
	loop_watch_start(s.loop, &e.lw, e.lfd, POLLIN);
	CHECK_INT(tls_connect(s.tls, "127.0.0.1", port, NULL, 2000), 0);
	s.send = NULL;
	s.closed = 0;
	/* run until connected: the guard stops the loop if it never is */
	s.manual_read = 1;
	for (int i = 0; i < 200 && !tls_is_open(s.tls) && !s.closed; i++)
		tls_test_spin(&s, 5);
	CHECK(tls_is_open(s.tls));
	/* past the queue's bound: refused whole, with a reason */
	char *huge = calloc(1, (size_t)TLS_SEND_MAX + 1);
	CHECK_INT(tls_write(s.tls, huge, (size_t)TLS_SEND_MAX + 1), -1);
	CHECK_STR(tls_error(s.tls), "send queue full (0 bytes queued)");
	free(huge);
	CHECK_INT(tls_write(s.tls, big, sizeof big), 0);
	size_t got = 0;
	for (int i = 0; i < 400 && got < sizeof back; i++) {
		tls_test_spin(&s, 5);
		ssize_t n;
		while ((n = tls_read(s.tls, back + got, sizeof back - got)) > 0)
			got += (size_t)n;
	}
	CHECK_INT(got, sizeof big);
	CHECK(memcmp(big, back, sizeof big) == 0);
	CHECK_INT(tls_pending(s.tls), 0);
	tls_abort(s.tls);
	CHECK(!tls_is_open(s.tls));

	loop_watch_stop(s.loop, &e.lw);
	loop_watch_stop(s.loop, &e.w);
	if (e.fd >= 0)
		close(e.fd);
	close(e.lfd);
	tls_test_done(&s);
}

/* tls_close right after tls_write: the queued bytes still go out first. */
struct tls_test_sink {
	int lfd, fd;
	char got[64];
	size_t len;
	int eof;
};

static void
tls_test_sink_io(struct loop *loop, struct loop_watch *w, short revents)
{
	(void)revents;
	struct tls_test_sink *k = w->data;
	if (k->fd < 0) {
		k->fd = accept(k->lfd, NULL, NULL);
		if (k->fd >= 0)
			loop_watch_start(loop, w, k->fd, POLLIN);
		return;
	}
	ssize_t n = read(k->fd, k->got + k->len, sizeof k->got - 1 - k->len);
	if (n > 0) {
		k->len += (size_t)n;
		return;
	}
	k->eof = 1;
	loop_watch_stop(loop, w);
	close(k->fd);
	k->fd = -1;
}

TEST(tls_plain_close_flushes_queue)
{
	struct tls_test_sink k;
	memset(&k, 0, sizeof k);
	uint16_t port;
	k.lfd = test_listen(&port);
	k.fd = -1;
	struct tls_test s;
	tls_test_init(&s, 5000);
	struct loop_watch w;
	loop_watch_init(&w, tls_test_sink_io, &k);
	loop_watch_start(s.loop, &w, k.lfd, POLLIN);
	s.send = "last words";
	s.close_after_send = 1;
	CHECK_INT(tls_connect(s.tls, "127.0.0.1", port, NULL, 2000), 0);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.closed, 1);
	CHECK_STR(s.error, "");
	/* let the sink see the bytes and the end */
	for (int i = 0; i < 100 && !k.eof; i++)
		tls_test_spin(&s, 5);
	CHECK(k.eof);
	CHECK_STR(k.got, "last words");
	loop_watch_stop(s.loop, &w);
	close(k.lfd);
	tls_test_done(&s);
}

TEST(tls_sserver_close_sends_queue_then_close_notify)
{
	struct tls_test_server srv;
	int started = tls_test_server_spawn(&srv, "good.crt", 0) == 0;
	CHECK(started);
	struct tls_trust *trust = tls_test_trust();
	struct tls_test s;
	tls_test_init(&s, 10000);
	s.send = "last words over tls\n";
	s.close_after_send = 1;
	CHECK_INT(tls_connect(s.tls, "localhost", srv.port, trust, 5000), 0);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.connected, 1);
	CHECK_INT(s.closed, 1);
	CHECK_STR(s.error, "");
	/* s_server prints what it received, then DONE when it reads our
	 * close_notify (SSL_ERROR_ZERO_RETURN) */
	char *out = NULL;
	for (int i = 0; i < 200; i++) {
		free(out);
		out = tls_test_server_output(&srv);
		if (out && strstr(out, "DONE"))
			break;
		struct timespec ms = {0, 10 * 1000000};
		nanosleep(&ms, NULL);
	}
	CHECK(out && strstr(out, "last words over tls\n"));
	CHECK(out && strstr(out, "DONE"));
	if (out && strstr(out, "last words") && strstr(out, "DONE"))
		CHECK(strstr(out, "last words") < strstr(out, "DONE"));
	free(out);
	tls_test_done(&s);
	tls_test_server_stop(&srv);
	tls_trust_free(trust);
}

/* A lookup that hangs: the deadline covers resolving too. */
static atomic_int tls_test_release_lookup;

static int
tls_test_stuck_resolver(const char *host, const char *service, const struct addrinfo *hints,
                        struct addrinfo **res)
{
	(void)host;
	while (!atomic_load(&tls_test_release_lookup)) {
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
	struct addrinfo h = *hints;
	h.ai_flags |= AI_NUMERICHOST;
	return getaddrinfo("127.0.0.1", service, &h, res);
}

TEST(tls_timeout_while_resolving)
{
	struct tls_test s;
	tls_test_init(&s, 5000);
	atomic_store(&tls_test_release_lookup, 0);
	net_set_resolver(tls_test_stuck_resolver);
	CHECK_INT(tls_connect(s.tls, "stuck.example", 443, NULL, 100), 0);
	net_set_resolver(NULL);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.closed, 1);
	CHECK_STR(s.error, "resolving stuck.example timed out after 100 ms");
	atomic_store(&tls_test_release_lookup, 1);
	/* the abandoned lookup thread cleans up after itself */
	for (int i = 0; i < 500 && net_jobs_alive() > 0; i++)
		tls_test_spin(&s, 2);
	CHECK_INT(net_jobs_alive(), 0);
	tls_test_done(&s);
}
