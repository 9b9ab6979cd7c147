// Compiling the [[filter]] tables (see filters.hpp).
#include "dataplane/filters.hpp"

#include <pcap/pcap.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "config/limits.hpp"
#include "sentinel_build_config.h"

namespace sentinel::dataplane {
namespace {

// A bare name is a shipped filter; a relative path is read from the rules file's directory,
// so a rules directory can carry its own objects.
std::string object_path(const rules::Filter& f, const std::string& filters_dir) {
  if (f.object.find('/') == std::string::npos) return (std::filesystem::path(filters_dir) / f.object).string();
  const std::filesystem::path p(f.object);
  if (p.is_absolute()) return f.object;
  return (std::filesystem::path(f.source_pos.file).parent_path() / p).string();
}

std::string names_of(const std::vector<bpf::ArgSpec>& specs) {
  std::string out;
  for (const bpf::ArgSpec& s : specs) {
    out += (out.empty() ? "" : ", ") + s.name + (s.count > 1 ? "[" + std::to_string(s.count) + "]" : "");
  }
  return out.empty() ? "none" : out;
}

// The object's argument slots: its defaults, overwritten by the table's `args`.
bpf::ArgSlots arg_slots(const rules::Filter& f, const std::string& path) {
  std::vector<bpf::ArgSpec> specs;
  try {
    specs = bpf::object_args(path);
  } catch (const bpf::CompileError& e) {
    throw config::LoadError(f.source_pos, "filter '" + f.name + "': " + e.what());
  }
  bpf::ArgSlots slots{};
  for (const bpf::ArgSpec& s : specs) {
    for (uint32_t k = 0; k < s.count; ++k) slots[s.slot + k] = s.default_value;
  }
  for (const rules::FilterArg& a : f.args) {
    const bpf::ArgSpec* spec = nullptr;
    for (const bpf::ArgSpec& s : specs) {
      if (s.name == a.name) spec = &s;
    }
    if (spec == nullptr) {
      throw config::LoadError(a.pos, "filter.args." + a.name + ": " + f.object + " has no argument '" + a.name +
                                         "' (it takes: " + names_of(specs) + ")");
    }
    if (a.values.size() > spec->count) {
      throw config::LoadError(a.pos, "filter.args." + a.name + ": " + std::to_string(a.values.size()) +
                                         " values; " + f.object + " takes " +
                                         (spec->count == 1 ? "one" : "at most " + std::to_string(spec->count)));
    }
    for (size_t k = 0; k < a.values.size(); ++k) slots[spec->slot + k] = a.values[k];
  }
  return slots;
}

}  // namespace

std::string filters_dir(const config::Config& config) {
  return config.rules.filters_dir.empty() ? std::string(SENTINEL_FILTERS_DIR) : config.rules.filters_dir;
}

std::unique_ptr<FilterSet> compile_filters(const std::vector<rules::Filter>& filters, const std::string& filters_dir) {
  if (filters.empty()) return nullptr;
  if (filters.size() > config::kMaxFilters) {
    throw config::LoadError(filters[config::kMaxFilters].pos,
                            "more than " + std::to_string(config::kMaxFilters) +
                                " [[filter]] tables (each runs on every frame of its direction)");
  }
  auto set = std::make_unique<FilterSet>();
  for (const rules::Filter& f : filters) {
    ActiveFilter a;
    a.spec = f;
    try {
      if (!f.expr.empty()) {
        a.program = bpf::Program::from_expression(f.expr, DLT_EN10MB);
        a.source = f.expr;
      } else {
        const std::string path = object_path(f, filters_dir);
        a.program = bpf::Program::from_object(path, f.section, arg_slots(f, path));
        a.source = path + ":" + f.section;
      }
    } catch (const bpf::CompileError& e) {
      throw config::LoadError(f.source_pos, "filter '" + f.name + "': " + e.what());
    }
    if (!a.program->jitted()) ++set->interpreted;
    const auto index = static_cast<uint16_t>(set->filters.size());
    if (f.direction != rules::Direction::kToVendor) set->to_core.push_back(index);
    if (f.direction != rules::Direction::kToCore) set->to_vendor.push_back(index);
    set->filters.push_back(std::move(a));
  }
  if (set->interpreted != 0) {
    spdlog::warn("filters: {} of {} not JIT-compiled{}: they run interpreted (about 10x slower; counted in "
                 "sentinel_filter_interpreted_packets_total)",
                 set->interpreted, set->filters.size(), bpf::jit_available() ? "" : " (rte_bpf has no JIT for this machine)");
  }
  return set;
}

}  // namespace sentinel::dataplane
