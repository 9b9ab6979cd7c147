// Cidr: an IPv4 or IPv6 prefix as operators write it ("192.0.2.0/24", "2001:db8::/32",
// a bare address meaning a host route). Parsing is strict: host bits set below the prefix
// length are an error, because "10.1.2.3/8" is nearly always a typo for something else.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sentinel::config {

struct Cidr {
  bool v6 = false;
  // Network address in network byte order; IPv4 uses the first 4 bytes.
  std::array<uint8_t, 16> addr{};
  uint8_t prefix_len = 0;

  // True when the address (network byte order, 4 or 16 bytes per `v6`) lies inside.
  [[nodiscard]] bool contains(bool addr_v6, const uint8_t* address) const noexcept;
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const Cidr&, const Cidr&) = default;
};

// Parses `text`; on failure returns nullopt and sets `why` to a short reason.
[[nodiscard]] std::optional<Cidr> parse_cidr(std::string_view text, std::string& why);

}  // namespace sentinel::config
