// libFuzzer target for the device HTTPS API's messages (emulator/https/device_message.hpp):
// the headers and body of `POST /devices/{id}/messages/events`, one message or a JSON batch,
// as a device sends them before anything is stored (issue 20 item 5).
// The input is the rest of a request after a fixed request line: header fields, then the body.
// Properties: no crash or sanitizer report; a request that parses gives either at least one
// message, each within 256 KB (body plus property names and values) with named properties,
// one message carrying exactly the request's body when it is not a batch; or an error that is
// ArgumentInvalid or MessageTooLarge (400 / 413, never a 500).
// Built by tests/fuzz/CMakeLists.txt: emu_fuzz_target(device_message device_message_fuzz.cpp
// emu_https)
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "emulator/https/device_message.hpp"
#include "emulator/https/http_codec.hpp"

namespace {

using namespace emu::https;

void check(bool condition) {
  if (!condition) std::abort();
}

constexpr std::size_t max_message = 256 * 1024;
constexpr std::string_view batch_type = "application/vnd.microsoft.iothub.json";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes = "POST /devices/d/messages/events?api-version=2021-04-12 HTTP/1.1\r\n";
  bytes.append(reinterpret_cast<const char*>(data), size);
  http_limits limits;
  limits.max_body_bytes = 1024 * 1024;
  const auto r = parse_request(bytes, limits);
  if (r.status != parse_status::complete) return 0;
  const auto messages = parse_device_messages(r.request);
  if (!messages) {
    const auto code = messages.error().code;
    check(code == emu::core::hub_error::argument_invalid ||
          code == emu::core::hub_error::message_too_large);
    return 0;
  }
  check(!messages->empty());
  for (const auto& m : *messages) {
    std::size_t total = m.body.size();
    for (const auto& p : m.properties) {
      check(!p.name.empty());
      total += p.name.size() + p.value.size();
    }
    check(total <= max_message);
  }
  // Media types compare without case (RFC 9110 §8.3.1): "appLication/…" is a batch too.
  std::string type = r.request.content_type;
  for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (type.find(batch_type) == std::string::npos) {
    check(messages->size() == 1);
    check((*messages)[0].body == r.request.body);
  }
  return 0;
}
