/* test_loop — timers, watchers, signals and deferred calls of src/loop.c. */
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "mem.h"
#include "test.h"

/* ---- timers fire in due order, each no earlier than its delay */

struct fired {
	int order[8];
	int64_t at[8];
	int count;
	int64_t start;
};

struct tagged_timer {
	struct loop_timer timer;
	struct fired *log;
	int tag;
};

static int64_t
test_loop_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
record_fire(struct loop *loop, struct loop_timer *t)
{
	struct tagged_timer *tt = t->data;
	struct fired *log = tt->log;
	if (log->count < 8) {
		log->order[log->count] = tt->tag;
		log->at[log->count] = test_loop_clock() - log->start;
		log->count++;
	}
	if (log->count == 4)
		loop_stop(loop);
}

TEST(loop_timers_fire_in_order)
{
	struct loop *loop = loop_new();
	CHECK(loop != NULL);
	struct fired log = {.count = 0};
	/* started out of order: 60, 10, 40, 20 ms */
	static const int delays[4] = {60, 10, 40, 20};
	struct tagged_timer t[4];
	log.start = test_loop_clock();
	for (int i = 0; i < 4; i++) {
		t[i].log = &log;
		t[i].tag = delays[i];
		loop_timer_init(&t[i].timer, record_fire, &t[i]);
		CHECK_INT(loop_timer_start(loop, &t[i].timer, delays[i]), 0);
		CHECK(loop_timer_active(&t[i].timer));
	}
	CHECK_INT(loop_run(loop), 0);
	CHECK_INT(log.count, 4);
	CHECK_INT(log.order[0], 10);
	CHECK_INT(log.order[1], 20);
	CHECK_INT(log.order[2], 40);
	CHECK_INT(log.order[3], 60);
	for (int i = 0; i < 4; i++) {
		/* never early (but for the rounding of a ms clock); late by
		 * less than a generous slack for a busy machine */
		CHECK(log.at[i] >= log.order[i] - 1);
		CHECK(log.at[i] < log.order[i] + 500);
		CHECK(!loop_timer_active(&t[i].timer));
	}
	loop_free(loop);
}

/* ---- a timer restarts itself; another stops a timer due in the same round */

struct restart_state {
	struct loop_timer repeat, stopper, victim, end;
	int repeats, victim_fired;
};

static void
on_repeat(struct loop *loop, struct loop_timer *t)
{
	struct restart_state *s = t->data;
	/* restart with delay 0 from its own callback: must wait for the next
	 * iteration, not spin in this one */
	if (++s->repeats < 5)
		loop_timer_start(loop, t, 0);
}

static void
on_stopper(struct loop *loop, struct loop_timer *t)
{
	struct restart_state *s = t->data;
	loop_timer_stop(loop, &s->victim);
}

static void
on_victim(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct restart_state *s = t->data;
	s->victim_fired++;
}

static void
on_end(struct loop *loop, struct loop_timer *t)
{
	(void)t;
	loop_stop(loop);
}

TEST(loop_timer_restart_and_stop_from_callbacks)
{
	struct loop *loop = loop_new();
	struct restart_state s = {.repeats = 0};
	loop_timer_init(&s.repeat, on_repeat, &s);
	loop_timer_init(&s.stopper, on_stopper, &s);
	loop_timer_init(&s.victim, on_victim, &s);
	loop_timer_init(&s.end, on_end, &s);
	loop_timer_start(loop, &s.repeat, 0);
	/* stopper and victim are due at the same time; the stopper was
	 * started first and the heap keeps equal keys... either order is
	 * allowed, so make the victim strictly later but in the same round */
	loop_timer_start(loop, &s.stopper, 5);
	loop_timer_start(loop, &s.victim, 6);
	loop_timer_start(loop, &s.end, 50);
	/* sleep so that stopper and victim are both due at the first poll */
	usleep(20 * 1000);
	CHECK_INT(loop_run(loop), 0);
	CHECK_INT(s.repeats, 5);
	CHECK_INT(s.victim_fired, 0);
	CHECK(!loop_timer_active(&s.victim));

	/* restart: a stopped timer can be started again and fires */
	loop_timer_start(loop, &s.victim, 1);
	loop_timer_start(loop, &s.end, 30);
	CHECK_INT(loop_run(loop), 0);
	CHECK_INT(s.victim_fired, 1);

	/* restarting an active timer moves its deadline */
	struct loop_timer later;
	loop_timer_init(&later, on_victim, &s);
	loop_timer_start(loop, &later, 10);
	loop_timer_start(loop, &later, 1000);
	loop_timer_start(loop, &s.end, 40);
	CHECK_INT(loop_run(loop), 0);
	CHECK_INT(s.victim_fired, 1);
	CHECK(loop_timer_active(&later));
	loop_timer_stop(loop, &later);
	loop_timer_stop(loop, &later); /* harmless twice */
	CHECK(!loop_timer_active(&later));
	loop_free(loop);
}

