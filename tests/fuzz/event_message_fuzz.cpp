// libFuzzer target: the telemetry event encoder (amqp/event_message.hpp), which writes AMQP
// bytes itself (amqp_writer) from strings a device chooses (its property names and values, its
// body). Beyond "no crash, no sanitizer report": whatever the strings, the bytes pass the
// structural check, Proton decodes them, and the body, the application properties (last value
// of a repeated name; the hub's stamps are annotations, and a module id comes from the event
// alone, never from a property) and the sequence number come back as they went in.
#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/message.hpp>
#include <proton/scalar.hpp>
#include <proton/symbol.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/amqp/encoding_check.hpp"
#include "emulator/amqp/event_message.hpp"
#include "emulator/amqp/message_codec.hpp"

namespace {

/// Splits the input at 0xff bytes: sequence number seed, device id, module id, body, then
/// name/value pairs (a name starting "$." takes a system property's path).
std::vector<std::string> split(std::string_view in) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= in.size(); ++i) {
    if (i == in.size() || static_cast<unsigned char>(in[i]) == 0xff) {
      parts.emplace_back(in.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto parts = split(std::string_view(reinterpret_cast<const char*>(data), size));
  emu::core::telemetry_message e;
  std::uint64_t seed = 0;
  for (const char ch : parts[0]) seed = seed * 131 + static_cast<unsigned char>(ch);
  e.sequence_number = static_cast<std::int64_t>(seed >> 1);
  e.offset = static_cast<std::int64_t>(seed / 3);
  if (parts.size() > 1) e.device_id = parts[1];
  if (parts.size() > 2) e.module_id = parts[2];
  if (parts.size() > 3) e.body = parts[3];
  std::map<std::string, std::string> expected;  // application properties, last value wins
  for (std::size_t i = 4; i + 1 < parts.size(); i += 2) {
    e.properties.push_back({parts[i], parts[i + 1]});
    const std::string_view n = parts[i];
    if (n == "$.ctime") {
      expected["iothub-creation-time-utc"] = parts[i + 1];
    } else if (!n.starts_with("$.") && n != "iothub-connection-device-id" &&
               n != "iothub-connection-module-id" && n != "iothub-connection-auth-method" &&
               n != "iothub-connection-auth-generation-id") {
      expected[parts[i]] = parts[i + 1];
    }
  }

  const std::vector<char> bytes = emu::amqp::encode_event(e);
  if (!emu::amqp::well_formed_values(std::span<const char>(bytes))) std::abort();
  auto decoded = emu::amqp::decode_message(std::span<const char>(bytes));
  if (!decoded || decoded->body.data != 1) std::abort();
  const proton::message& m = decoded->message;
  if (std::string(proton::get<proton::binary>(m.body())) != e.body) std::abort();
  if (m.properties().size() != expected.size()) std::abort();
  for (const auto& [name, value] : expected) {
    if (proton::get<std::string>(m.properties().get(name)) != value) std::abort();
  }
  const auto seq =
      m.message_annotations().get(proton::annotation_key(proton::symbol("x-opt-sequence-number")));
  if (proton::get<std::int64_t>(seq) != e.sequence_number) std::abort();
  const auto key =
      m.message_annotations().get(proton::annotation_key(proton::symbol("x-opt-partition-key")));
  if (proton::get<std::string>(key) != e.device_id) std::abort();
  return 0;
}
