// WebSocket for `/$iothub/websocket` (RFC 6455; next-capabilities §6): the frame codec, the
// handshake check, and websocket_stream carrying a protocol over a fake link.
#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "emulator/websocket/frame_codec.hpp"
#include "emulator/websocket/handshake.hpp"
#include "emulator/websocket/websocket_stream.hpp"
#include "tests/unit/net/fake_link.hpp"

using namespace emu;
using namespace emu::websocket;

namespace {

using bytes = std::vector<std::uint8_t>;

/// A masked client frame.
bytes client_frame(std::uint8_t first_byte, const std::string& payload,
                   const std::uint8_t (&mask)[4] = {1, 2, 3, 4}) {
  bytes f{first_byte};
  if (payload.size() < 126) {
    f.push_back(static_cast<std::uint8_t>(0x80 | payload.size()));
  } else {
    f.push_back(0x80 | 126);
    f.push_back(static_cast<std::uint8_t>(payload.size() >> 8));
    f.push_back(static_cast<std::uint8_t>(payload.size()));
  }
  f.insert(f.end(), mask, mask + 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    f.push_back(static_cast<std::uint8_t>(payload[i]) ^ mask[i % 4]);
  return f;
}

/// An inner protocol that records its input and echoes what it is told to.
class recorder final : public net::protocol {
 public:
  void on_open(net::link&) override { opened = true; }
  std::size_t on_input(std::span<const std::uint8_t> in) override {
    if (!accepting) return 0;
    // Uses whole "packets" of `packet` bytes only, like a protocol that needs a full packet.
    const std::size_t n = in.size() / packet * packet;
    received.append(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
    return n;
  }
  void on_input_closed(std::string_view) override { input_closed = true; }
  void on_closed(std::string_view) override { closed = true; }
  bool wants_input() const override { return accepting; }
  std::size_t input_limit() const override { return 64; }
  void write(const std::string& s) {
    link_->output().insert(link_->output().end(), s.begin(), s.end());
  }

  std::string received;
  std::size_t packet = 1;
  bool accepting = true;
  bool opened = false;
  bool input_closed = false;
  bool closed = false;
};

struct stream_fixture {
  net::testing::fake_link link;
  recorder* inner = nullptr;
  std::unique_ptr<websocket_stream> stream;
  bytes buffered;  // what the connection still holds (not yet used by the stream)

  stream_fixture() {
    auto r = std::make_unique<recorder>();
    inner = r.get();
    stream = std::make_unique<websocket_stream>(std::move(r), 1000);
    stream->open(link);
  }
  /// The connection's loop: append, offer, drop what was used, settle.
  void feed(const bytes& b) {
    buffered.insert(buffered.end(), b.begin(), b.end());
    offer();
  }
  void offer() {
    while (!buffered.empty() && stream->wants_input()) {
      const auto used = stream->on_input(buffered);
      buffered.erase(buffered.begin(), buffered.begin() + static_cast<std::ptrdiff_t>(used));
      if (used == 0) break;
    }
    stream->on_settle();
  }
};

}  // namespace

TEST_CASE("frame headers: sizes, masks, and every refusal with its close code") {
  const auto f = client_frame(0x82, "abc");
  auto r = parse_frame_header(f, 100);
  REQUIRE(r.status == parse_status::frame);
  CHECK(r.header.fin);
  CHECK(r.header.op == opcode::binary);
  CHECK(r.header.payload_size == 3);
  CHECK(r.header.header_size == 6);
  for (std::size_t n = 0; n < 6; ++n)
    CHECK(parse_frame_header(std::span(f).first(n), 100).status == parse_status::need_more);

  const auto big = client_frame(0x82, std::string(300, 'x'));
  r = parse_frame_header(big, 1000);
  REQUIRE(r.status == parse_status::frame);
  CHECK(r.header.payload_size == 300);
  CHECK(r.header.header_size == 8);
  CHECK(parse_frame_header(big, 299).code == close_code::message_too_big);

  const bytes len64 = {0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4};
  r = parse_frame_header(len64, 1 << 20);
  REQUIRE(r.status == parse_status::frame);
  CHECK(r.header.payload_size == 65536);
  const bytes top_bit = {0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  CHECK(parse_frame_header(top_bit, 1 << 20).code == close_code::protocol_error);

  const bytes unmasked = {0x82, 0x01, 'x'};
  CHECK(parse_frame_header(unmasked, 100).status == parse_status::error);
  CHECK(parse_frame_header(client_frame(0xc2, "x"), 100).code == close_code::protocol_error);
  CHECK(parse_frame_header(client_frame(0x83, "x"), 100).status == parse_status::error);
  CHECK(parse_frame_header(client_frame(0x09, "x"), 100).status == parse_status::error);
  CHECK(parse_frame_header(client_frame(0x89, std::string(126, 'p')), 1000).status ==
        parse_status::error);
}

TEST_CASE("server frames are unmasked with the shortest length; close carries the code") {
  bytes out;
  const bytes small(5, 7);
  append_frame(out, opcode::binary, small);
  CHECK(out == bytes{0x82, 5, 7, 7, 7, 7, 7});
  out.clear();
  append_frame(out, opcode::binary, bytes(200, 1));
  CHECK(out.size() == 204);
  CHECK(out[1] == 126);
  out.clear();
  append_frame(out, opcode::binary, bytes(70000, 1));
  CHECK(out.size() == 70010);
  CHECK(out[1] == 127);
  out.clear();
  append_close(out, close_code::message_too_big, std::string(200, 'r'));
  CHECK(out[0] == 0x88);
  CHECK(out[1] == 125);
  CHECK(out[2] == 0x03);
  CHECK(out[3] == 0xf1);
}

TEST_CASE("handshake: RFC 6455's example key, subprotocols echoed as sent, refusals") {
  CHECK(accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  const std::string_view supported[] = {"mqtt", "AMQPWSB10"};
  upgrade_request r{
      "GET", "websocket", "keep-alive, Upgrade", "dGhlIHNhbXBsZSBub25jZQ==", "13", "MQTT"};
  auto h = check_upgrade(r, supported);
  CHECK(h.status == 101);
  CHECK(h.protocol == "MQTT");
  CHECK(h.chosen == 0);
  CHECK(h.accept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  r.protocols = "foo, amqpwsb10";
  h = check_upgrade(r, supported);
  CHECK(h.status == 101);
  CHECK(h.protocol == "amqpwsb10");
  CHECK(h.chosen == 1);

  auto refused = [&](upgrade_request bad) { return check_upgrade(bad, supported).status; };
  upgrade_request bad = r;
  bad.protocols = "";
  CHECK(refused(bad) == 400);
  bad = r;
  bad.protocols = "stomp";
  CHECK(refused(bad) == 400);
  bad = r;
  bad.version = "8";
  CHECK(refused(bad) == 426);
  bad = r;
  bad.key = "abc";
  CHECK(refused(bad) == 400);
  bad = r;
  bad.upgrade = "h2c";
  CHECK(refused(bad) == 400);
  bad = r;
  bad.connection = "keep-alive";
  CHECK(refused(bad) == 400);
  bad = r;
  bad.method = "POST";
  CHECK(refused(bad) == 405);
}

TEST_CASE(
    "websocket_stream joins payloads across frames and messages; frames stay buffered "
    "until their payload is used") {
  stream_fixture f;
  CHECK(f.inner->opened);
  f.inner->packet = 4;                 // the inner protocol only takes whole 4-byte packets
  f.feed(client_frame(0x02, "ab"));    // a fragmented message: binary without FIN
  f.feed(client_frame(0x80, "cdef"));  // its last continuation
  CHECK(f.inner->received == "abcd");
  CHECK_FALSE(f.buffered.empty());  // the second frame still holds "ef"
  f.feed(client_frame(0x82, "gh"));
  CHECK(f.inner->received == "abcdefgh");
  CHECK(f.buffered.empty());

  SUBCASE("an inner protocol that waits keeps its input in the connection's buffer") {
    f.inner->packet = 1;
    f.inner->accepting = false;
    f.feed(client_frame(0x82, "later"));
    CHECK(f.inner->received == "abcdefgh");
    CHECK(f.buffered.size() == 11);
    f.inner->accepting = true;
    f.offer();  // the connection offers its buffered bytes again
    CHECK(f.inner->received == "abcdefghlater");
    CHECK(f.buffered.empty());
  }
}

TEST_CASE("websocket_stream frames the inner output, answers pings, closes on a close frame") {
  stream_fixture f;
  f.inner->write("PKT");
  f.stream->on_settle();
  CHECK(f.link.take() == std::string("\x82\x03PKT", 5));
  f.feed(client_frame(0x89, "hi"));
  CHECK(f.link.take() == std::string("\x8a\x02hi", 4));
  f.feed(client_frame(0x88, std::string("\x03\xe8", 2)));
  CHECK(f.link.take() == std::string("\x88\x02\x03\xe8", 4));
  CHECK(f.link.closed.has_value());
  CHECK(f.inner->input_closed);
}

TEST_CASE("websocket_stream refuses text, bad frames and a message inside a message") {
  struct row {
    bytes frame;
    std::uint16_t code;
  };
  const row rows[] = {
      {client_frame(0x81, "text"), 1003},
      {bytes{0x82, 0x01, 'x'}, 1002},
      {client_frame(0x80, "x"), 1002},
      {client_frame(0x82, std::string(1001, 'x')), 1009},
  };
  for (const auto& [frame, code] : rows) {
    stream_fixture f;
    f.feed(frame);
    const auto out = f.link.take();
    REQUIRE(out.size() >= 4);
    CHECK(static_cast<unsigned char>(out[0]) == 0x88);
    CHECK(((static_cast<unsigned char>(out[2]) << 8) | static_cast<unsigned char>(out[3])) == code);
    CHECK(f.link.closed.has_value());
    CHECK(f.link.drained);
  }
  stream_fixture f;
  f.feed(client_frame(0x02, "a"));
  f.feed(client_frame(0x82, "b"));
  const auto out = f.link.take();
  REQUIRE(out.size() >= 4);
  CHECK(((static_cast<unsigned char>(out[2]) << 8) | static_cast<unsigned char>(out[3])) == 1002);
}

TEST_CASE("the inner protocol's close sends its last output, then a close frame") {
  stream_fixture f;
  f.inner->write("BYE");
  f.stream->close("done");
  CHECK(f.link.take() == std::string("\x82\x03"
                                     "BYE\x88\x02\x03\xe8",
                                     9));
  CHECK(f.link.closed == "done");
}

TEST_CASE("data before a close in the same read still reaches the inner protocol") {
  stream_fixture f;
  bytes both = client_frame(0x82, "DISCONNECT");
  const auto close = client_frame(0x88, std::string("\x03\xe9", 2));
  both.insert(both.end(), close.begin(), close.end());
  SUBCASE("taken at once") {
    f.feed(both);
    CHECK(f.inner->received == "DISCONNECT");
    CHECK(f.link.take() == std::string("\x88\x02\x03\xe9", 4));  // 1001 echoed
    CHECK(f.inner->input_closed);
  }
  SUBCASE("taken after the inner protocol waited") {
    f.inner->accepting = false;
    f.feed(both);
    CHECK(f.inner->received.empty());
    CHECK_FALSE(f.inner->input_closed);
    f.inner->accepting = true;
    f.offer();
    CHECK(f.inner->received == "DISCONNECT");
    CHECK(f.inner->input_closed);
  }
}

TEST_CASE("a close code the peer may not send is answered with 1000; a 1-byte close is 1002") {
  stream_fixture f;
  f.feed(client_frame(0x88, std::string("\x03\xed", 2)));  // 1005: reserved
  CHECK(f.link.take() == std::string("\x88\x02\x03\xe8", 4));
  stream_fixture g;
  g.feed(client_frame(0x88, std::string("\x03", 1)));
  const auto out = g.link.take();
  REQUIRE(out.size() >= 4);
  CHECK(((static_cast<unsigned char>(out[2]) << 8) | static_cast<unsigned char>(out[3])) == 1002);
}
