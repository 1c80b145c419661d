#pragma once
/// A blocking HTTP/1.1 client over one persistent TLS connection (OpenSSL), for benchmarks that
/// call the service REST API: one request at a time, bodies with Content-Length only (what
/// the emulator sends). Benchmark code only. Not thread-safe: one client per thread.
#include <cstdint>
#include <string>

struct ssl_st;
struct ssl_ctx_st;

namespace bench {

struct http_response {
  int status = 0;
  std::string body;
};

class https_client {
 public:
  /// Connects to 127.0.0.1:`port`, verifying the server's certificate against `ca_file` for
  /// `host_name` (SNI and the name check). Throws on failure.
  https_client(std::uint16_t port, const std::string& ca_file, const std::string& host_name);
  ~https_client();
  https_client(const https_client&) = delete;
  https_client& operator=(const https_client&) = delete;

  /// One request with `authorization` and a JSON body (empty: none). Throws on a broken
  /// connection or an unparsable answer.
  http_response request(const std::string& method, const std::string& path,
                        const std::string& authorization, const std::string& json_body);

 private:
  void write_all(const std::string& data);
  void read_more();

  std::string host_;
  int fd_ = -1;
  ssl_ctx_st* ctx_ = nullptr;
  ssl_st* ssl_ = nullptr;
  std::string in_;  // read but not yet consumed
};

}  // namespace bench
