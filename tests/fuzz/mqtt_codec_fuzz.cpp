// libFuzzer target for the MQTT 3.1.1 codec and the IoT Hub topic rules.
//
// Properties checked (any violation aborts, which libFuzzer reports as a crash):
//   1. Decoding never reads out of bounds and never reports nonsense sizes.
//   2. Every decoded packet re-encodes, and the re-encoding decodes to an equal packet of
//      exactly the encoded size; every proper prefix of it needs more bytes.
//   3. The same bytes, as text, go through parse_username / parse_telemetry_topic /
//      decode_property_bag / classify_*; a decoded property bag re-encodes to a bag that decodes
//      to the same properties and contains no `/`, and a C2D topic built from it is a valid
//      MQTT topic name whose fifth `/` segment is the whole bag.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/mqtt/codec/decoder.hpp"
#include "emulator/mqtt/codec/encoder.hpp"
#include "emulator/mqtt/codec/validation.hpp"
#include "emulator/mqtt/session/iothub_topics.hpp"

namespace {

using namespace emu::mqtt;

void require(bool condition) {
  if (!condition) std::abort();
}

void check_bag_round_trip(const std::vector<emu::core::property>& props) {
  const std::string bag = encode_property_bag(props);
  require(bag.find('/') == std::string::npos);
  const auto again = decode_property_bag(bag);
  require(again.has_value() && *again == props);

  emu::core::c2d_message m;
  m.device_id = "dev1";
  m.content.properties = props;
  const std::string topic = c2d_topic(m);
  require(is_valid_topic_name(topic) && is_valid_mqtt_utf8(topic));
  const std::string_view prefix = "devices/dev1/messages/devicebound/";
  require(topic.starts_with(prefix));
  const auto seen = decode_property_bag(std::string_view(topic).substr(prefix.size()));
  require(seen.has_value() && seen->size() == props.size() + 1);  // + `$.to`
  require(std::vector<emu::core::property>(seen->begin() + 1, seen->end()) == props);
}

void check_text(std::string_view text) {
  if (auto u = parse_username(text); u.ok()) {
    require(!u->host.empty() && !u->device_id.empty());
    require(u->host.find('/') == std::string::npos);
    require(u->device_id.find('/') == std::string::npos);
    require(u->module_id.find('/') == std::string::npos);
  }
  if (auto t = parse_telemetry_topic(text, "dev1"); t.ok()) {
    require(classify_publish_topic(text, "dev1") == publish_kind::telemetry);
    check_bag_round_trip(*t);
  }
  if (auto bag = decode_property_bag(text)) check_bag_round_trip(*bag);
  (void)classify_subscription(text, "dev1");
  (void)classify_publish_topic(text, "dev1");
}

void check_packet(const decoder& dec, const packet& p) {
  std::vector<std::uint8_t> wire;
  require(encode(p, wire) == encode_error::none);
  const auto r = dec.decode(std::span<const std::uint8_t>(wire));
  require(r.status == decode_status::complete);
  require(r.consumed == wire.size());
  require(r.value == p);
  // A proper prefix is never a packet (the last byte is always needed).
  const auto partial = dec.decode(std::span<const std::uint8_t>(wire).first(wire.size() - 1));
  require(partial.status == decode_status::need_more && partial.needed >= wire.size() - 1 + 1);

  // Topic-level rules on what a device would send.
  if (const auto* c = std::get_if<connect>(&p)) {
    if (c->username) check_text(*c->username);
  } else if (const auto* pub = std::get_if<publish>(&p)) {
    check_text(pub->topic);
  } else if (const auto* sub = std::get_if<subscribe>(&p)) {
    for (const auto& s : sub->subscriptions) (void)classify_subscription(s.filter, "dev1");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  // A limit small enough that packet_too_large is reachable, large enough for real packets.
  const decoder dec({.max_remaining_length = 64 * 1024});

  std::size_t offset = 0;
  while (offset < input.size()) {
    const auto rest = input.subspan(offset);
    const auto r = dec.decode(rest);
    if (r.status == decode_status::need_more) {
      require(r.needed > rest.size());
      break;
    }
    if (r.status == decode_status::error) {
      require(r.error != decode_error::none);
      break;
    }
    require(r.consumed >= 2 && r.consumed <= rest.size());
    check_packet(dec, r.value);
    offset += r.consumed;
  }

  check_text(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
