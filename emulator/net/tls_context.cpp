#include "emulator/net/tls_context.hpp"

#include "emulator/net/openssl_handles.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace emu::net {

// The suites Azure IoT Hub accepts with TLS 1.2 enforcement (Microsoft Learn "Transport Layer
// Security (TLS) support in IoT Hub", cipher suites; since 31 August 2025 every hub): ECDHE with
// AES-GCM (recommended) first, then ECDHE with AES-CBC and SHA-2 for older embedded TLS stacks.
// Both ECDSA and RSA variants, so an operator-supplied RSA certificate works too. Not ChaCha20:
// Azure does not list it, and a client that only offers it must fail here as it would there
// (issue 20 item 6, tests/integration/attacks/test_tls.py).
const char* const tls12_cipher_list =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:"
    "ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384";
// TLS 1.3: the two AES-GCM suites of Azure's list (OpenSSL's default adds ChaCha20).
const char* const tls13_cipher_suites = "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256";

namespace {

namespace fs = std::filesystem;

std::string quoted(const fs::path& p) {
  return "'" + p.string() + "'";
}

/// Reads a whole file, distinguishing "missing" from "unreadable" in the message.
std::string read_file(const fs::path& path, const char* what) {
  std::error_code ec;
  if (path.empty()) throw std::runtime_error(std::string("TLS ") + what + " path is empty");
  if (!fs::exists(path, ec)) {
    throw std::runtime_error(std::string("TLS ") + what + " " + quoted(path) + " does not exist");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error(std::string("TLS ") + what + " " + quoted(path) +
                             " cannot be read: " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// OpenSSL's default for an encrypted key is to prompt on the terminal, which would hang a
/// service without a TTY. Returning 0 makes decryption fail with a clear error instead.
int no_password(char*, int, int, void*) {
  return 0;
}

void load_credentials(SSL_CTX* ctx, const tls_server_options& options) {
  // Read both first so "missing"/"unreadable" are reported before any parse error.
  read_file(options.certificate_chain, "certificate");
  const std::string key_pem = read_file(options.private_key, "private key");

  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, options.certificate_chain.c_str()) != 1) {
    throw std::runtime_error("TLS certificate " + quoted(options.certificate_chain) +
                             " is not a valid PEM certificate chain: " + openssl_reason());
  }

  bio_ptr bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  pkey_ptr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr) : nullptr);
  if (!key) {
    throw std::runtime_error("TLS private key " + quoted(options.private_key) +
                             " is not an unencrypted PEM private key: " + openssl_reason());
  }

  // Compare ourselves: SSL_CTX_use_PrivateKey's own mismatch error ("key values mismatch")
  // does not say which files were involved.
  const X509* cert = SSL_CTX_get0_certificate(ctx);
  const EVP_PKEY* pub = cert != nullptr ? X509_get0_pubkey(cert) : nullptr;
  if (pub == nullptr || EVP_PKEY_eq(pub, key.get()) != 1) {
    ERR_clear_error();
    throw std::runtime_error("TLS private key " + quoted(options.private_key) +
                             " does not match the certificate " +
                             quoted(options.certificate_chain));
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    throw std::runtime_error("TLS private key " + quoted(options.private_key) +
                             " cannot be used with " + quoted(options.certificate_chain) + ": " +
                             openssl_reason());
  }
}

/// OpenSSL's default decisions for a ticket (SSL_CTX_set_session_ticket_cb(3)), except that a
/// session with a client certificate is not resumed.
SSL_TICKET_RETURN ticket_without_client_certificate(SSL*, SSL_SESSION* session,
                                                    const unsigned char*, size_t,
                                                    SSL_TICKET_STATUS status, void*) {
  switch (status) {
    case SSL_TICKET_SUCCESS:
    case SSL_TICKET_SUCCESS_RENEW:
      if (SSL_SESSION_get0_peer(session) != nullptr) return SSL_TICKET_RETURN_IGNORE_RENEW;
      return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_USE_RENEW;
    case SSL_TICKET_EMPTY:
    case SSL_TICKET_NO_DECRYPT:
      return SSL_TICKET_RETURN_IGNORE_RENEW;
    default:
      return SSL_TICKET_RETURN_ABORT;
  }
}

}  // namespace

void configure_server_tls(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
    throw std::runtime_error("cannot set TLS protocol versions: " + openssl_reason());
  }
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle connections must stay small (ARCHITECTURE "Idle TLS memory"): free the read/write
  // record buffers whenever they are empty (net::transport sets it per SSL too).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // No server-side session cache: resumption still works through stateless tickets, and
  // memory does not grow with the number of past clients.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (SSL_CTX_set_cipher_list(ctx, tls12_cipher_list) != 1) {
    throw std::runtime_error("cannot set the TLS 1.2 cipher list: " + openssl_reason());
  }
  if (SSL_CTX_set_ciphersuites(ctx, tls13_cipher_suites) != 1) {
    throw std::runtime_error("cannot set the TLS 1.3 cipher suites: " + openssl_reason());
  }
  // Ask for a client certificate and accept whatever comes (or nothing): X.509 devices prove
  // who they are with it, SAS clients send none. Whether a certificate admits a device depends
  // on the registry, so the hub checks it (core::authenticate_device_certificate), with the
  // hub's clock; OpenSSL only proves that the peer holds the certificate's private key.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
  // With client certificates requested, OpenSSL refuses to resume a session (TLS 1.3 tickets
  // too) whose server set no session id context: the handshake fails with an internal_error
  // alert. Node's https agent resumes sessions, so every second request of the SDKs failed.
  static constexpr unsigned char session_context[] = "iothub-emulator";
  if (SSL_CTX_set_session_id_context(ctx, session_context, sizeof(session_context) - 1) != 1)
    throw std::runtime_error("cannot set the TLS session id context: " + openssl_reason());
  // A resumed session keeps the client's leaf certificate but not the intermediates it sent,
  // so a CA-signed device whose intermediate is not registered would be refused on every
  // resumed connection: a ticket of a session with a client certificate is not used (a full
  // handshake follows, with the whole chain). Sessions without one resume as before.
  if (SSL_CTX_set_session_ticket_cb(ctx, nullptr, ticket_without_client_certificate, nullptr) != 1)
    throw std::runtime_error("cannot set the TLS session ticket callback: " + openssl_reason());
  // One TLS 1.3 ticket per handshake instead of OpenSSL's two: a client resumes with one (Node's
  // https agent keeps one session per host), and each ticket costs the server an encryption
  // and a session copy in every connect (issue 19: connects per second).
  if (SSL_CTX_set_num_tickets(ctx, 1) != 1)
    throw std::runtime_error("cannot set the number of TLS tickets: " + openssl_reason());
  SSL_CTX_set_default_passwd_cb(ctx, no_password);
}

tls_server_context::tls_server_context(const tls_server_options& options)
    : context_(SSL_CTX_new(TLS_server_method())) {
  if (!context_) throw std::runtime_error("cannot create a TLS context: " + openssl_reason());
  configure_server_tls(context_.get());
  load_credentials(context_.get(), options);
}

}  // namespace emu::net
