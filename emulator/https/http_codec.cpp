#include "emulator/https/http_codec.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "emulator/core/ascii.hpp"
#include "emulator/https/error_response.hpp"

namespace emu::https {

namespace {

/// RFC 9110 §5.6.2 tchar.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

constexpr bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

/// A field value may hold visible ASCII, SP, HT and obs-text (RFC 9110 §5.5); no other
/// control character (a bare CR or a NUL would let a value be read two ways).
bool is_field_value(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

/// origin-form (RFC 9112 §3.2.1): "/" then visible ASCII only.
bool is_origin_form(std::string_view s) {
  if (s.empty() || s.front() != '/') return false;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
  }
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return core::iequals(a, b);
}

/// Calls `fn(token)` for each element of a comma-separated list (RFC 9110 §5.6.1).
template <class Fn>
void for_each_element(std::string_view list, Fn fn) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    fn(trim_ows(list.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

/// The line at `pos` (without its LF and an optional CR before it), if complete.
std::optional<std::string_view> line_at(std::string_view bytes, std::size_t pos,
                                        std::size_t& next) {
  const auto nl = bytes.find('\n', pos);
  if (nl == std::string_view::npos) return std::nullopt;
  std::string_view line = bytes.substr(pos, nl - pos);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  next = nl + 1;
  return line;
}

/// Where a chunked body's parts are (RFC 9112 §7.1). Only positions are kept, so walking again
/// after more bytes arrived costs one step per chunk, not per byte; the body is copied once.
struct chunked_walk {
  parse_status status = parse_status::need_more;
  std::size_t needed = 0;  ///< need_more: the total bytes needed before another step can succeed
  bool awaiting_line = false;  ///< need_more: inside a size or trailer line (waits for its LF)
  std::size_t end = 0;         ///< complete: where the request ends
  std::vector<std::pair<std::size_t, std::size_t>> chunks;  ///< (offset, size) of each chunk
  std::size_t body_size = 0;
  int error_status = 0;
  std::string error_text;
};

/// A chunk-size line: hex digits, then optionally `;` extensions (ignored) and whitespace.
constexpr std::size_t max_chunk_line = max_chunk_line_bytes;
/// Bounds the walk's cost (each arrival of bytes walks the chunks again).
constexpr std::size_t max_chunks = 1024;

chunked_walk walk_chunked(std::string_view bytes, std::size_t pos, const http_limits& limits) {
  chunked_walk w;
  const auto error = [&w](int status, std::string text) {
    w.status = parse_status::error;
    w.error_status = status;
    w.error_text = std::move(text);
    return w;
  };
  const auto more = [&w, &bytes](std::size_t needed) {
    w.status = parse_status::need_more;
    w.needed = std::max(needed, bytes.size() + 1);
    w.chunks.clear();
    return w;
  };
  // The framing (size lines, CRLFs, trailer) counts against the head's bound, so a request's
  // total size stays within empty lines + head + framing + body limits.
  const std::size_t first = pos;
  const auto framing_over = [&](std::size_t upto) {
    return upto - first - w.body_size > limits.max_head_bytes;
  };
  const std::string framing_error =
      "The chunked framing is larger than " + std::to_string(limits.max_head_bytes) + " bytes.";
  for (;;) {
    std::size_t next = 0;
    const auto line = line_at(bytes, pos, next);
    if (!line) {
      if (bytes.size() - pos > max_chunk_line) return error(400, "A chunk size line is too long.");
      if (framing_over(bytes.size())) return error(431, framing_error);
      w.awaiting_line = true;
      return more(0);
    }
    if (line->size() > max_chunk_line) return error(400, "A chunk size line is too long.");
    if (framing_over(next)) return error(431, framing_error);
    std::size_t size = 0;
    std::size_t digits = 0;
    for (const char c : *line) {
      int v = -1;
      if (c >= '0' && c <= '9') v = c - '0';
      if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
      if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
      if (v < 0) break;
      if (++digits > 8) return error(413, "A chunk is larger than the body limit.");
      size = size * 16 + static_cast<std::size_t>(v);
    }
    if (digits == 0) return error(400, "A chunk size is malformed.");
    const auto rest = trim_ows(line->substr(digits));
    if (!rest.empty() && rest.front() != ';') return error(400, "A chunk size is malformed.");
    pos = next;
    if (size == 0) {
      // The last chunk: trailer fields (ignored) up to an empty line.
      for (;;) {
        const auto trailer = line_at(bytes, pos, next);
        if (!trailer) {
          if (framing_over(bytes.size())) return error(431, framing_error);
          w.awaiting_line = true;
          return more(0);
        }
        if (framing_over(next)) return error(431, framing_error);
        pos = next;
        if (trailer->empty()) break;
      }
      w.status = parse_status::complete;
      w.end = pos;
      return w;
    }
    if (w.chunks.size() >= max_chunks)
      return error(400, "The body has more than " + std::to_string(max_chunks) + " chunks.");
    if (w.body_size + size > limits.max_body_bytes)
      return error(413, "The request body is larger than " + std::to_string(limits.max_body_bytes) +
                            " bytes.");
    // The data, then CRLF (or a bare LF).
    if (bytes.size() < pos + size + 1) return more(pos + size + 1);
    const std::size_t data = pos;
    pos += size;
    if (bytes[pos] == '\r') {
      if (bytes.size() < pos + 2) return more(pos + 2);
      ++pos;
    }
    if (bytes[pos] != '\n') return error(400, "A chunk does not end with CRLF.");
    ++pos;
    w.chunks.emplace_back(data, size);
    w.body_size += size;
  }
}

/// Joins a repeated list field (RFC 9110 §5.3: same as one field with the values comma-joined).
void append_listed(std::string& to, std::string_view value) {
  if (!to.empty()) to += ", ";
  to += value;
}

parse_result fail(int status, std::string text) {
  parse_result r;
  r.status = parse_status::error;
  r.error_status = status;
  r.error_text = std::move(text);
  return r;
}

}  // namespace

bool is_header_name(std::string_view s) {
  return is_token(s);
}

parse_result parse_request(std::string_view bytes, const http_limits& limits) {
  // RFC 9112 §2.2: empty lines before the request line are ignored (some clients send a CRLF
  // after a POST body).
  std::size_t start = 0;
  while (start < bytes.size()) {
    if (bytes[start] == '\n') {
      ++start;
    } else if (bytes[start] == '\r' && start + 1 < bytes.size() && bytes[start + 1] == '\n') {
      start += 2;
    } else {
      break;
    }
    if (start > limits.max_head_bytes) return fail(400, "The request is only empty lines.");
  }

  // Split the head into lines (LF, with an optional CR before it: RFC 9112 §2.2 allows a
  // recipient to accept a bare LF).
  std::string_view request_line;
  struct field {
    std::string_view name, value;
  };
  std::size_t pos = start;
  std::size_t fields_seen = 0;
  std::vector<field> fields;  // views into `bytes`, at most max_header_fields
  for (;;) {
    const auto nl = bytes.find('\n', pos);
    const std::size_t head_so_far = (nl == std::string_view::npos ? bytes.size() : nl + 1) - start;
    if (head_so_far > limits.max_head_bytes) {
      if (request_line.empty() && nl == std::string_view::npos)
        return fail(414, "The request line is longer than " +
                             std::to_string(limits.max_head_bytes) + " bytes.");
      return fail(431, "The request head is larger than " + std::to_string(limits.max_head_bytes) +
                           " bytes.");
    }
    if (nl == std::string_view::npos) return parse_result{};  // need_more
    std::string_view line = bytes.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl + 1;
    if (request_line.empty()) {
      if (line.empty()) return fail(400, "The request line is empty.");
      request_line = line;
      continue;
    }
    if (line.empty()) break;  // end of the head
    if (++fields_seen > limits.max_header_fields)
      return fail(431, "The request has more than " + std::to_string(limits.max_header_fields) +
                           " header fields.");
    if (line.front() == ' ' || line.front() == '\t')
      return fail(400, "Obsolete header line folding is not accepted.");
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return fail(400, "A header line has no colon.");
    const auto name = line.substr(0, colon);
    const auto value = trim_ows(line.substr(colon + 1));
    // No whitespace between the name and the colon (RFC 9112 §5.1: MUST reject).
    if (!is_token(name)) return fail(400, "A header field name is malformed.");
    if (!is_field_value(value)) return fail(400, "A header field value has a control character.");
    fields.push_back(field{name, value});
  }

  // ---- the request line: method SP request-target SP HTTP-version (RFC 9112 §3) ----------
  const auto sp1 = request_line.find(' ');
  const auto sp2 =
      sp1 == std::string_view::npos ? std::string_view::npos : request_line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return fail(400, "The request line is malformed.");
  const auto method = request_line.substr(0, sp1);
  const auto target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  const auto version = request_line.substr(sp2 + 1);
  if (!is_token(method)) return fail(400, "The request method is malformed.");
  bool http10 = false;
  if (version == "HTTP/1.0") {
    http10 = true;
  } else if (version != "HTTP/1.1") {
    const bool looks_like_version = version.size() == 8 && version.substr(0, 5) == "HTTP/" &&
                                    is_digit(version[5]) && version[6] == '.' &&
                                    is_digit(version[7]);
    if (looks_like_version) return fail(505, "Only HTTP/1.1 and HTTP/1.0 are served.");
    return fail(400, "The request line is malformed.");
  }
  if (!is_origin_form(target)) return fail(400, "The request target must be a path.");

  // ---- the fields that matter -----------------------------------------------------------
  parse_result r;
  std::optional<std::size_t> content_length;
  bool host_seen = false;
  bool close = false;
  bool chunked = false;
  for (const auto& f : fields) {
    if (iequals(f.name, "content-length")) {
      // Digits only (no list, no sign): two different lengths would let a proxy and this
      // server disagree on where the body ends (RFC 9112 §6.3).
      if (f.value.empty()) return fail(400, "Content-Length is empty.");
      std::size_t n = 0;
      bool over = false;  // saturates: any length above the bound is refused the same way
      for (const char c : f.value) {
        if (!is_digit(c)) return fail(400, "Content-Length is malformed.");
        if (!over) n = n * 10 + static_cast<std::size_t>(c - '0');
        over = over || n > limits.max_body_bytes;
      }
      if (over) n = limits.max_body_bytes + 1;
      if (content_length && *content_length != n)
        return fail(400, "The request has two different Content-Length fields.");
      if (n > limits.max_body_bytes)
        return fail(413, "The request body is larger than " +
                             std::to_string(limits.max_body_bytes) + " bytes.");
      content_length = n;
    } else if (iequals(f.name, "transfer-encoding")) {
      // RFC 9112 §6.1: only `chunked` alone is understood (Node's https sends it for a body
      // written without a Content-Length: the device SDK's Http transport); any other coding
      // is 501, and chunked from HTTP/1.0 or beside a Content-Length is refused (§6.1, §6.3:
      // a request two parsers could read differently).
      if (chunked) return fail(400, "The request has two Transfer-Encoding fields.");
      if (!iequals(f.value, "chunked"))
        return fail(501, "Only Transfer-Encoding: chunked is supported.");
      if (http10) return fail(400, "Transfer-Encoding is not allowed in HTTP/1.0.");
      chunked = true;
    } else if (iequals(f.name, "host")) {
      if (host_seen) return fail(400, "The request has two Host fields.");
      host_seen = true;
      r.request.host = std::string(f.value);
    } else if (iequals(f.name, "connection")) {
      for_each_element(f.value, [&](std::string_view t) {
        if (iequals(t, "close")) close = true;
      });
      append_listed(r.request.connection, f.value);
    } else if (iequals(f.name, "upgrade")) {
      append_listed(r.request.upgrade, f.value);
    } else if (iequals(f.name, "sec-websocket-key")) {
      r.request.websocket_key = std::string(f.value);
    } else if (iequals(f.name, "sec-websocket-version")) {
      r.request.websocket_version = std::string(f.value);
    } else if (iequals(f.name, "sec-websocket-protocol")) {
      append_listed(r.request.websocket_protocol, f.value);
    } else if (iequals(f.name, "expect")) {
      if (!iequals(f.value, "100-continue"))
        return fail(417, "Only Expect: 100-continue is served.");
      // RFC 9110 §10.1.1: ignored from HTTP/1.0 clients (who may not get a 1xx).
      r.expect_continue = !http10;
    } else if (iequals(f.name, "authorization")) {
      if (!r.request.authorization.empty())
        return fail(400, "The request has two Authorization fields.");
      r.request.authorization = std::string(f.value);
    } else if (iequals(f.name, "if-match")) {
      r.request.if_match = std::string(f.value);
    } else if (iequals(f.name, "x-ms-continuation")) {
      r.request.continuation = std::string(f.value);
    } else if (iequals(f.name, "x-ms-max-item-count")) {
      r.request.max_item_count = std::string(f.value);
    } else if (iequals(f.name, "content-type")) {
      r.request.content_type = std::string(f.value);
    } else if ((f.name.size() > 7 && iequals(f.name.substr(0, 7), "iothub-")) ||
               iequals(f.name, "dt-subject")) {
      r.request.message_headers.emplace_back(std::string(f.name), std::string(f.value));
    }
  }
  // RFC 9112 §3.2: an HTTP/1.1 request without Host MUST be answered 400.
  if (!http10 && !host_seen) return fail(400, "The request has no Host field.");
  if (chunked && content_length)
    return fail(400, "The request has both Transfer-Encoding and Content-Length.");

  if (chunked) {
    const chunked_walk w = walk_chunked(bytes, pos, limits);
    if (w.status == parse_status::error) return fail(w.error_status, w.error_text);
    if (w.status == parse_status::need_more) {
      r.status = parse_status::need_more;
      r.needed = w.needed;
      r.awaiting_line = w.awaiting_line;
      r.request = {};
      return r;
    }
    r.expect_continue = false;
    r.status = parse_status::complete;
    r.consumed = w.end;
    r.request.method = std::string(method);
    r.request.target = std::string(target);
    r.request.body.reserve(w.body_size);
    for (const auto& [offset, size] : w.chunks) r.request.body.append(bytes.substr(offset, size));
    r.keep_alive = !close;
    return r;
  }

  const std::size_t body = content_length.value_or(0);
  const std::size_t total = pos + body;
  if (bytes.size() < total) {
    r.status = parse_status::need_more;
    r.needed = total;
    r.request = {};
    return r;
  }
  r.expect_continue = false;
  r.status = parse_status::complete;
  r.consumed = total;
  r.request.method = std::string(method);
  r.request.target = std::string(target);
  r.request.body = std::string(bytes.substr(pos, body));
  // HTTP/1.0 keep-alive would need `Connection: keep-alive` in the response; the SDKs speak
  // 1.1, so a 1.0 client simply gets one request per connection.
  r.keep_alive = !close && !http10;
  return r;
}

http_response parse_error_response(const parse_result& r) {
  switch (r.error_status) {
    case 413:
      return error_response(413, "MessageTooLarge", r.error_text);
    case 501:
      return error_response(501, "NotImplemented", r.error_text);
    default:
      return error_response(r.error_status == 0 ? 400 : r.error_status, "ArgumentInvalid",
                            r.error_text);
  }
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 417:
      return "Expectation Failed";
    case 429:
      return "Too Many Requests";
    case 426:
      return "Upgrade Required";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string encode_response(const http_response& r, bool keep_alive) {
  // Header names and values come from our handlers; CR and LF are dropped anyway, so no value
  // (an ETag built from a stored string, say) can ever start a header of its own.
  const auto append_clean = [](std::string& out, std::string_view s) {
    for (const char c : s)
      if (c != '\r' && c != '\n') out += c;
  };
  std::string out;
  out.reserve(160 + r.body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(r.status);
  out += ' ';
  out += reason_phrase(r.status);
  out += "\r\n";
  if (!r.content_type.empty()) {
    out += "Content-Type: ";
    append_clean(out, r.content_type);
    out += "\r\n";
  }
  // RFC 9110 §8.6: no Content-Length in a 204 or a 1xx (the 101 of a WebSocket upgrade).
  const bool bodiless = r.status == 204 || r.status < 200;
  if (!bodiless) {
    out += "Content-Length: ";
    out += std::to_string(r.body.size());
    out += "\r\n";
  }
  for (const auto& [name, value] : r.headers) {
    append_clean(out, name);
    out += ": ";
    append_clean(out, value);
    out += "\r\n";
  }
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  if (!bodiless) out += r.body;
  return out;
}

}  // namespace emu::https
