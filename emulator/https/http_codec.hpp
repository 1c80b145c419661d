#pragma once
/// HTTP/1.1 on the wire (RFC 9112), as far as the registry REST clients need it: parse one
/// request from the bytes received so far, encode one response. Pure (bytes in, values out, no
/// I/O), so it is unit-tested and fuzzed (tests/fuzz/http_codec_fuzz.cpp).
///
/// Every bound is checked before the bytes it bounds are kept: a request head larger than
/// `max_head_bytes` or with more than `max_header_fields` fields is refused with 431 as soon
/// as the bytes received show it, a body larger than `max_body_bytes` with 413 as soon as its
/// Content-Length is read (issue 7, "per-connection buffer limits").
///
/// Bodies come with `Content-Length` or `Transfer-Encoding: chunked` (the device SDK's Http
/// transport writes its body without a length, so Node sends it chunked): at most 1,024 chunks
/// (each line end walks the chunk headers again), size lines of at most 256 bytes,
/// extensions and trailers ignored, the same body limit.
///
/// Deliberately not supported (refused, never misread): other transfer codings (501), chunked
/// together with Content-Length or from HTTP/1.0 (400), obsolete line folding (400),
/// absolute-form targets (400), HTTP versions other than 1.0 and 1.1 (505).
#include <cstddef>
#include <string>
#include <string_view>

#include "emulator/https/http_message.hpp"

namespace emu::https {

/// The longest chunk-size line (RFC 9112 §7.1: digits, extensions) a chunked body may have.
inline constexpr std::size_t max_chunk_line_bytes = 256;

struct http_limits {
  /// Request line plus header fields plus the empty line.
  std::size_t max_head_bytes = 16 * 1024;
  std::size_t max_header_fields = 64;
  std::size_t max_body_bytes = 1024 * 1024;
};

enum class parse_status { need_more, complete, error };

struct parse_result {
  parse_status status = parse_status::need_more;
  /// complete: the bytes the request took (the next request, pipelined, starts there).
  std::size_t consumed = 0;
  /// need_more: the total bytes this request needs when known (head parsed, body pending),
  /// else 0.
  std::size_t needed = 0;
  /// need_more inside a chunked body's size or trailer line: nothing new can be said before
  /// the next LF (or until the line outgrows max_chunk_line_bytes).
  bool awaiting_line = false;
  /// need_more with the head parsed: the client sent `Expect: 100-continue` and waits for a
  /// `100 Continue` before sending the body.
  bool expect_continue = false;
  /// complete: the request.
  http_request request;
  /// complete: whether the connection stays open after the response (HTTP/1.1 unless
  /// `Connection: close`; never for HTTP/1.0).
  bool keep_alive = false;
  /// error: the status to answer (400, 413, 431, 501, 505) and why; the connection closes.
  int error_status = 0;
  std::string error_text;
};

/// Parses the request at the start of `bytes` (everything received since the previous request
/// ended). Stateless: call again with more bytes after need_more. Cost is linear in the head
/// (at most `max_head_bytes`) plus the body.
parse_result parse_request(std::string_view bytes, const http_limits& limits);

/// The IoT Hub-shaped error response for a parse error (error_response.hpp).
http_response parse_error_response(const parse_result& r);

/// The status line, headers (`Content-Type` and `Content-Length` from the response, its extra
/// headers, `Connection: close` when `keep_alive` is false) and body.
std::string encode_response(const http_response& r, bool keep_alive);

/// The interim answer to `Expect: 100-continue`.
inline constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";

/// True for an RFC 9110 §5.6.2 token: what a header field name may be.
bool is_header_name(std::string_view s);

/// The reason phrase of a status code ("OK", "Not Found", ...; "Unknown" otherwise).
std::string_view reason_phrase(int status);

}  // namespace emu::https
