// libFuzzer target for the MQTT device session (emulator/mqtt/session/session.hpp): the input
// is a script of events — wire bytes (decoded into packets by the codec), hub answers, timers,
// closes — played into one session. Besides crashes and sanitizer reports it checks the
// session's promises:
//   - nothing is sent or authenticated after the session closed;
//   - every packet it sends encodes, and decodes back to the same value;
//   - a delivered message is settled at most once, only if it went out at QoS 1, and never
//     by a close (the hub's end of the session gives such messages back, not the session);
//   - a CONNACK comes at most once, and first;
//   - the map of unacknowledged deliveries stays bounded.
//
// Input format, repeated until the input ends:
//   0 len_hi len_lo bytes…   wire bytes: every complete packet in them goes to on_packet (a
//                            decode error to on_decode_error, and the rest is dropped)
//   1 outcome stored         on_auth_result: outcome%3 (accepted/refused/store failed), stored%3
//                            (none / QoS 0 / QoS 1)
//   2 qos seq lock secs      on_delivery with QoS qos%2: a message (seq, lock id, lock expiry
//                            in seconds from now). Skipped unless the session is connected and
//                            subscribed, as the hub only delivers to such a session.
//   3 ok                     on_subscription_stored(ok%2)
//   4 id_hi id_lo ok         on_telemetry_stored
//   5                        (nothing)
//   6 secs                   time passes, then on_timer
//   7 reason                 close(reason)
//   8                        on_open
// The first byte chooses the in-flight window (1 + byte%4).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <span>
#include <utility>
#include <vector>

#include "emulator/mqtt/codec/decoder.hpp"
#include "emulator/mqtt/codec/encoder.hpp"
#include "emulator/mqtt/session/session.hpp"

namespace {

using namespace emu;
using namespace emu::mqtt;

[[noreturn]] void broken(const char* what) {
  __builtin_printf("invariant violated: %s\n", what);
  std::abort();
}

struct reader {
  std::span<const std::uint8_t> in;
  bool empty() const { return in.empty(); }
  std::uint8_t byte() {
    if (in.empty()) return 0;
    const auto b = in[0];
    in = in.subspan(1);
    return b;
  }
  std::span<const std::uint8_t> bytes(std::size_t n) {
    n = std::min(n, in.size());
    auto out = in.first(n);
    in = in.subspan(n);
    return out;
  }
};

struct checker {
  std::size_t window = 1;
  bool closed = false;
  bool connack_sent = false;
  bool authenticate_seen = false;
  std::size_t sent_packets = 0;
  /// (seq, lock) of QoS 1 deliveries → settled?
  std::map<std::pair<std::uint64_t, std::uint64_t>, bool> delivered;
  std::pair<std::uint64_t, std::uint64_t> last_delivery{};
  int last_qos = 1;
  bool expect_delivery = false;

  void finish(std::uint64_t seq, std::uint64_t lock, const char* what) {
    const auto it = delivered.find({seq, lock});
    if (it == delivered.end()) broken(what);
    if (it->second) broken("a delivery settled twice");
    it->second = true;
  }

