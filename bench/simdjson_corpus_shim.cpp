// simdjson_corpus_shim.cpp — C entry points to simdjson's DOM and On-Demand
// parsers over a corpus of documents, for bench_json_corpus.c. Built with
// g++ only for the glibc benchmark (BENCH_REF=1); nothing ships with it.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

extern "C" {
int sjc_add(const char *text, size_t len);
int sjc_dom_all(void);
int sjc_ondemand_fields(uint64_t *sum);
}

static std::vector<simdjson::padded_string> docs;
static simdjson::dom::parser dom_parser;
static simdjson::ondemand::parser od_parser;

// Keeps a padded copy (simdjson reads past the end of its input).
int
sjc_add(const char *text, size_t len)
{
	try {
		docs.emplace_back(text, len);
	} catch (...) {
		return -1;
	}
	return 0;
}

// Every document fully parsed into the DOM (the tape): all validated.
int
sjc_dom_all(void)
{
	for (auto &d : docs) {
		simdjson::dom::element root;
		if (dom_parser.parse(d).get(root) != simdjson::SUCCESS)
			return -1;
	}
	return 0;
}

// On-Demand: what counting needs (t, d.channel_id, d.id, d.author.bot);
// the rest of each document is skipped, not validated.
int
sjc_ondemand_fields(uint64_t *sum)
{
	for (auto &d : docs) {
		simdjson::ondemand::document doc;
		if (od_parser.iterate(d).get(doc) != simdjson::SUCCESS)
			return -1;
		std::string_view t;
		if (doc["t"].get_string().get(t) != simdjson::SUCCESS || t != "MESSAGE_CREATE")
			continue;
		simdjson::ondemand::object dd;
		if (doc["d"].get_object().get(dd) != simdjson::SUCCESS)
			return -1;
		uint64_t n = 0;
		for (auto field : dd) {
			std::string_view key;
			if (field.unescaped_key().get(key) != simdjson::SUCCESS)
				return -1;
			if (key == "id" || key == "channel_id") {
				std::string_view v;
				if (field.value().get_string().get(v) == simdjson::SUCCESS)
					n += v.size();
			} else if (key == "author") {
				bool bot = false;
				simdjson::ondemand::object a;
				if (field.value().get_object().get(a) == simdjson::SUCCESS &&
				    a["bot"].get_bool().get(bot) == simdjson::SUCCESS)
					n += bot;
			}
		}
		*sum += n;
	}
	return 0;
}
