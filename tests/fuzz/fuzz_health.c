/* fuzz_health — arbitrary bytes sent to the health listener, through its
 * public API over a real loopback connection, as `agora --healthcheck` (or
 * anything else on the host) would.
 *
 * Input: byte 0 holds flags (bit 0: the check says healthy; bit 1: the
 * check answers on the next loop iteration instead of at once), the rest is
 * what the peer sends before closing its side. Besides memory errors
 * (ASan), the fuzzer fails when the listener answers something that is not
 * an HTTP/1.x status line, or answers 200 when the check said unhealthy. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_peer.h"
#include "health.h"
#include "loop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct check_state {
	struct loop *loop;
	int healthy, later;
	struct loop_timer timer;
	health_answer_fn *answer;
	void *conn;
	int checks;
};

static void
on_later(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct check_state *s = t->data;
	if (s->answer)
		s->answer(s->conn, s->healthy, "Status: fuzz");
	s->answer = NULL;
}

static void
check(void *data, health_answer_fn *answer, void *conn)
{
	struct check_state *s = data;
	s->checks++;
	if (!s->later) {
		answer(conn, s->healthy, "Status: fuzz");
		return;
	}
	s->answer = answer;
	s->conn = conn;
	loop_timer_start(s->loop, &s->timer, 0);
}

static void
on_eof(struct fuzz_peer *p)
{
	loop_stop(p->loop);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct loop *loop = loop_new();
	if (!loop)
		return 0;
	struct check_state s = {loop, data[0] & 1, (data[0] & 2) != 0, {0}, NULL, NULL, 0};
	loop_timer_init(&s.timer, on_later, &s);
	char err[200];
	struct health *h = health_new(loop, 0, check, &s, err, sizeof err);
	if (!h) {
		loop_free(loop);
		return 0;
	}
	struct fuzz_peer p;
	fuzz_peer_init(&p, loop);
	p.on_eof = on_eof;
	p.shut_when_sent = 1;
	buf_append(&p.out, data + 1, size - 1);
	if (fuzz_peer_connect(&p, health_port(h)) == 0)
		loop_run(loop);
	if (p.in.len) {
		if (p.in.len < 9 || memcmp(p.in.data, "HTTP/1.", 7) != 0)
			abort();
		if (!s.healthy && memcmp(p.in.data + 9, "200", 3) == 0)
			abort();
	}
	fuzz_peer_free(&p);
	health_free(h);
	loop_timer_stop(loop, &s.timer);
	if (s.answer) /* the listener is gone: answering now must be harmless */
		s.answer = NULL;
	loop_free(loop);
	return 0;
}
