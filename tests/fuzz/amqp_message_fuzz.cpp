// libFuzzer target: the AMQP front's validation of a raw C2D delivery from a back-end — the
// structural encoding check, Proton's decoding into proton::message, and the conversion to a
// hub request (issue 7 item 3); and the same bytes as a device's twin request or method answer
// (issue 15: next-capabilities §2.5, §3.3), a batched telemetry message, and a transfer
// frame's message-format. Nothing here may crash, leak or recurse without
// bound; a message that is accepted must survive encode -> decode with the same request, and a
// twin request's correlation-id must survive its answer.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <variant>

#include "emulator/amqp/device_telemetry.hpp"
#include "emulator/amqp/encoding_check.hpp"
#include "emulator/amqp/message_codec.hpp"
#include "emulator/amqp/method_message.hpp"
#include "emulator/amqp/transfer_frame.hpp"
#include "emulator/amqp/twin_message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const char> bytes(reinterpret_cast<const char*>(data), size);
  (void)emu::amqp::first_value_size(bytes);
  (void)emu::amqp::well_formed_values(bytes);
  (void)emu::amqp::transfer_message_format(bytes);
  (void)emu::amqp::decode_device_telemetry_batch(bytes);

  if (const auto twin = emu::amqp::decode_twin_request(bytes)) {
    const auto answer = emu::amqp::encode_twin_response(twin->correlation_id, 204, 1, {});
    const auto back =
        emu::amqp::decode_message(std::span<const char>(answer.data(), answer.size()));
    if (!back || back->message.correlation_id() != twin->correlation_id) {
      std::fprintf(stderr, "a twin answer lost its correlation-id\n");
      std::abort();
    }
  }
  if (const auto answer = emu::amqp::decode_method_response(bytes); answer && answer->call_id) {
    // Only our own uuids carry a call id, and they name it back.
    const auto call = emu::amqp::encode_method_request(*answer->call_id, "m", "null");
    const auto back = emu::amqp::decode_message(std::span<const char>(call.data(), call.size()));
    if (!back || emu::amqp::message_id_to_string(back->message.correlation_id()) !=
                     emu::amqp::method_call_uuid(*answer->call_id)) {
      std::fprintf(stderr, "a method call's uuid does not name its call\n");
      std::abort();
    }
  }

  auto decoded = emu::amqp::decode_message(bytes);
  if (!decoded) return 0;
  auto& message = *decoded;
  const auto request = emu::amqp::to_c2d_request(message);
  if (!request) return 0;

  // Round trip: what we accepted, re-encoded by Proton, must be accepted identically.
  const auto encoded = emu::amqp::encode_message(message.message);
  if (!encoded) return 0;
  const auto again = emu::amqp::decode_c2d(std::span<const char>(encoded->data(), encoded->size()));
  if (!again) std::abort();
  // Application property order carries no meaning (AMQP 1.0 §3.2.5: a map), and Proton's
  // property_map re-encodes in key order: compare the properties as sorted lists.
  auto a = *request;
  auto b = *again;
  const auto by_name = [](const auto& x, const auto& y) { return x.name < y.name; };
  std::sort(a.content.properties.begin(), a.content.properties.end(), by_name);
  std::sort(b.content.properties.begin(), b.content.properties.end(), by_name);
  if (a.device_id != b.device_id || !(a.content == b.content)) {
    std::fprintf(stderr, "round trip changed the C2D request\n");
    std::abort();
  }
  return 0;
}
