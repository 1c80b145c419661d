#include "emulator/net/tls_context.hpp"

#include <doctest/doctest.h>

#include <array>
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "emulator/app/dev_certificates.hpp"
#include "tests/unit/tls/tls_test_support.hpp"

using namespace emu::net;
using emu::app::ensure_dev_certificates;
using namespace emu::test;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "<no exception>";
}

/// Accepts one connection on 127.0.0.1:<ephemeral> in a background thread, completes the
/// server handshake driving OpenSSL on native_handle() (as net::transport does), answers "ping"
/// with "pong" and records what happened.
class one_shot_server {
 public:
  explicit one_shot_server(tls_server_context& context)
      : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this, &context] { run_raw(context); });
  }
  ~one_shot_server() { join(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  unsigned short port() const { return port_; }

  // Valid after join().
  std::string handshake_error;
  std::string received;
  int version = 0;

 private:
  void run_raw(tls_server_context& context) {
    asio::ip::tcp::socket socket(io_);
    asio::error_code ec;
    acceptor_.accept(socket, ec);
    if (ec) {
      handshake_error = "accept: " + ec.message();
      return;
    }
    ssl_ptr ssl(SSL_new(context.native_handle()));
    SSL_set_fd(ssl.get(), socket.native_handle());
    if (SSL_accept(ssl.get()) != 1) {
      handshake_error = drain_openssl_errors();
      return;
    }
    version = SSL_version(ssl.get());
    std::array<char, 4> buf{};
    if (SSL_read(ssl.get(), buf.data(), 4) == 4) received.assign(buf.data(), 4);
    SSL_write(ssl.get(), "pong", 4);
    SSL_shutdown(ssl.get());
    ERR_clear_error();
  }

  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::thread thread_;
};

struct client_options {
  std::optional<std::filesystem::path> ca;  // trust anchor; none = trust nothing
  std::string host = "localhost";           // SNI and host name check; an IP = IP check
  bool host_is_ip = false;
  int min_version = TLS1_2_VERSION;
  int max_version = TLS1_3_VERSION;
  bool legacy = false;  // allow TLS 1.0/1.1 on the client (security level 0)
};

struct client_result {
  bool ok = false;
  long verify_result = X509_V_OK;
  int version = 0;
  std::string reply;
  std::string error;
};

/// A plain OpenSSL client, independent of Asio's TLS layer, that verifies the server like the
/// SDKs do: CA from a file, SSL_VERIFY_PEER, SNI plus a host name (or IP) check.
client_result run_client(unsigned short port, const client_options& o) {
  client_result r;
  ssl_ctx_ptr ctx(SSL_CTX_new(TLS_client_method()));
  REQUIRE(ctx);
  if (o.legacy) {
    SSL_CTX_set_security_level(ctx.get(), 0);
    SSL_CTX_set_cipher_list(ctx.get(), "DEFAULT:@SECLEVEL=0");
  }
  SSL_CTX_set_min_proto_version(ctx.get(), o.min_version);
  SSL_CTX_set_max_proto_version(ctx.get(), o.max_version);
  if (o.ca) REQUIRE(SSL_CTX_load_verify_locations(ctx.get(), o.ca->c_str(), nullptr) == 1);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);

  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});

  ssl_ptr ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), socket.native_handle());
  if (o.host_is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), o.host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl.get(), o.host.c_str());
    SSL_set1_host(ssl.get(), o.host.c_str());
  }
  const int rc = SSL_connect(ssl.get());
  r.verify_result = SSL_get_verify_result(ssl.get());
  if (rc != 1) {
    r.error = drain_openssl_errors();
    return r;  // socket closes; the server's handshake fails too
  }
  r.ok = true;
  r.version = SSL_version(ssl.get());
  REQUIRE(SSL_write(ssl.get(), "ping", 4) == 4);
  std::array<char, 4> buf{};
  if (SSL_read(ssl.get(), buf.data(), 4) == 4) r.reply.assign(buf.data(), 4);
  SSL_shutdown(ssl.get());
  ERR_clear_error();
  return r;
}

}  // namespace

TEST_CASE("the context is configured for small idle connections and TLS 1.2+") {
  temp_dir dir;
  const auto certs = ensure_dev_certificates(dir.path(), {});
  tls_server_context context(tls_server_options{certs.server_cert, certs.server_key});
  SSL_CTX* ctx = context.native_handle();
  REQUIRE(ctx != nullptr);
  CHECK(SSL_CTX_get_min_proto_version(ctx) == TLS1_2_VERSION);
  CHECK((SSL_CTX_get_max_proto_version(ctx) == TLS1_3_VERSION ||
         SSL_CTX_get_max_proto_version(ctx) == 0));
  CHECK((SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS) != 0);
  CHECK((SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION) != 0);
  CHECK((SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION) != 0);
  CHECK(SSL_CTX_get_session_cache_mode(ctx) == SSL_SESS_CACHE_OFF);
  CHECK(SSL_CTX_get_num_tickets(ctx) == 1);  // one TLS 1.3 ticket per handshake (issue 19)
  CHECK(SSL_CTX_get0_certificate(ctx) != nullptr);
  CHECK(SSL_CTX_check_private_key(ctx) == 1);

  // Moving keeps the same SSL_CTX (connections hold it).
  tls_server_context moved(std::move(context));
  CHECK(moved.native_handle() == ctx);
}

