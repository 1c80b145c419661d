#pragma once
/// RAII ownership of OpenSSL objects (unique_ptr with the matching *_free), and the text of
/// OpenSSL's error queue for messages. Used by the TLS context and the development
/// certificates.
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <memory>
#include <string>

namespace emu::net {

template <auto free_fn>
struct openssl_deleter {
  template <class T>
  void operator()(T* p) const noexcept {
    free_fn(p);
  }
};

using x509_ptr = std::unique_ptr<X509, openssl_deleter<X509_free>>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_deleter<BIO_free_all>>;
using bn_ptr = std::unique_ptr<BIGNUM, openssl_deleter<BN_free>>;
using asn1_integer_ptr = std::unique_ptr<ASN1_INTEGER, openssl_deleter<ASN1_INTEGER_free>>;
using asn1_time_ptr = std::unique_ptr<ASN1_TIME, openssl_deleter<ASN1_TIME_free>>;
using asn1_string_ptr = std::unique_ptr<ASN1_STRING, openssl_deleter<ASN1_STRING_free>>;
using x509_name_ptr = std::unique_ptr<X509_NAME, openssl_deleter<X509_NAME_free>>;
using x509_extension_ptr = std::unique_ptr<X509_EXTENSION, openssl_deleter<X509_EXTENSION_free>>;
using general_name_ptr = std::unique_ptr<GENERAL_NAME, openssl_deleter<GENERAL_NAME_free>>;
using general_names_ptr = std::unique_ptr<GENERAL_NAMES, openssl_deleter<GENERAL_NAMES_free>>;
using x509_store_ptr = std::unique_ptr<X509_STORE, openssl_deleter<X509_STORE_free>>;
using x509_store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, openssl_deleter<X509_STORE_CTX_free>>;

/// Drains OpenSSL's error queue into one line ("; "-separated), for error messages.
inline std::string openssl_reason() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    std::array<char, 256> buf{};
    ERR_error_string_n(code, buf.data(), buf.size());
    if (!out.empty()) out += "; ";
    out += buf.data();
  }
  return out.empty() ? std::string("no OpenSSL error detail") : out;
}

}  // namespace emu::net
