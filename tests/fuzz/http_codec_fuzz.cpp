// libFuzzer target for the HTTPS front's request parser (emulator/https/http_codec.hpp), which
// sees untrusted bytes from any client before authentication.
// Properties: no crash or sanitizer report; every bound holds (a complete request consumed no
// more than it was given and its body fits max_body_bytes; need_more never asks for more than
// the limits allow); parsing is prefix-stable (the consumed bytes alone parse to the same
// request, and every proper prefix of them needs more); an error has a 4xx/5xx status.
// Built by tests/fuzz/CMakeLists.txt: emu_fuzz_target(http_codec http_codec_fuzz.cpp emu_https)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "emulator/https/http_codec.hpp"

namespace {

using namespace emu::https;

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks small limits sometimes, so the edges are reached with short inputs.
  http_limits limits;
  if (data[0] & 1) {
    limits.max_head_bytes = 64 + (data[0] >> 1);
    limits.max_header_fields = data[0] & 7;
    limits.max_body_bytes = data[0] >> 2;
  }
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto r = parse_request(bytes, limits);
  switch (r.status) {
    case parse_status::complete: {
      check(r.consumed > 0 && r.consumed <= bytes.size());
      check(r.request.body.size() <= limits.max_body_bytes);
      check(!r.request.method.empty() && r.request.target.front() == '/');
      const auto again = parse_request(bytes.substr(0, r.consumed), limits);
      check(again.status == parse_status::complete && again.consumed == r.consumed &&
            again.request.method == r.request.method && again.request.target == r.request.target &&
            again.request.body == r.request.body &&
            again.request.authorization == r.request.authorization &&
            again.keep_alive == r.keep_alive);
      // The last byte matters: without it the request is not complete yet.
      check(parse_request(bytes.substr(0, r.consumed - 1), limits).status !=
            parse_status::complete);
      break;
    }
    case parse_status::need_more:
      // Leading empty lines, the head and a chunked body's framing are each bounded by
      // max_head_bytes (the framing's last CRLF may follow).
      check(r.needed == 0 || (r.needed > bytes.size() &&
                              r.needed <= 3 * limits.max_head_bytes + limits.max_body_bytes + 2));
      break;
    case parse_status::error: {
      check(r.error_status >= 400 && r.error_status < 600 && !r.error_text.empty());
      const auto response = encode_response(parse_error_response(r), false);
      check(response.compare(0, 9, "HTTP/1.1 ") == 0);
      break;
    }
  }
  return 0;
}
