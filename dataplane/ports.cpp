// Port set-up (see ports.hpp).
#include "dataplane/ports.hpp"

#include <rte_ethdev.h>

#include <array>

#include "dataplane/eal.hpp"
#include "dataplane/setup_error.hpp"

namespace sentinel::dataplane {
namespace {

// A key of repeated 0x6d5a makes the Toeplitz hash symmetric: (a→b) and (b→a) hash alike.
std::array<uint8_t, 52> symmetric_rss_key() {
  std::array<uint8_t, 52> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = i % 2 == 0 ? 0x6d : 0x5a;
  return key;
}

}  // namespace

uint16_t find_port(const std::string& side, const std::string& configured) {
  const std::string name = port_device_name(configured);
  uint16_t port = 0;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &port) != 0) {
    throw SetupError("ports." + side + " = \"" + configured + "\": no such ethdev '" + name +
                     "' (is the device bound to a DPDK driver, or the vdev string right?)");
  }
  return port;
}

std::string start_port(const std::string& side, uint16_t port, const PortSettings& settings,
                       rte_mempool* pool) {
  const std::string what = side + " port " + std::to_string(port);
  rte_eth_dev_info info{};
  (void)check_rte(rte_eth_dev_info_get(port, &info), "rte_eth_dev_info_get(" + what + ")");
  if (settings.queues > info.max_rx_queues || settings.queues > info.max_tx_queues) {
    throw SetupError(what + " (" + info.driver_name + "): " + std::to_string(settings.queues) +
                     " queues needed (one per worker), driver offers rx " +
                     std::to_string(info.max_rx_queues) + " / tx " +
                     std::to_string(info.max_tx_queues) +
                     " (af_packet: set qpairs= in the port string)");
  }
  rte_eth_conf conf{};
  static std::array<uint8_t, 52> key = symmetric_rss_key();
  const uint64_t rss_hf =
      info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP);
  std::string rss = "single queue";
  if (settings.queues > 1) {
    if (rss_hf != 0) {
      conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
      conf.rx_adv_conf.rss_conf.rss_key = key.data();
      conf.rx_adv_conf.rss_conf.rss_key_len =
          info.hash_key_size != 0 && info.hash_key_size <= key.size() ? info.hash_key_size : 40;
      conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
      rss = "symmetric RSS";
    } else {
      rss = "no RSS in driver: queue spreading is the driver's own";
    }
  }
  (void)check_rte(rte_eth_dev_configure(port, settings.queues, settings.queues, &conf),
                  "rte_eth_dev_configure(" + what + ")");
  uint16_t rxd = settings.rx_descriptors;
  uint16_t txd = settings.tx_descriptors;
  (void)check_rte(rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd),
                  "rte_eth_dev_adjust_nb_rx_tx_desc(" + what + ")");
  const int socket = rte_eth_dev_socket_id(port);
  const unsigned sock = socket < 0 ? SOCKET_ID_ANY : static_cast<unsigned>(socket);
  for (uint16_t q = 0; q < settings.queues; ++q) {
    (void)check_rte(rte_eth_rx_queue_setup(port, q, rxd, sock, nullptr, pool),
                    "rte_eth_rx_queue_setup(" + what + ", queue " + std::to_string(q) + ")");
    (void)check_rte(rte_eth_tx_queue_setup(port, q, txd, sock, nullptr),
                    "rte_eth_tx_queue_setup(" + what + ", queue " + std::to_string(q) + ")");
  }
  // A bump in the wire forwards frames for every MAC address, not just its own.
  const int promisc = rte_eth_promiscuous_enable(port);
  if (promisc != 0 && promisc != -ENOTSUP) {
    (void)check_rte(promisc, "rte_eth_promiscuous_enable(" + what + ")");
  }
  (void)check_rte(rte_eth_dev_start(port), "rte_eth_dev_start(" + what + ")");
  return what + ": driver " + info.driver_name + ", " + std::to_string(settings.queues) +
         " queue(s) of " + std::to_string(rxd) + "/" + std::to_string(txd) +
         " descriptors, " + rss + ", link " + link_text(port);
}

void check_same_mtu(uint16_t vendor_port, uint16_t core_port) {
  uint16_t vendor_mtu = 0;
  uint16_t core_mtu = 0;
  (void)check_rte(rte_eth_dev_get_mtu(vendor_port, &vendor_mtu), "rte_eth_dev_get_mtu(vendor)");
  (void)check_rte(rte_eth_dev_get_mtu(core_port, &core_mtu), "rte_eth_dev_get_mtu(core)");
  if (vendor_mtu != core_mtu) {
    throw SetupError("port MTUs differ: vendor " + std::to_string(vendor_mtu) + ", core " +
                     std::to_string(core_mtu) +
                     "; a bridge would drop the larger frames one way — set them equal");
  }
}

std::string link_text(uint16_t port) {
  rte_eth_link link{};
  if (rte_eth_link_get_nowait(port, &link) != 0) return "unknown";
  if (link.link_status == RTE_ETH_LINK_DOWN) return "down";
  std::string s = "up";
  if (link.link_speed != RTE_ETH_SPEED_NUM_NONE && link.link_speed != RTE_ETH_SPEED_NUM_UNKNOWN) {
    s += " " + std::to_string(link.link_speed) + " Mbps";
  }
  s += link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX ? " full-duplex" : " half-duplex";
  return s;
}

void stop_port(uint16_t port) noexcept {
  (void)rte_eth_dev_stop(port);
  (void)rte_eth_dev_close(port);
}

}  // namespace sentinel::dataplane
