// The contract the TOML fuzz targets check on every loader: text either loads or throws
// config::LoadError placed at file:line:col inside the text it was given; any other
// exception is a finding. Also: a loaded Cidr is canonical and reads back equal.
#pragma once

#include <algorithm>
#include <exception>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "config/cidr.hpp"
#include "config/error.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace sentinel::fuzz {

// (name, text) of each file the loader was given.
using NamedTexts = std::vector<std::pair<std::string, std::string>>;

inline void check_load_error(const config::LoadError& e, const NamedTexts& files, const char* loader) {
  const config::SourcePos& pos = e.pos();
  const auto file = std::find_if(files.begin(), files.end(), [&](const auto& f) { return f.first == pos.file; });
  FUZZ_CHECK(file != files.end(), "%s: LoadError names file '%s', not one it was given: %s", loader, pos.file.c_str(),
             e.what());
  FUZZ_CHECK(pos.line >= 1 && pos.column >= 1, "%s: LoadError without line:col: %s", loader, e.what());
  const auto lines = static_cast<uint32_t>(std::count(file->second.begin(), file->second.end(), '\n')) + 1;
  FUZZ_CHECK(pos.line <= lines, "%s: LoadError at line %u of a %u-line text: %s", loader, pos.line, lines, e.what());
  FUZZ_CHECK(!e.message().empty(), "%s: LoadError with an empty message", loader);
  const std::string want = pos.file + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column) + ": " +
                           e.message();
  FUZZ_CHECK(want == e.what(), "%s: what() '%s' is not file:line:col: message", loader, e.what());
}

// Runs `load()`; true when it loaded. LoadError is checked; anything else aborts.
template <class F>
bool loads(const char* loader, const NamedTexts& files, F&& load) {
  try {
    load();
    return true;
  } catch (const config::LoadError& e) {
    check_load_error(e, files, loader);
    return false;
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, "%s threw %s, not LoadError: %s", loader, typeid(e).name(), e.what());
  } catch (...) {
    FUZZ_CHECK(false, "%s threw a non-std exception", loader);
  }
  return false;
}

inline void check_cidr(const config::Cidr& c, const char* where) {
  FUZZ_CHECK(c.prefix_len <= (c.v6 ? 128 : 32), "%s: prefix length %u", where, c.prefix_len);
  const size_t bytes = c.v6 ? 16 : 4;
  for (size_t i = 0; i < 16; ++i) {
    const int keep = std::clamp(static_cast<int>(c.prefix_len) - static_cast<int>(8 * i), 0, 8);
    const auto host_bits = static_cast<uint8_t>(i < bytes ? 0xffu >> keep : 0xffu);
    FUZZ_CHECK((c.addr[i] & host_bits) == 0, "%s: %s has host bits (or bytes past the family) set", where,
               c.to_string().c_str());
  }
  std::string why;
  const auto back = config::parse_cidr(c.to_string(), why);
  FUZZ_CHECK(back && *back == c, "%s: '%s' does not read back equal (%s)", where, c.to_string().c_str(), why.c_str());
}

}  // namespace sentinel::fuzz
