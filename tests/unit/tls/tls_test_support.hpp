#pragma once
// Helpers shared by the TLS unit tests: RAII for OpenSSL objects, a temporary directory, PEM
// loading and chain verification done independently of the code under test.
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "emulator/net/openssl_handles.hpp"

namespace emu::test {

// The same RAII handles as the emulator (emulator/net/openssl_handles.hpp), plus the
// client-side SSL objects the tests need.
using net::bio_ptr;
using net::openssl_deleter;
using net::pkey_ptr;
using net::x509_ptr;
using store_ptr = net::x509_store_ptr;
using store_ctx_ptr = net::x509_store_ctx_ptr;
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, openssl_deleter<SSL_CTX_free>>;
using ssl_ptr = std::unique_ptr<SSL, openssl_deleter<SSL_free>>;

/// A fresh directory under the system temp dir, removed with its contents on destruction.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "emu-tls-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

inline x509_ptr load_cert(const std::filesystem::path& p) {
  const std::string pem = read_text(p);
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return x509_ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

inline pkey_ptr load_key(const std::filesystem::path& p) {
  const std::string pem = read_text(p);
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return pkey_ptr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

inline unsigned file_mode(const std::filesystem::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return static_cast<unsigned>(st.st_mode & 07777);
}

/// X509_verify_cert of `leaf` against `ca` as the only trust anchor, as a TLS client would
/// (purpose sslserver), with an optional host name or IP check. Returns the X509_V_* result.
inline int verify_chain(X509* ca, X509* leaf, const std::optional<std::string>& host = {},
                        const std::optional<std::string>& ip = {}) {
  store_ptr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca);
  store_ctx_ptr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  if (host) X509_VERIFY_PARAM_set1_host(param, host->c_str(), host->size());
  if (ip) X509_VERIFY_PARAM_set1_ip_asc(param, ip->c_str());
  const int rc = X509_verify_cert(ctx.get());
  const int err = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  return rc == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
}

inline std::string drain_openssl_errors() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

}  // namespace emu::test
