// Fuzz target: the configuration loader (config/config.hpp load_config_text).
//
// Input: the text of a sentinel.toml.
//
// Invariants (abort when broken): the text loads or throws config::LoadError whose what()
// is "sentinel.toml:line:col: message" with a line inside the text; never another
// exception. A loaded Config keeps its documented round trip: dump_config() reads back
// with load_config_text() into an equal Config, and dumping that gives the same text;
// its CIDRs are canonical and read back equal.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.hpp"
#include "tests/fuzz/fuzz_util.hpp"
#include "tests/fuzz/load_error_check.hpp"

namespace config = sentinel::config;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const sentinel::fuzz::NamedTexts files{{"sentinel.toml", text}};
  config::Config cfg;
  if (!sentinel::fuzz::loads("load_config_text", files, [&] { cfg = config::load_config_text(text, "sentinel.toml"); }))
    return 0;
  for (const config::Cidr& c : cfg.network.vendor_nets) sentinel::fuzz::check_cidr(c, "network.vendor_nets");

  const std::string dumped = config::dump_config(cfg);
  config::Config back;
  try {
    back = config::load_config_text(dumped, "dump.toml");
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, "dump_config() output does not load: %s\n--- dump ---\n%s", e.what(), dumped.c_str());
  }
  FUZZ_CHECK(back == cfg, "dump_config() reads back different\n--- dump ---\n%s\n--- dump of what it read ---\n%s",
             dumped.c_str(), config::dump_config(back).c_str());
  const std::string again = config::dump_config(back);
  FUZZ_CHECK(again == dumped, "dumping the read-back Config gives other text\n--- first ---\n%s\n--- second ---\n%s",
             dumped.c_str(), again.c_str());
  return 0;
}