/* ---- many timers in random order come out sorted (heap check) */

struct sorted_state {
	struct loop_timer timers[200];
	int64_t last_due;
	int fired, out_of_order;
};

static void
on_sorted(struct loop *loop, struct loop_timer *t)
{
	struct sorted_state *s = t->data;
	if (t->due_ms < s->last_due)
		s->out_of_order++;
	s->last_due = t->due_ms;
	if (++s->fired == 150)
		loop_stop(loop);
}

TEST(loop_timer_heap_many)
{
	struct loop *loop = loop_new();
	static struct sorted_state s;
	memset(&s, 0, sizeof s);
	uint32_t seed = 12345;
	for (int i = 0; i < 200; i++) {
		seed = seed * 1103515245u + 12345u;
		loop_timer_init(&s.timers[i], on_sorted, &s);
		loop_timer_start(loop, &s.timers[i], (seed >> 16) % 40);
	}
	/* stop 50 of them at arbitrary heap positions */
	for (int i = 0; i < 200; i += 4)
		loop_timer_stop(loop, &s.timers[i]);
	CHECK_INT(loop_run(loop), 0);
	CHECK_INT(s.fired, 150);
	CHECK_INT(s.out_of_order, 0);
	for (int i = 0; i < 200; i++)
		CHECK(!loop_timer_active(&s.timers[i]));
	loop_free(loop);
}

/* ---- watchers on pipes */

struct pipe_state {
	int p1[2], p2[2];
	struct loop_watch w1, w2;
	int w1_calls, w2_calls;
	char got[16];
	struct loop_timer end;
};

static void
on_w1_reads(struct loop *loop, struct loop_watch *w, short revents)
{
	struct pipe_state *s = w->data;
	s->w1_calls++;
	if (revents & POLLIN) {
		ssize_t n = read(w->fd, s->got, sizeof s->got - 1);
		if (n > 0)
			s->got[n] = 0;
	}
	loop_watch_stop(loop, w);
	loop_stop(loop);
}

TEST(loop_watch_pipe)
{
	struct loop *loop = loop_new();
	struct pipe_state s;
	memset(&s, 0, sizeof s);
	CHECK_INT(pipe(s.p1), 0);
	loop_watch_init(&s.w1, on_w1_reads, &s);
	CHECK_INT(loop_watch_start(loop, &s.w1, s.p1[0], POLLIN), 0);
	CHECK(s.w1.slot >= 0);
	CHECK_INT(write(s.p1[1], "hello", 5), 5);
	CHECK_INT(loop_run(loop), 0);
	CHECK_INT(s.w1_calls, 1);
	CHECK_STR(s.got, "hello");
	CHECK_INT(s.w1.slot, -1);

	/* a write end watched for POLLOUT is writable at once */
	CHECK_INT(loop_watch_start(loop, &s.w1, s.p1[1], POLLOUT), 0);
	s.got[0] = 0;
	CHECK_INT(loop_run(loop), 0);
	CHECK_INT(s.w1_calls, 2);
	close(s.p1[0]);
	close(s.p1[1]);
	loop_free(loop);
}

/* Both pipes are readable in the same poll; whichever watcher runs first
 * stops the other, which must then not be called with the stale revents. */
static void
on_stop_other(struct loop *loop, struct loop_watch *w, short revents)
{
	(void)revents;
	struct pipe_state *s = w->data;
	if (w == &s->w1) {
		s->w1_calls++;
		loop_watch_stop(loop, &s->w2);
	} else {
		s->w2_calls++;
		loop_watch_stop(loop, &s->w1);
	}
	loop_watch_stop(loop, w);
}

