# Makefile — compiles Agora. build.sh drives it and sets OUT (object dir),
# DEPS (the dependency prefix it built), CC and OPTFLAGS; use build.sh.
OUT      ?= build/musl
DEPS     ?= .cache/deps/musl
CC       ?= musl-gcc
OPTFLAGS ?= -O2

WARN := -std=c11 -Wall -Wextra -Werror -Wstrict-prototypes -Wwrite-strings \
        -Wmissing-prototypes -Wshadow -Wvla
CPPFLAGS := -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Isrc -I$(OUT) \
            -isystem $(DEPS)/include
CFLAGS   := $(WARN) $(OPTFLAGS) -MMD -MP
LIBS     := $(DEPS)/lib/libpq.a $(DEPS)/lib/libpgcommon_shlib.a \
            $(DEPS)/lib/libpgport_shlib.a $(DEPS)/lib/libhiredis.a \
            $(DEPS)/lib/libbearssl.a $(DEPS)/lib/libz.a
LDFLAGS  :=
ifeq ($(CC),musl-gcc)
# the shipped binary: static, stripped, and without the sections nothing
# references (every function and object is in its own section, see
# build.sh MUSL_CFLAGS) or unwind tables (C without exceptions)
LDFLAGS  += -static -s -Wl,--gc-sections
endif
ifeq ($(FUZZ),1)
# coverage for libFuzzer in every object; the fuzzer's main() at link time
CFLAGS   += -fsanitize=fuzzer-no-link
endif

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c))
# sql/NNN_name.sql embedded into the binary (sql/embed.sh; see migrate.h)
SQL_FILES := $(sort $(wildcard sql/[0-9][0-9][0-9]_*.sql))
# templates/*.md and prompts/*.txt embedded too (templates/embed.sh; see template.h)
TEXT_FILES := $(sort $(wildcard templates/*.md prompts/*.txt))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(OUT)/obj/%.o) $(OUT)/obj/sql_embedded.o \
            $(OUT)/obj/text_embedded.o
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_OBJ := $(UNIT_SRC:tests/unit/%.c=$(OUT)/unitobj/%.o)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
# the unit runner replays each fuzz corpus through its target (SQLite's way)
REPLAY_OBJ := $(FUZZ_NAMES:%=$(OUT)/unitobj/replay_%.o)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOLS    := $(TOOL_SRC:tests/tools/%.c=$(OUT)/%)
BENCH_SRC := $(wildcard bench/bench_*.c)

.PHONY: agora unit tools fuzz bench
agora: $(OUT)/agora
unit: $(OUT)/unit
tools: $(TOOLS)
fuzz: $(FUZZ_NAMES:%=$(OUT)/fuzz_%)
bench: $(BENCH_SRC:bench/%.c=$(OUT)/%)

$(OUT)/agora: $(LIB_OBJ) $(OUT)/obj/main.o
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(OUT)/obj/%.o: src/%.c $(OUT)/versions.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(OUT)/sql_embedded.c: $(SQL_FILES) sql/embed.sh
	@mkdir -p $(@D)
	@sh sql/embed.sh $(SQL_FILES) > $@.tmp && mv $@.tmp $@

$(OUT)/obj/sql_embedded.o: $(OUT)/sql_embedded.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(OUT)/text_embedded.c: $(TEXT_FILES) templates/embed.sh
	@mkdir -p $(@D)
	@sh templates/embed.sh $(TEXT_FILES) > $@.tmp && mv $@.tmp $@

$(OUT)/obj/text_embedded.o: $(OUT)/text_embedded.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# ---- unit tests: every TEST(name) in tests/unit/*.c lands in one table
$(OUT)/tests.inc: $(UNIT_SRC) $(FUZZ_SRC)
	@mkdir -p $(@D)
	@sed -n 's/^TEST(\([A-Za-z0-9_]*\)).*/T(\1)/p' $(UNIT_SRC) > $@.tmp
	@for n in $(FUZZ_NAMES); do echo "F($$n)"; done >> $@.tmp
	@mv $@.tmp $@

$(OUT)/unitobj/%.o: tests/unit/%.c $(OUT)/tests.inc
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) -c -o $@ $<

$(OUT)/unitobj/replay_%.o: tests/fuzz/fuzz_%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DLLVMFuzzerTestOneInput=fuzz_one_$* -c -o $@ $<

# the unit runner counts every malloc/calloc/realloc of the process,
# hiredis's and libc's included (tests/unit/test_hotpath.c's __wrap_*)
UNIT_WRAP := -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc
$(OUT)/unit: $(UNIT_OBJ) $(REPLAY_OBJ) $(LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) $(UNIT_WRAP) -o $@ $^ $(LIBS)

# ---- tools (build/jsoncheck ...), linked like the bot
$(OUT)/%: tests/tools/%.c $(LIB_OBJ)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LIBS)

# ---- libFuzzer targets (clang, FUZZ=1)
$(OUT)/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_OBJ)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB_OBJ) $(LIBS)

# ---- benchmarks (bench/bench_*.c); BENCH_LIBS adds reference libraries
$(OUT)/bench_%: bench/bench_%.c $(LIB_OBJ)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LIBS) $(BENCH_LIBS)

# bench_json times cJSON and simdjson (C++, through bench/simdjson_shim.cpp)
# beside ours when BENCH_REF=1 (build.sh bench, glibc); without, ours alone
ifeq ($(BENCH_REF),1)
$(OUT)/bench_json: $(OUT)/benchobj/simdjson_shim.o
$(OUT)/bench_json: BENCH_LIBS += $(OUT)/benchobj/simdjson_shim.o -lsimdjson -lcjson -lstdc++
$(OUT)/bench_json: CPPFLAGS += -DBENCH_REF
endif
ifeq ($(BENCH_REF),1)
$(OUT)/bench_json_corpus: $(OUT)/benchobj/simdjson_corpus_shim.o
$(OUT)/bench_json_corpus: BENCH_LIBS += $(OUT)/benchobj/simdjson_corpus_shim.o -lsimdjson -lcjson -lstdc++
$(OUT)/bench_json_corpus: CPPFLAGS += -DBENCH_REF
endif
$(OUT)/benchobj/%.o: bench/%.cpp
	@mkdir -p $(@D)
	$(CXX) -O2 -std=c++17 -c -o $@ $<

-include $(wildcard $(OUT)/obj/*.d $(OUT)/unitobj/*.d)