TEST_CASE("bad credentials are rejected with the file names") {
  temp_dir dir;
  const auto certs = ensure_dev_certificates(dir.path(), {});

  SUBCASE("mismatched key") {
    const auto msg = error_of([&] {
      tls_server_context(tls_server_options{certs.server_cert, certs.ca_key});
    });
    CHECK(contains(msg, "does not match"));
    CHECK(contains(msg, certs.ca_key.string()));
    CHECK(contains(msg, certs.server_cert.string()));
  }
  SUBCASE("missing certificate") {
    const auto missing = dir.path() / "nope.crt";
    const auto msg = error_of([&] {
      tls_server_context(tls_server_options{missing, certs.server_key});
    });
    CHECK(contains(msg, "does not exist"));
    CHECK(contains(msg, missing.string()));
  }
  SUBCASE("missing key") {
    const auto missing = dir.path() / "nope.key";
    const auto msg = error_of([&] {
      tls_server_context(tls_server_options{certs.server_cert, missing});
    });
    CHECK(contains(msg, "does not exist"));
    CHECK(contains(msg, missing.string()));
  }
  SUBCASE("certificate file that is not PEM") {
    const auto bad = dir.path() / "bad.crt";
    write_text(bad, "hello");
    const auto msg = error_of([&] {
      tls_server_context(tls_server_options{bad, certs.server_key});
    });
    CHECK(contains(msg, bad.string()));
    CHECK(contains(msg, "not a valid PEM certificate"));
  }
  SUBCASE("key file that is a certificate") {
    const auto msg = error_of([&] {
      tls_server_context(tls_server_options{certs.server_cert, certs.server_cert});
    });
    CHECK(contains(msg, "not an unencrypted PEM private key"));
  }
  SUBCASE("encrypted key fails instead of prompting for a pass phrase") {
    auto key = load_key(certs.server_key);
    const auto encrypted = dir.path() / "encrypted.key";
    {
      bio_ptr bio(BIO_new_file(encrypted.c_str(), "w"));
      static const char pass[] = "secret";
      REQUIRE(PEM_write_bio_PrivateKey(bio.get(), key.get(), EVP_aes_256_cbc(),
                                       reinterpret_cast<const unsigned char*>(pass), 6, nullptr,
                                       nullptr) == 1);
    }
    const auto msg = error_of([&] {
      tls_server_context(tls_server_options{certs.server_cert, encrypted});
    });
    CHECK(contains(msg, encrypted.string()));
  }
}

TEST_CASE("TLS handshake over loopback with CA and host name verification") {
  temp_dir dir;
  const auto certs = ensure_dev_certificates(dir.path(), {"emuhub.localhost"});
  tls_server_context context(tls_server_options{certs.server_cert, certs.server_key});

  SUBCASE("TLS 1.2 and TLS 1.3 on the native SSL_CTX") {
    for (const int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
      {
        CAPTURE(version);
        one_shot_server server(context);
        client_options o;
        o.ca = certs.ca_cert;
        o.min_version = version;
        o.max_version = version;
        const auto r = run_client(server.port(), o);
        server.join();
        INFO(r.error);
        INFO(server.handshake_error);
        CHECK(r.ok);
        CHECK(r.verify_result == X509_V_OK);
        CHECK(r.version == version);
        CHECK(r.reply == "pong");
        CHECK(server.version == version);
        CHECK(server.received == "ping");
      }
    }
  }

  SUBCASE("extra host name and IP SAN") {
    for (const auto& entry :
         {std::pair<std::string, bool>{"emuhub.localhost", false}, {"127.0.0.1", true}}) {
      const std::string& host = entry.first;  // CAPTURE cannot take a structured binding (clang 14)
      const bool is_ip = entry.second;
      CAPTURE(host);
      one_shot_server server(context);
      client_options o;
      o.ca = certs.ca_cert;
      o.host = host;
      o.host_is_ip = is_ip;
      const auto r = run_client(server.port(), o);
      server.join();
      INFO(r.error);
      CHECK(r.ok);
      CHECK(r.reply == "pong");
    }
  }

  SUBCASE("negotiates TLS 1.3 when the client allows both") {
    one_shot_server server(context);
    client_options o;
    o.ca = certs.ca_cert;
    const auto r = run_client(server.port(), o);
    server.join();
    CHECK(r.ok);
    CHECK(r.version == TLS1_3_VERSION);
  }

  SUBCASE("wrong host name is refused by the client") {
    one_shot_server server(context);
    client_options o;
    o.ca = certs.ca_cert;
    o.host = "wrong.example";
    const auto r = run_client(server.port(), o);
    server.join();
    CHECK(!r.ok);
    CHECK(r.verify_result == X509_V_ERR_HOSTNAME_MISMATCH);
    CHECK(!server.handshake_error.empty());
  }

  SUBCASE("a client that does not trust the CA refuses") {
    one_shot_server server(context);
    client_options o;  // no CA
    const auto r = run_client(server.port(), o);
    server.join();
    CHECK(!r.ok);
    CHECK(r.verify_result == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  }

  SUBCASE("TLS 1.1 is refused by the server") {
    one_shot_server server(context);
    client_options o;
    o.ca = certs.ca_cert;
    o.legacy = true;
    o.min_version = TLS1_VERSION;
    o.max_version = TLS1_1_VERSION;
    const auto r = run_client(server.port(), o);
    server.join();
    INFO(r.error);
    INFO(server.handshake_error);
    CHECK(!r.ok);
    CHECK(!server.handshake_error.empty());
    CHECK(contains(server.handshake_error, "unsupported protocol"));
  }
}
