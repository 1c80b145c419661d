#pragma once
// A net::link without a socket, for unit tests of protocol adapters (http_session,
// device_connection, …): the test reads what the protocol wrote, says when it was "flushed",
// and sees how the protocol asked to close.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "emulator/net/protocol.hpp"

namespace emu::net::testing {

class fake_link final : public link {
 public:
  std::vector<std::uint8_t>& output() override { return out_; }
  std::size_t output_pending() const override { return out_.size(); }
  void close(std::string_view reason, bool drain_input) override {
    if (closed) return;
    closed = std::string(reason);
    drained = drain_input;
  }
  void close_now(std::string_view reason) override {
    if (!closed) closed = std::string(reason);
    closed_now = true;
  }
  bool closing() const override { return closed.has_value(); }
  const std::string& peer() const override { return peer_; }
  const std::string& peer_address() const override { return address; }
  std::string transport_name() const override { return "tcp"; }
  std::uint64_t id() const override { return 1; }
  connection_handle handle() const override { return {}; }
  void replace_protocol(std::unique_ptr<protocol> next) override { replaced = std::move(next); }

  /// Everything written since the last take(), as text (as if the transport wrote it out).
  std::string take() {
    std::string s(out_.begin(), out_.end());
    out_.clear();
    return s;
  }

  std::optional<std::string> closed;   // the first close reason
  std::unique_ptr<protocol> replaced;  // what replace_protocol() was given
  bool drained = false;
  bool closed_now = false;
  std::string address = "127.0.0.1";

 private:
  std::vector<std::uint8_t> out_;
  std::string peer_ = "127.0.0.1:50000";
};

}  // namespace emu::net::testing
