#include "emulator/net/transport.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <system_error>

namespace emu::net {

namespace {

// ---- a socket BIO that never raises SIGPIPE ---------------------------------------------------
// OpenSSL's own socket BIO writes with write(2), which raises SIGPIPE on a connection the peer
// reset; a library must not depend on the process ignoring that signal.

int fd_of(BIO* b) {
  return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(b)));
}

bool retryable(int e) {
  return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

int nosig_write(BIO* b, const char* data, int len) {
  BIO_clear_retry_flags(b);
  const auto n = ::send(fd_of(b), data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
  if (n < 0 && retryable(errno)) BIO_set_retry_write(b);
  return static_cast<int>(n);
}

int nosig_read(BIO* b, char* data, int len) {
  BIO_clear_retry_flags(b);
  const auto n = ::recv(fd_of(b), data, static_cast<std::size_t>(len), 0);
  if (n < 0 && retryable(errno)) BIO_set_retry_read(b);
  return static_cast<int>(n);
}

int nosig_puts(BIO* b, const char* s) {
  return nosig_write(b, s, static_cast<int>(std::strlen(s)));
}

long nosig_ctrl(BIO*, int cmd, long, void*) {
  // Writes go straight to the socket: nothing to flush. Everything else is unsupported.
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int nosig_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

int nosig_destroy(BIO*) {
  return 1;  // the socket belongs to asio, which closes it
}

const BIO_METHOD* nosig_method() {
  // Created once, never freed (like OpenSSL's built-in methods); thread-safe static init.
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "emu-socket");
    BIO_meth_set_write(m, nosig_write);
    BIO_meth_set_read(m, nosig_read);
    BIO_meth_set_puts(m, nosig_puts);
    BIO_meth_set_ctrl(m, nosig_ctrl);
    BIO_meth_set_create(m, nosig_create);
    BIO_meth_set_destroy(m, nosig_destroy);
    return m;
  }();
  return method;
}

std::string ssl_error_text() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

}  // namespace

transport::transport(asio::ip::tcp::socket socket, SSL_CTX* tls) : socket_(std::move(socket)) {
  std::error_code ec;
  socket_.non_blocking(true, ec);
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  const auto ep = socket_.remote_endpoint(ec);
  peer_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
  if (tls == nullptr) return;
  ssl_.reset(SSL_new(tls));
  if (!ssl_) return;  // handshake() reports the failure
  BIO* bio = BIO_new(nosig_method());
  if (bio == nullptr) {
    ssl_.reset();
    return;
  }
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(socket_.native_handle())));
  SSL_set_bio(ssl_.get(), bio, bio);  // one reference, owned by the SSL from here on
  // Partial writes and a moving retry buffer let the caller append to its output buffer while a
  // write is blocked; RELEASE_BUFFERS frees the record buffers while idle.
  SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                               SSL_MODE_RELEASE_BUFFERS);
  // Read-ahead: one recv takes as many records as the socket holds, instead of two (header,
  // body) per record (bench/RESULTS.md issue 14: 2.3 recvfrom per telemetry event). SSL_read
  // still hands them out a record at a time and reports WANT_READ only when what it holds is
  // not a whole record, so waiting on the socket then stays right.
  SSL_set_read_ahead(ssl_.get(), 1);
  SSL_set_accept_state(ssl_.get());
}

transport::~transport() {
  close();
}

transport::result transport::map_ssl(int rc, const char* what) {
  result r;
  if (rc > 0) {
    r.bytes = static_cast<std::size_t>(rc);
    return r;
  }
  const int saved_errno = errno;
  switch (SSL_get_error(ssl_.get(), rc)) {
    case SSL_ERROR_WANT_READ:
      r.st = status::would_block;
      r.wait = asio::socket_base::wait_read;
      return r;
    case SSL_ERROR_WANT_WRITE:
      r.st = status::would_block;
      r.wait = asio::socket_base::wait_write;
      return r;
    case SSL_ERROR_ZERO_RETURN:
      r.st = status::closed;
      return r;
    case SSL_ERROR_SYSCALL:
      ERR_clear_error();
      if (saved_errno == 0) {
        r.st = status::closed;  // EOF without close_notify
        return r;
      }
      r.st = status::failed;
      r.error = std::string(what) + ": " + std::strerror(saved_errno);
      return r;
    default:
      r.st = status::failed;
      r.error = std::string(what) + ": " + ssl_error_text();
      return r;
  }
}

