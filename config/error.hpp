// LoadError: the one error type of the control plane. It carries the place of the fault
// (file:line:col when known) so an operator can go straight to it; what() is the full
// "file:line:col: message" line that startup prints and reload reports.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace sentinel::config {

struct SourcePos {
  std::string file;
  uint32_t line = 0;    // 1-based; 0 = unknown
  uint32_t column = 0;  // 1-based; 0 = unknown
};

class LoadError : public std::runtime_error {
 public:
  LoadError(SourcePos pos, const std::string& message)
      : std::runtime_error(format(pos, message)), pos_(std::move(pos)), message_(message) {}

  const SourcePos& pos() const noexcept { return pos_; }
  const std::string& message() const noexcept { return message_; }

 private:
  static std::string format(const SourcePos& pos, const std::string& message) {
    if (pos.file.empty()) return message;
    if (pos.line == 0) return pos.file + ": " + message;
    return pos.file + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column) + ": " +
           message;
  }

  SourcePos pos_;
  std::string message_;
};

}  // namespace sentinel::config
