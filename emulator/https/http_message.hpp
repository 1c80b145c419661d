#pragma once
/// The HTTP request and response as the API handlers see them: plain values, independent of
/// the HTTP library, so every handler is a pure function that unit tests call directly.
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace emu::https {

struct http_request {
  std::string method;  ///< "GET", "PUT", "POST", "DELETE", ...
  /// The request target as sent (path and query, still percent-encoded).
  std::string target;
  std::string authorization;  ///< the `Authorization` header, empty when absent
  /// The `Host` header as sent (the dashboard refuses names that are not its own: DNS
  /// rebinding).
  std::string host;
  std::string if_match;  ///< the `If-Match` header as sent (quotes included)
  /// Twin query paging (next-capabilities §2.5): `x-ms-continuation` and `x-ms-max-item-count`.
  std::string continuation;
  std::string max_item_count;
  /// `Content-Type` as sent (the device API's batch type, next-capabilities §5).
  std::string content_type;
  /// The message headers of the device API, names as sent: every `iothub-…` field and
  /// `dt-subject` (next-capabilities §5).
  std::vector<std::pair<std::string, std::string>> message_headers;
  /// The WebSocket upgrade's fields (RFC 6455 §4.1), each as sent (repeated fields comma-joined).
  std::string upgrade;
  std::string connection;
  std::string websocket_key;
  std::string websocket_version;
  std::string websocket_protocol;
  std::string body;
};

struct http_response {
  int status = 200;
  /// Empty for a response without a body (204).
  std::string body;
  std::string content_type;
  /// Extra headers (`ETag`, `iothub-errorcode`).
  std::vector<std::pair<std::string, std::string>> headers;
};

/// The JSON content type the SDKs expect: the Node `Registry` parses a body only when the
/// response's content type contains `application/json` (sdk-wire §3 "Success parsing").
inline constexpr const char* json_content_type = "application/json; charset=utf-8";

/// A 200 (or `status`) response with a JSON body. Strings that are not valid UTF-8 (a property
/// value from a device, say) are rendered with U+FFFD instead of failing the response.
inline http_response json_response(const nlohmann::json& body, int status = 200) {
  http_response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.content_type = json_content_type;
  return r;
}

}  // namespace emu::https
