#pragma once
/// The server-side TLS context shared by the MQTT (8883) and AMQP (5671) fronts.
///
/// Requirements (sdk-wire §1.1, §2.1, §6, §8): TLS 1.2 (Python pins it) and 1.3 (Node's
/// default), a certificate whose SANs match the HostName. ARCHITECTURE "Idle TLS memory":
/// SSL_MODE_RELEASE_BUFFERS so an idle connection does not keep ~2x16 KB record buffers.
#include <openssl/ssl.h>

#include <filesystem>
#include <memory>

namespace emu::net {

struct tls_server_options {
  /// PEM: the server certificate first, then any intermediates (not the root).
  std::filesystem::path certificate_chain;
  /// PEM private key for the first certificate; must be unencrypted (there is no prompt).
  std::filesystem::path private_key;
};

/// An OpenSSL server context configured for serving: TLS 1.2 minimum, 1.3 allowed, no compression,
/// no renegotiation, SSL_MODE_RELEASE_BUFFERS, no server-side session cache (resumption uses
/// stateless tickets, so idle memory does not grow with past clients), ECDHE-only AEAD (plus
/// ECDHE CBC-SHA2 for older embedded stacks) cipher suites for TLS 1.2, OpenSSL defaults for
/// TLS 1.3. Client certificates are requested, not required, and any is accepted (the hub
/// decides what one proves: X.509 devices).
///
/// Construction throws std::runtime_error naming the file and the reason when a file is
/// missing or unreadable, is not PEM, or the key does not match the certificate.
///
/// Thread-safety: not copyable; movable. After construction the context is read-only and may
/// be used by many connections on many threads at once (OpenSSL locks the SSL_CTX
/// internally). It must outlive every SSL created from it (net::transport).
class tls_server_context {
 public:
  explicit tls_server_context(const tls_server_options& options);

  tls_server_context(tls_server_context&&) = default;
  tls_server_context& operator=(tls_server_context&&) = default;

  /// For SSL_new (net::transport). Owned by this object; do not free it.
  SSL_CTX* native_handle() noexcept { return context_.get(); }

 private:
  struct ctx_free {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  };
  std::unique_ptr<SSL_CTX, ctx_free> context_;
};

/// The TLS 1.2 cipher list installed by tls_server_context (OpenSSL cipher-string syntax).
extern const char* const tls12_cipher_list;
/// The TLS 1.3 cipher suites installed by tls_server_context (OpenSSL ciphersuites syntax).
extern const char* const tls13_cipher_suites;

/// Applies the server TLS settings every front shares to `ctx` (TLS 1.2..1.3, no compression or
/// renegotiation, released idle buffers, no session cache, the cipher list, an optional client
/// certificate, no pass-phrase prompt). Throws std::runtime_error if OpenSSL refuses.
void configure_server_tls(SSL_CTX* ctx);

}  // namespace emu::net