/* Stops the other watcher, then restarts it on the same fd: its fresh
 * registration must not inherit the events polled before. */
static void
on_stop_restart_other(struct loop *loop, struct loop_watch *w, short revents)
{
	(void)revents;
	struct pipe_state *s = w->data;
	struct loop_watch *other = w == &s->w1 ? &s->w2 : &s->w1;
	if (w == &s->w1)
		s->w1_calls++;
	else
		s->w2_calls++;
	if (s->w1_calls + s->w2_calls == 1) {
		int fd = other->fd;
		loop_watch_stop(loop, other);
		loop_watch_start(loop, other, fd, POLLIN);
	}
}

static void
on_end_loop(struct loop *loop, struct loop_timer *t)
{
	(void)t;
	loop_stop(loop);
}

TEST(loop_watch_stop_during_dispatch)
{
	struct loop *loop = loop_new();
	struct pipe_state s;
	memset(&s, 0, sizeof s);
	CHECK_INT(pipe(s.p1), 0);
	CHECK_INT(pipe(s.p2), 0);
	loop_watch_init(&s.w1, on_stop_other, &s);
	loop_watch_init(&s.w2, on_stop_other, &s);
	loop_watch_start(loop, &s.w1, s.p1[0], POLLIN);
	loop_watch_start(loop, &s.w2, s.p2[0], POLLIN);
	CHECK_INT(write(s.p1[1], "x", 1), 1);
	CHECK_INT(write(s.p2[1], "y", 1), 1);
	loop_timer_init(&s.end, on_end_loop, &s);
	loop_timer_start(loop, &s.end, 30);
	CHECK_INT(loop_run(loop), 0);
	/* exactly one of them ran, once */
	CHECK_INT(s.w1_calls + s.w2_calls, 1);

	/* stop + restart of the other inside dispatch: the restarted watcher
	 * runs in a later iteration (its pipe is still readable), not now */
	s.w1_calls = s.w2_calls = 0;
	loop_watch_init(&s.w1, on_stop_restart_other, &s);
	loop_watch_init(&s.w2, on_stop_restart_other, &s);
	loop_watch_start(loop, &s.w1, s.p1[0], POLLIN);
	loop_watch_start(loop, &s.w2, s.p2[0], POLLIN);
	loop_timer_start(loop, &s.end, 20);
	CHECK_INT(loop_run(loop), 0);
	/* both pipes stay readable, so both fire repeatedly; the proof is
	 * that the loop neither crashed nor delivered to a stopped watcher,
	 * and both kept being served */
	CHECK(s.w1_calls >= 1);
	CHECK(s.w2_calls >= 1);
	loop_watch_stop(loop, &s.w1);
	loop_watch_stop(loop, &s.w2);
	close(s.p1[0]);
	close(s.p1[1]);
	close(s.p2[0]);
	close(s.p2[1]);
	loop_free(loop);
}

/* A watcher stopped by a timer callback in the same iteration... and a
 * watcher whose fd was closed and reused: loop_watch_start on a new fd
 * number moves it. */
static void
on_count_w1(struct loop *loop, struct loop_watch *w, short revents)
{
	(void)loop;
	(void)revents;
	struct pipe_state *s = w->data;
	char c;
	if (read(w->fd, &c, 1) == 1)
		s->w1_calls++;
}

TEST(loop_watch_restart_other_fd)
{
	struct loop *loop = loop_new();
	struct pipe_state s;
	memset(&s, 0, sizeof s);
	CHECK_INT(pipe(s.p1), 0);
	CHECK_INT(pipe(s.p2), 0);
	loop_watch_init(&s.w1, on_count_w1, &s);
	loop_watch_start(loop, &s.w1, s.p1[0], POLLIN);
	loop_watch_start(loop, &s.w1, s.p2[0], POLLIN); /* moves to p2 */
	CHECK_INT(write(s.p1[1], "a", 1), 1);           /* not watched any more */
	CHECK_INT(write(s.p2[1], "b", 1), 1);
	loop_timer_init(&s.end, on_end_loop, &s);
	loop_timer_start(loop, &s.end, 20);
	CHECK_INT(loop_run(loop), 0);
	CHECK_INT(s.w1_calls, 1);
	char c;
	CHECK_INT(read(s.p1[0], &c, 1), 1); /* still there: nobody read it */
	loop_watch_stop(loop, &s.w1);
	close(s.p1[0]);
	close(s.p1[1]);
	close(s.p2[0]);
	close(s.p2[1]);
	loop_free(loop);
}

