// simdjson_shim.cpp — a C entry point to simdjson's DOM parser, so that
// bench_json.c (C11) can time it beside ours in the same run. Built with
// g++ only for the glibc benchmark (BENCH_REF=1); nothing ships with it.
#include <simdjson.h>

#include <cstddef>
#include <memory>

extern "C" {
int simdjson_shim_load(const char *text, size_t len);
int simdjson_shim_parse(void);
const char *simdjson_shim_implementation(void);
void simdjson_shim_free(void);
const char *simdjson_shim_version(void);
}

static std::unique_ptr<simdjson::dom::parser> parser;
static std::unique_ptr<simdjson::padded_string> text_copy;

// Keeps a padded copy of the text (simdjson reads past the end) and a parser
// reused for every parse, as a long-running program would.
int
simdjson_shim_load(const char *text, size_t len)
{
	try {
		parser = std::make_unique<simdjson::dom::parser>();
		text_copy = std::make_unique<simdjson::padded_string>(text, len);
	} catch (...) {
		return -1;
	}
	return 0;
}

// One full parse into simdjson's DOM (the "tape"): validates everything.
int
simdjson_shim_parse(void)
{
	simdjson::dom::element root;
	return parser->parse(*text_copy).get(root) == simdjson::SUCCESS ? 0 : -1;
}

const char *
simdjson_shim_implementation(void)
{
	return simdjson::get_active_implementation()->name().c_str();
}

void
simdjson_shim_free(void)
{
	parser.reset();
	text_copy.reset();
}

#define SHIM_TEXT(x) #x
#define SHIM_VERSION(x) SHIM_TEXT(x)

const char *
simdjson_shim_version(void)
{
	return SHIM_VERSION(SIMDJSON_VERSION);
}