  void check(const actions& out, session& s, core::time_point now, bool closing_call = false) {
    (void)now;
    bool closing = false;
    for (const auto& a : out) {
      if (const auto* send = std::get_if<action::send>(&a)) {
        if (closed || closing) broken("send after close");
        std::vector<std::uint8_t> bytes;
        if (encode(send->value, bytes) != encode_error::none) broken("unencodable packet");
        const auto back = decoder{}.decode(std::span<const std::uint8_t>(bytes));
        if (back.status != decode_status::complete || back.consumed != bytes.size() ||
            !(back.value == send->value))
          broken("packet does not round-trip");
        const bool is_connack = std::holds_alternative<connack>(send->value);
        if (is_connack && connack_sent) broken("second CONNACK");
        if (!is_connack && !connack_sent) broken("packet before CONNACK");
        connack_sent = connack_sent || is_connack;
        if (const auto* p = std::get_if<publish>(&send->value)) {
          if (!expect_delivery) broken("PUBLISH without a delivery");
          if ((p->qos == qos_level::at_least_once) != (last_qos == 1))
            broken("PUBLISH QoS differs from the delivery's");
          if (p->qos == qos_level::at_least_once) {
            if (p->packet_id == 0) broken("QoS 1 PUBLISH without packet id");
            delivered[last_delivery] = false;
          }
        }
        ++sent_packets;
      } else if (std::get_if<action::close>(&a)) {
        if (closed) broken("closed twice");
        closing = true;
      } else if (std::get_if<action::authenticate>(&a)) {
        if (closed || closing || authenticate_seen) broken("authenticate again or after close");
        authenticate_seen = true;
      } else if (const auto* st = std::get_if<action::settle>(&a)) {
        if (closing_call) broken("a close settled a message");
        finish(st->seq, st->lock_id, "settle of a message never delivered at QoS 1");
      } else if (std::get_if<action::store_subscription>(&a)) {
        if (closed || closing) broken("store_subscription after close");
      }
    }
    if (closing && s.current_phase() != session::phase::closed) broken("close without closing");
    if (s.current_phase() == session::phase::closed && !closed) closed = true;
    if (s.inflight_count() > window + 64 + window) broken("in-flight map grows without bound");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  reader in{{data, size}};
  session_settings settings;
  settings.hosts.primary = "localhost";
  settings.inflight_window = 1 + in.byte() % 4;
  settings.max_pending_packets = 4;
  session s(settings);
  checker c;
  c.window = settings.inflight_window;
  core::time_point now = core::from_unix_ms(1'780'000'000'000);
  decoder dec(decoder_limits{64 * 1024});
  std::uint64_t next_seq = 1;

  while (!in.empty()) {
    const auto op = in.byte() % 9;
    actions out;
    switch (op) {
      case 0: {
        const std::size_t len = static_cast<std::size_t>(in.byte()) << 8 | in.byte();
        auto bytes = in.bytes(len);
        while (!bytes.empty()) {
          auto r = dec.decode(bytes);
          if (r.status == decode_status::need_more) break;
          actions step = r.status == decode_status::error ? s.on_decode_error(r.error, now)
                                                          : s.on_packet(std::move(r.value), now);
          c.expect_delivery = false;
          // A PUBACK from the script finishes the matching delivery in the checker's view
          // only through the session's settle action.
          c.check(step, s, now);
          if (r.status == decode_status::error) break;
          bytes = bytes.subspan(r.consumed);
        }
        continue;
      }
      case 1: {
        auth_result r;
        r.result = static_cast<auth_result::outcome>(in.byte() % 3);
        const auto stored = in.byte() % 3;
        if (stored > 0) r.stored_subscription = stored - 1;
        r.expiry = now + std::chrono::seconds(1 + in.byte());
        r.generation_id = "1";
        out = s.on_auth_result(std::move(r), now);
        break;
      }
      case 2: {
        const int qos = in.byte() % 2;
        const auto seq_byte = in.byte();
        const auto lock_byte = in.byte();
        const auto secs = in.byte();
        // The hub delivers only to a connected, subscribed session.
        if (s.current_phase() != session::phase::connected || !s.subscription_qos()) continue;
        core::c2d_delivery d;
        d.message.seq = next_seq++ * 256 + seq_byte;
        d.lock_id = 1u + lock_byte;
        d.message.lock_id = d.lock_id;
        d.message.device_id = s.device_id();
        d.message.content.message_id = "m";
        d.message.lock_expiry = now + std::chrono::seconds(secs);
        c.last_delivery = {d.message.seq, d.lock_id};
        c.last_qos = qos;
        c.expect_delivery = true;
        out = s.on_delivery(std::move(d), qos, now);
        c.check(out, s, now);
        c.expect_delivery = false;
        continue;
      }
      case 3:
        out = s.on_subscription_stored(in.byte() % 2 == 1, now);
        break;
      case 4: {
        const auto id = static_cast<std::uint16_t>(in.byte() << 8 | in.byte());
        out = s.on_telemetry_stored(id, in.byte() % 2 == 1, now);
        break;
      }
      case 5:
        continue;
      case 6:
        now += std::chrono::seconds(in.byte());
        out = s.on_timer(now);
        break;
      case 7:
        c.check(s.close(static_cast<close_reason>(in.byte() % 22), now), s, now, true);
        continue;
      case 8:
        out = s.on_open(now);
        break;
    }
    c.check(out, s, now);
  }
  // Whatever the script did, a final close settles nothing.
  c.check(s.close(close_reason::connection_lost, now), s, now, true);
  return 0;
}