/* ---- signals */

struct signal_state {
	int got, signo;
	struct loop_timer kick, end;
};

static void
on_signal(struct loop *loop, int signo, void *data)
{
	struct signal_state *s = data;
	s->got++;
	s->signo = signo;
	loop_stop(loop);
}

static void
on_kick(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	(void)t;
	raise(SIGTERM);
}

TEST(loop_signal_delivery)
{
	struct loop *loop = loop_new();
	struct signal_state s;
	memset(&s, 0, sizeof s);
	CHECK_INT(loop_signal(loop, SIGTERM, on_signal, &s), 0);
	CHECK_INT(loop_signal(loop, SIGINT, on_signal, &s), 0);
	loop_timer_init(&s.kick, on_kick, &s);
	loop_timer_init(&s.end, on_end_loop, &s);
	loop_timer_start(loop, &s.kick, 5);
	loop_timer_start(loop, &s.end, 2000); /* safety net if it never comes */
	CHECK_INT(loop_run(loop), 0);
	CHECK_INT(s.got, 1);
	CHECK_INT(s.signo, SIGTERM);
	CHECK(loop_timer_active(&s.end));
	loop_timer_stop(loop, &s.end);

	/* raised outside the loop: delivered at the next iteration */
	raise(SIGINT);
	loop_timer_start(loop, &s.end, 2000);
	CHECK_INT(loop_run(loop), 0);
	CHECK_INT(s.got, 2);
	CHECK_INT(s.signo, SIGINT);
	loop_timer_stop(loop, &s.end);

	/* SIGPIPE is ignored: writing to a pipe without reader gives EPIPE */
	int p[2];
	CHECK_INT(pipe(p), 0);
	close(p[0]);
	CHECK_INT(write(p[1], "x", 1), -1);
	close(p[1]);
	loop_free(loop);
	/* loop_free restored the default disposition */
	struct sigaction sa;
	sigaction(SIGTERM, NULL, &sa);
	CHECK(sa.sa_handler == SIG_DFL);
}

/* ---- deferred calls */

struct defer_state {
	struct loop_defer d, chained;
	struct loop_timer t, end;
	int runs, chained_runs, seen_in_callback;
};

static void
on_chained(struct loop *loop, struct loop_defer *d)
{
	(void)loop;
	struct defer_state *s = d->data;
	s->chained_runs++;
}

static void
on_defer(struct loop *loop, struct loop_defer *d)
{
	struct defer_state *s = d->data;
	s->runs++;
	/* a deferred call may queue another, run in the same round */
	loop_defer(loop, &s->chained);
}

static void
on_queue_defers(struct loop *loop, struct loop_timer *t)
{
	struct defer_state *s = t->data;
	loop_defer(loop, &s->d);
	loop_defer(loop, &s->d); /* twice is one run */
	/* not run before the callback returns */
	s->seen_in_callback = s->runs;
}

static void
on_check_end(struct loop *loop, struct loop_timer *t)
{
	(void)t;
	loop_stop(loop);
}

TEST(loop_defer_runs_once)
{
	struct loop *loop = loop_new();
	struct defer_state s;
	memset(&s, 0, sizeof s);
	loop_defer_init(&s.d, on_defer, &s);
	loop_defer_init(&s.chained, on_chained, &s);
	loop_timer_init(&s.t, on_queue_defers, &s);
	loop_timer_init(&s.end, on_check_end, &s);
	loop_timer_start(loop, &s.t, 1);
	loop_timer_start(loop, &s.end, 30);
	CHECK_INT(loop_run(loop), 0);
	CHECK_INT(s.seen_in_callback, 0);
	CHECK_INT(s.runs, 1);
	CHECK_INT(s.chained_runs, 1);
	CHECK(!s.d.queued);

	/* queued outside the loop: runs on the next loop_run */
	loop_defer(loop, &s.d);
	loop_timer_start(loop, &s.end, 10);
	CHECK_INT(loop_run(loop), 0);
	CHECK_INT(s.runs, 2);

	/* pending calls run at loop_free */
	loop_defer(loop, &s.d);
	loop_free(loop);
	CHECK_INT(s.runs, 3);
}

