// Offline replay (-r): frames from a capture file are fed through the same Worker code as
// live mode, over two ring-backed ethdevs standing in for the vendor and core ports.
//
// Link types EN10MB, LINUX_SLL, RAW/IPV4/IPV6 and NULL/LOOP are read; frames of the last
// three get a synthetic Ethernet header: destination 02:00:00:00:00:02, source
// 02:00:00:00:00:01 (Linux SLL: the captured source address when it is 6 bytes long), and
// the ethertype of the captured protocol (RAW: from the IP version nibble). A frame is from
// the vendor side when its outermost IP source (ARP: sender address) lies in a vendor net;
// every other frame is from the core side. Frames leave in the order they came: each run of
// same-side frames is processed completely before the next run is fed, and -w receives
// the forwarded frames (and reject frames in the place of their trigger) in capture order.
// Alerts carry the capture time and the frame's number (EVE pcap_cnt); flows age by
// capture time.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/cidr.hpp"
#include "config/config.hpp"
#include "dataplane/report.hpp"
#include "dataplane/signatures.hpp"

struct pcap;  // libpcap's pcap_t; its header stays out of ours (see libpcap_version)

namespace sentinel::dataplane {

// An open capture file whose link type is one replay understands.
class PcapSource {
 public:
  // [control] Throws SetupError for a missing/unreadable file or an unsupported link type.
  explicit PcapSource(const std::string& path);
  [[nodiscard]] pcap* handle() const noexcept { return pcap_.get(); }
  [[nodiscard]] int link_type() const noexcept { return link_type_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  struct Closer {
    void operator()(pcap* p) const noexcept;
  };
  std::unique_ptr<pcap, Closer> pcap_;
  int link_type_ = 0;
  std::string path_;
};

struct ReplayOptions {
  std::string out_pcap;                  // -w; empty: forwarded frames are not written
  std::vector<config::Cidr> vendor_nets;
  std::string metrics_listen;            // empty: no /metrics endpoint during the replay
  bool rule_metrics = false;             // also serve /metrics/rules
  // --learn-policy: learn mode, and the learned policy written here at the end. A policy in
  // learn mode without it writes <log dir>/learned-policy.toml.
  std::string learn_policy;
};

struct ReplayResult {
  RunStats stats;
  std::string read_error;  // libpcap's message when the file could not be read to its end
};

// [control] Replays every frame of `source`. The EAL must be initialised (RunMode::kReplay).
// `should_stop` (SIGINT, SIGTERM) is asked every few hundred frames; when it says yes the
// replay ends early and what was read is still processed and written.
// Throws SetupError for set-up failures (mbuf pool, ports, output file).
[[nodiscard]] ReplayResult run_replay(PcapSource& source, const config::Config& config,
                                      const ReplayOptions& options, const LoadedSignatures& signatures,
                                      const std::function<bool()>& should_stop);

// libpcap's version line. (Its <pcap/bpf.h> cannot share a unit with libbpf's headers.)
[[nodiscard]] std::string libpcap_version();

// True when the frame (Ethernet) comes from the vendor side by the rule above. [any]
[[nodiscard]] bool from_vendor_side(const uint8_t* frame, uint32_t captured,
                                    const std::vector<config::Cidr>& vendor_nets) noexcept;

}  // namespace sentinel::dataplane
