// Files the binary carries a copy of, so that it runs on its built-in defaults without
// anything installed: config/classification.toml (the classtype table).
#pragma once

#include <string_view>

namespace sentinel::config {

extern const std::string_view kBuiltinClassification;
inline constexpr const char* kBuiltinClassificationName = "<built-in classification.toml>";

}  // namespace sentinel::config