/* ---- starting a timer allocates nothing and cannot fail (issue 9.5)
 *
 * Every timer Agora depends on (the stop deadline, the heartbeat, the answer
 * guard, the reconnects of gateway, db and cache) is a loop_timer_start: with
 * allocation failing from the first call on, 2,000 timers started, stopped
 * and restarted in a random order all fire, once each, in (due, start) order,
 * and the loop made no allocation at all. */

struct nomem_state {
	struct loop_timer timers[2000];
	int fired_count[2000];
	int64_t last_due;
	uint64_t last_seq;
	int fired, out_of_order, expected;
};

static void
on_nomem(struct loop *loop, struct loop_timer *t)
{
	struct nomem_state *s = t->data;
	size_t i = (size_t)(t - s->timers);
	s->fired_count[i]++;
	if (t->due_ms < s->last_due || (t->due_ms == s->last_due && t->seq < s->last_seq))
		s->out_of_order++;
	s->last_due = t->due_ms;
	s->last_seq = t->seq;
	if (++s->fired == s->expected)
		loop_stop(loop);
}

TEST(loop_timer_start_without_memory)
{
	struct loop *loop = loop_new();
	CHECK(loop != NULL);
	static struct nomem_state s;
	memset(&s, 0, sizeof s);
	mem_fail_after(0); /* every allocation from here on fails */
	uint32_t seed = 777;
	int stopped[2000] = {0};
	for (int i = 0; i < 2000; i++) {
		seed = seed * 1103515245u + 12345u;
		loop_timer_init(&s.timers[i], on_nomem, &s);
		CHECK_INT(loop_timer_start(loop, &s.timers[i], (seed >> 16) % 30), 0);
	}
	/* stop a random third, restart a random sixth with a new delay */
	for (int i = 0; i < 2000; i++) {
		seed = seed * 1103515245u + 12345u;
		unsigned pick = (seed >> 16) % 6;
		if (pick < 2) {
			loop_timer_stop(loop, &s.timers[i]);
			stopped[i] = 1;
		} else if (pick == 2) {
			CHECK_INT(loop_timer_start(loop, &s.timers[i], (seed >> 8) % 30), 0);
		}
	}
	for (int i = 0; i < 2000; i++)
		s.expected += !stopped[i];
	CHECK_INT(loop_run(loop), 0);
	long allocations = mem_fail_after(-1);
	CHECK_INT(allocations, 0);
	CHECK_INT(s.fired, s.expected);
	CHECK_INT(s.out_of_order, 0);
	int wrong = 0;
	for (int i = 0; i < 2000; i++)
		wrong += s.fired_count[i] != (stopped[i] ? 0 : 1);
	CHECK_INT(wrong, 0);
	loop_free(loop);
}

/* ---- equal due times fire in start order; a restart goes to the back */

struct fifo_state {
	struct loop_timer t[5];
	int order[8], count;
};

static void
on_fifo(struct loop *loop, struct loop_timer *t)
{
	struct fifo_state *s = t->data;
	if (s->count < 8)
		s->order[s->count++] = (int)(t - s->t);
	if (s->count == 5)
		loop_stop(loop);
}

TEST(loop_timer_equal_due_fifo)
{
	struct loop *loop = loop_new();
	static struct fifo_state s;
	memset(&s, 0, sizeof s);
	for (int i = 0; i < 5; i++)
		loop_timer_init(&s.t[i], on_fifo, &s);
	/* all due now (or a millisecond apart, which orders them the same) */
	for (int i = 0; i < 5; i++)
		loop_timer_start(loop, &s.t[i], 0);
	loop_timer_start(loop, &s.t[1], 0); /* restarted: now last */
	CHECK_INT(loop_run(loop), 0);
	CHECK_INT(s.count, 5);
	static const int want[5] = {0, 2, 3, 4, 1};
	for (int i = 0; i < 5; i++)
		CHECK_INT(s.order[i], want[i]);
	loop_free(loop);
}
