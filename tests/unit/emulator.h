/* emulator.h — the Discord emulator (tests/emulator/) for C tests.
 *
 * emu_start() starts one emulator for the whole test run (a throwaway CA
 * made by tests/emulator/make_ca.sh, HTTPS + WSS on a loopback port, the
 * control API on another) and stops it at exit. emu_call() talks to the
 * control API with a blocking HTTP/1.0 request, which is fine in a test
 * between loop runs. test_run_until() runs a loop until a condition holds. */
#ifndef AGORA_TEST_EMULATOR_H
#define AGORA_TEST_EMULATOR_H

#include <stdint.h>

#include "buf.h"

struct loop;

/* 0 when the emulator runs (started now or before), -1 with a message
 * printed. */
int emu_start(void);
const char *emu_ca_file(void);     /* the CA the client must trust */
const char *emu_gateway_url(void); /* wss://127.0.0.1:P */
const char *emu_api_base(void);    /* https://127.0.0.1:P/api/v10 */
const char *emu_token(void);       /* the bot token it accepts */

/* method path body (NULL for none) on the control API; the response body
 * is appended to out (if not NULL). Returns the HTTP status, -1 on error. */
int emu_call(const char *method, const char *path, const char *body, struct buf *out);

/* Runs loop until cond(arg) returns nonzero, checking every 5 ms, for at
 * most timeout_ms. Returns 1 if cond held, 0 on timeout. */
int test_run_until(struct loop *loop, int (*cond)(void *arg), void *arg, int64_t timeout_ms);

#endif
