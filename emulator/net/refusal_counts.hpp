#pragma once
/// Connections a front refused since start, by reason (issue 18, `/metrics`
/// `iothub_connections_refused_total`): the transport's (`connection_limit`,
/// `tls_handshake_failed`, `tls_handshake_timeout`, in net::connection_set) and the protocol's
/// (an MQTT CONNACK refusal, a failed SASL exchange, a refused CBS token, in each front's
/// state). Reasons are a small fixed set of snake_case words, never client input.
///
/// Thread safety: every member may be called from any thread (one mutex).
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace emu::net {

class refusal_counts {
 public:
  void count(std::string_view reason) {
    const std::lock_guard lock(mutex_);
    const auto it = counts_.find(reason);
    if (it == counts_.end())
      counts_.emplace(std::string(reason), 1);
    else
      ++it->second;
  }
  std::map<std::string, std::uint64_t, std::less<>> snapshot() const {
    const std::lock_guard lock(mutex_);
    return counts_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::uint64_t, std::less<>> counts_;
};

}  // namespace emu::net