transport::result transport::handshake() {
  if (closed_) return {status::failed, 0, {}, "closed"};
  if (!is_tls()) return {};
  ERR_clear_error();  // the error queue is per thread and shared by every connection on it
  errno = 0;
  const int rc = SSL_do_handshake(ssl_.get());
  return map_ssl(rc == 1 ? 1 : rc, "TLS handshake");
}

transport::result transport::read(std::span<std::uint8_t> into) {
  if (closed_) return {status::failed, 0, {}, "closed"};
  if (into.empty()) return {};
  if (is_tls()) {
    ERR_clear_error();
    errno = 0;
    const int n = SSL_read(ssl_.get(), into.data(), static_cast<int>(into.size()));
    return map_ssl(n, "TLS read");
  }
  std::error_code ec;
  const auto n = socket_.read_some(asio::buffer(into.data(), into.size()), ec);
  if (!ec) return {status::ok, n, {}, {}};
  if (ec == asio::error::would_block || ec == asio::error::try_again)
    return {status::would_block, 0, asio::socket_base::wait_read, {}};
  if (ec == asio::error::eof) return {status::closed, 0, {}, {}};
  return {status::failed, 0, {}, "read: " + ec.message()};
}

transport::result transport::write(std::span<const std::uint8_t> bytes) {
  if (closed_) return {status::failed, 0, {}, "closed"};
  if (bytes.empty()) return {};
  if (is_tls()) {
    ERR_clear_error();
    errno = 0;
    const int n = SSL_write(ssl_.get(), bytes.data(), static_cast<int>(bytes.size()));
    return map_ssl(n, "TLS write");
  }
  std::error_code ec;
  const auto n = socket_.write_some(asio::buffer(bytes.data(), bytes.size()), ec);
  if (!ec) return {status::ok, n, {}, {}};
  if (ec == asio::error::would_block || ec == asio::error::try_again)
    return {status::would_block, 0, asio::socket_base::wait_write, {}};
  return {status::failed, 0, {}, "write: " + ec.message()};
}

void transport::shutdown_write() {
  if (write_shut_ || closed_) return;
  write_shut_ = true;
  if (ssl_ && SSL_is_init_finished(ssl_.get())) {
    // Best effort close_notify; never wait for the peer's (MQTT has its own end of session).
    // OpenSSL reads on after sending it, so the drain that follows still works.
    ERR_clear_error();
    SSL_set_quiet_shutdown(ssl_.get(), 0);
    (void)SSL_shutdown(ssl_.get());
    // Writing the alert made OpenSSL allocate a full record buffer (16 KiB); with
    // SSL_MODE_RELEASE_BUFFERS it is kept until the SSL is freed. At a stop every connection
    // closes at once, so give it back now (nothing is freed while the alert is still pending).
    (void)SSL_free_buffers(ssl_.get());
    ERR_clear_error();
  }
  std::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_send, ec);
}

void transport::close() {
  if (closed_) return;
  shutdown_write();
  closed_ = true;
  std::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_both, ec);
  socket_.close(ec);
}

void transport::abort() {
  if (closed_) return;
  closed_ = true;
  std::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_both, ec);
  socket_.close(ec);
}

std::string transport::protocol() const {
  if (!ssl_) return "tcp";
  return SSL_get_version(ssl_.get());
}

std::vector<std::string> transport::peer_certificates() const {
  std::vector<std::string> out;
  if (!ssl_) return out;
  const auto add = [&out](X509* x) {
    unsigned char* der = nullptr;
    const int n = i2d_X509(x, &der);
    if (n <= 0) return;
    out.emplace_back(reinterpret_cast<const char*>(der), static_cast<std::size_t>(n));
    OPENSSL_free(der);
  };
  // Server side: SSL_get_peer_cert_chain does not hold the leaf (SSL_get0_peer_certificate).
  X509* leaf = SSL_get0_peer_certificate(ssl_.get());
  if (leaf == nullptr) return out;
  add(leaf);
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl_.get()); chain != nullptr)
    for (int i = 0; i < sk_X509_num(chain) && out.size() < 10; ++i) add(sk_X509_value(chain, i));
  return out;
}

}  // namespace emu::net
