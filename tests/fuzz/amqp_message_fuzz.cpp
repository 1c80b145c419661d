// libFuzzer target: the AMQP front's validation of a raw C2D delivery from a back-end — the
// structural encoding check, Proton's decoding into proton::message, and the conversion to a
// hub request (issue 7 item 3). Nothing here may crash, leak or recurse without bound; a
// message that is accepted must survive encode -> decode with the same request.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <variant>

#include "emulator/amqp/encoding_check.hpp"
#include "emulator/amqp/message_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const char> bytes(reinterpret_cast<const char*>(data), size);
  (void)emu::amqp::first_value_size(bytes);
  (void)emu::amqp::well_formed_values(bytes);

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
