// Live mode on two net_null ports with the /metrics endpoint: the scrape is valid
// Prometheus exposition (promtool check metrics), counters move, SIGTERM ends cleanly.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <thread>

#include "tests/integration/replay_harness.hpp"

using namespace sentinel::testing;

extern char** environ;

namespace {

const std::string kSentinel = SENTINEL_BINARY;

uint16_t free_tcp_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// The value of the first sample line starting with `series` (name and labels).
double sample(const std::string& text, const std::string& series) {
  const size_t at = ("\n" + text).find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 1));
}

}  // namespace

TEST(LiveMetrics, ScrapeIsValidAndCountersMove) {
  TempDir tmp;
  const uint16_t port = free_tcp_port();
  const std::string listen = "127.0.0.1:" + std::to_string(port);
  const std::string config = tmp / "sentinel.toml";
  std::ofstream(config) << "[ports]\nvendor = \"net_null0\"\ncore = \"net_null1\"\n"
                        << "[dataplane]\nhugepages = \"off\"\n[log]\ndir = \"" << (tmp / "log") << "\"\n"
                        << "[metrics]\nlisten = \"" << listen << "\"\n"
                        << "[rules]\ndir = \"" << (tmp / "rules.d") << "\"\ncache_dir = \"\"\n";
  std::filesystem::create_directories(tmp / "rules.d");
  const std::string prefix = "sentinel-it-" + std::to_string(getpid());
  const std::string out = tmp / "out.txt";
  const std::string err = tmp / "err.txt";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> args = {kSentinel, "-c", config, "--", "--file-prefix", prefix};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, kSentinel.c_str(), &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);

  const std::string scrape = tmp / "scrape.txt";
  const std::string curl = "curl -sf --max-time 2 -o " + shell_quote(scrape) + " http://" + listen + "/metrics";
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    up = std::system(curl.c_str()) == 0;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(up) << "no /metrics on " << listen << "\n" << slurp(err);
  const std::string first = slurp(scrape);
  EXPECT_EQ(std::system(("promtool check metrics < " + shell_quote(scrape)).c_str()), 0) << first;
  EXPECT_EQ(sample(first, R"(sentinel_port_up{port="vendor"})"), 1);
  EXPECT_EQ(sample(first, R"(sentinel_port_up{port="core"})"), 1);
  EXPECT_EQ(sample(first, R"(sentinel_drops_total{reason="tx_full"})"), 0);

  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(std::system(curl.c_str()), 0);
  const std::string second = slurp(scrape);
  const std::string fwd = R"(sentinel_packets_total{direction="to_core",verdict="forwarded"})";
  EXPECT_GT(sample(second, fwd), sample(first, fwd)) << "net_null keeps sending: the count must grow";
  EXPECT_GT(sample(second, R"(sentinel_worker_busy_seconds_total{worker="0"})"), 0);
  EXPECT_GT(sample(second, "sentinel_packet_processing_seconds_count"), 0);
  EXPECT_GT(sample(second, "process_resident_memory_bytes"), 0);

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << slurp(err);
  EXPECT_NE(slurp(out).find("sentinel live summary"), std::string::npos);
  std::filesystem::remove_all("/var/run/dpdk/" + prefix);
}
