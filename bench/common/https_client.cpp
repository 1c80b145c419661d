#include "bench/common/https_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <strings.h>
#include <cstdlib>
#include <stdexcept>

namespace bench {

https_client::https_client(std::uint16_t port, const std::string& ca_file,
                           const std::string& host_name)
    : host_(host_name) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr || SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr) != 1)
    throw std::runtime_error("https_client: cannot load the CA " + ca_file);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    throw std::runtime_error("https_client: cannot connect to port " + std::to_string(port));
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  SSL_set_tlsext_host_name(ssl_, host_.c_str());
  SSL_set1_host(ssl_, host_.c_str());
  if (SSL_connect(ssl_) != 1) throw std::runtime_error("https_client: TLS handshake failed");
}

https_client::~https_client() {
  if (ssl_ != nullptr) {
    SSL_shutdown(ssl_);
    SSL_free(ssl_);
  }
  if (fd_ >= 0) ::close(fd_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
}

void https_client::write_all(const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const int n = SSL_write(ssl_, data.data() + done, static_cast<int>(data.size() - done));
    if (n <= 0) throw std::runtime_error("https_client: write failed");
    done += static_cast<std::size_t>(n);
  }
}

void https_client::read_more() {
  char buf[16 * 1024];
  const int n = SSL_read(ssl_, buf, sizeof buf);
  if (n <= 0) throw std::runtime_error("https_client: connection closed");
  in_.append(buf, static_cast<std::size_t>(n));
}

http_response https_client::request(const std::string& method, const std::string& path,
                                    const std::string& authorization,
                                    const std::string& json_body) {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + host_ +
                    "\r\nAuthorization: " + authorization + "\r\n";
  if (!json_body.empty())
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(json_body.size()) +
           "\r\n";
  else if (method != "GET")
    req += "Content-Length: 0\r\n";
  req += "\r\n" + json_body;
  write_all(req);

  std::size_t end = 0;
  while ((end = in_.find("\r\n\r\n")) == std::string::npos) read_more();
  const std::string head = in_.substr(0, end);
  in_.erase(0, end + 4);
  http_response r;
  if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0)
    throw std::runtime_error("https_client: not an HTTP response");
  r.status = std::atoi(head.c_str() + 9);
  std::size_t length = 0;
  for (std::size_t at = head.find("\r\n"); at != std::string::npos;) {
    const auto next = head.find("\r\n", at + 2);
    const auto line =
        head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
    if (line.size() > 15 && strncasecmp(line.c_str(), "Content-Length:", 15) == 0)
      length = static_cast<std::size_t>(std::strtoull(line.c_str() + 15, nullptr, 10));
    at = next;
  }
  while (in_.size() < length) read_more();
  r.body = in_.substr(0, length);
  in_.erase(0, length);
  return r;
}

}  // namespace bench
