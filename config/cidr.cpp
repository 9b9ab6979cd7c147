// Cidr parsing and matching. Addresses go through inet_pton/inet_ntop so the accepted and
// printed forms are exactly the ones the C library and every network tool agree on; the
// only syntax of our own is the "/len" suffix, parsed strictly (digits only, in range).
#include "config/cidr.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace sentinel::config {

namespace {

// The mask byte for byte `index` of an address under `prefix_len`.
constexpr uint8_t mask_byte(uint8_t prefix_len, size_t index) noexcept {
  const int bits = static_cast<int>(prefix_len) - static_cast<int>(8 * index);
  if (bits >= 8) return 0xff;
  if (bits <= 0) return 0x00;
  return static_cast<uint8_t>(0xff << (8 - bits));
}

constexpr size_t addr_bytes(bool v6) noexcept { return v6 ? 16 : 4; }

}  // namespace

bool Cidr::contains(bool addr_v6, const uint8_t* address) const noexcept {
  if (addr_v6 != v6) return false;
  for (size_t i = 0; i < addr_bytes(v6); ++i) {
    if ((address[i] & mask_byte(prefix_len, i)) != addr[i]) return false;
  }
  return true;
}

std::string Cidr::to_string() const {
  char text[INET6_ADDRSTRLEN];
  // Cannot fail: the buffer fits either family.
  inet_ntop(v6 ? AF_INET6 : AF_INET, addr.data(), text, sizeof text);
  return std::string(text) + "/" + std::to_string(prefix_len);
}

std::optional<Cidr> parse_cidr(std::string_view text, std::string& why) {
  const size_t slash = text.find('/');
  // inet_pton needs a NUL-terminated string.
  const std::string address(text.substr(0, slash));
  Cidr cidr;
  cidr.v6 = address.find(':') != std::string::npos;
  if (inet_pton(cidr.v6 ? AF_INET6 : AF_INET, address.c_str(), cidr.addr.data()) != 1) {
    why = "invalid address '" + address + "'";
    return std::nullopt;
  }

  const unsigned max_len = cidr.v6 ? 128 : 32;
  unsigned len = max_len;  // a bare address is a host route
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const char* end = digits.data() + digits.size();
    const auto [ptr, ec] = std::from_chars(digits.data(), end, len);
    if (ec != std::errc{} || ptr != end || len > max_len) {
      why = "invalid prefix length '" + std::string(digits) + "' (" + (cidr.v6 ? "IPv6" : "IPv4") +
            " allows 0.." + std::to_string(max_len) + ")";
      return std::nullopt;
    }
  }
  cidr.prefix_len = static_cast<uint8_t>(len);

  Cidr network = cidr;
  for (size_t i = 0; i < addr_bytes(cidr.v6); ++i) network.addr[i] &= mask_byte(cidr.prefix_len, i);
  if (network != cidr) {
    why = "host bits set in " + std::string(text) + " (did you mean " + network.to_string() + "?)";
    return std::nullopt;
  }
  return cidr;
}

}  // namespace sentinel::config
