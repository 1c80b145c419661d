// libFuzzer target: WebSocket frames from any client on the HTTPS port after an upgrade
// (emulator/websocket). Two properties:
//  - parse_frame_header never reads past its input, refuses with a close code RFC 6455 defines,
//    and an accepted header's size is 2-14 bytes with the payload within the bound;
//  - websocket_stream, fed the same bytes in arbitrary chunks, hands its inner protocol exactly
//    the concatenated unmasked payloads of the binary/continuation frames before the first
//    error, close or text frame (computed here independently), and never asks the connection
//    to keep more than input_limit() bytes unless it has closed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "emulator/websocket/frame_codec.hpp"
#include "emulator/websocket/websocket_stream.hpp"
#include "tests/unit/net/fake_link.hpp"

namespace {

using namespace emu;
using namespace emu::websocket;

void check(bool c) {
  if (!c) std::abort();
}

class sink final : public net::protocol {
 public:
  void on_open(net::link&) override {}
  std::size_t on_input(std::span<const std::uint8_t> in) override {
    received.append(in.begin(), in.end());
    return in.size();
  }
  void on_input_closed(std::string_view) override {}
  void on_closed(std::string_view) override {}
  std::size_t input_limit() const override { return 256; }
  std::string received;
};

constexpr std::uint64_t max_payload = 512;

/// What the inner protocol must get: the payloads up to the first frame that ends the stream.
std::string expected_payload(std::span<const std::uint8_t> bytes) {
  std::string out;
  bool in_message = false;
  while (true) {
    const auto r = parse_frame_header(bytes, max_payload);
    if (r.status != parse_status::frame) return out;
    const auto& h = r.header;
    if (bytes.size() < h.header_size + h.payload_size) return out;
    const auto op = h.op;
    if (op == opcode::text || op == opcode::close) return out;
    if (op == opcode::continuation && !in_message) return out;
    if (op == opcode::binary && in_message) return out;
    if (op == opcode::binary || op == opcode::continuation) {
      in_message = !h.fin;
      for (std::size_t i = 0; i < h.payload_size; ++i)
        out.push_back(static_cast<char>(bytes[h.header_size + i] ^ h.mask[i & 3]));
    }
    bytes = bytes.subspan(h.header_size + static_cast<std::size_t>(h.payload_size));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t chunk = static_cast<std::uint8_t>(data[0] % 16 + 1);
  const std::span<const std::uint8_t> bytes(data + 1, size - 1);

  const auto r = parse_frame_header(bytes, max_payload);
  if (r.status == parse_status::frame) {
    check(r.header.header_size >= 6 && r.header.header_size <= 14);
    check(r.header.header_size <= bytes.size());
    check(r.header.payload_size <= max_payload);
  } else if (r.status == parse_status::error) {
    const auto c = static_cast<std::uint16_t>(r.code);
    check(c >= 1000 && c <= 1011 && !r.error.empty());
  }

  net::testing::fake_link link;
  auto inner = std::make_unique<sink>();
  sink* s = inner.get();
  websocket_stream stream(std::move(inner), max_payload);
  stream.open(link);
  std::vector<std::uint8_t> buffered;
  for (std::size_t at = 0; at < bytes.size() && !link.closed; at += chunk) {
    const auto piece = bytes.subspan(at, std::min<std::size_t>(chunk, bytes.size() - at));
    buffered.insert(buffered.end(), piece.begin(), piece.end());
    const auto used = stream.on_input(buffered);
    check(used <= buffered.size());
    buffered.erase(buffered.begin(), buffered.begin() + static_cast<std::ptrdiff_t>(used));
    stream.on_settle();
    check(link.closed || buffered.size() <= stream.input_limit());
  }
  const std::string expected = expected_payload(bytes);
  if (!link.closed) {
    check(s->received == expected);
  } else {
    check(expected.starts_with(s->received));
  }
  return 0;
}
