#pragma once
// X.509 material made in memory for the core tests (issue 16): EC P-256 keys, self-signed and
// CA-signed certificates with the subject CN, validity (unix seconds) and basicConstraints the
// test chooses. Nothing touches the disk or the clock.
//
//   const auto root = self_signed_certificate("Root CA", t0, t1, /*ca=*/true);
//   const auto leaf = issued_certificate(root, "dev1", t0, t1);
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <utility>

#include <doctest/doctest.h>

namespace emu::core::testing {

struct pkey_free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

namespace detail {

struct x509_free {
  void operator()(X509* x) const { X509_free(x); }
};
using x509_ptr = std::unique_ptr<X509, x509_free>;
struct bio_free {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct extension_free {
  void operator()(X509_EXTENSION* e) const { X509_EXTENSION_free(e); }
};

inline x509_ptr read_der(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return x509_ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

inline std::string der_of(X509* x) {
  unsigned char* out = nullptr;
  const int n = i2d_X509(x, &out);
  REQUIRE(n > 0);
  std::string der(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
  OPENSSL_free(out);
  return der;
}

inline std::string pem_of(X509* x) {
  std::unique_ptr<BIO, bio_free> bio(BIO_new(BIO_s_mem()));
  REQUIRE(bio);
  REQUIRE(PEM_write_bio_X509(bio.get(), x) == 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  REQUIRE(n > 0);
  return std::string(data, static_cast<std::size_t>(n));
}

inline std::int64_t next_serial() {
  static std::int64_t serial = 1000;
  return ++serial;
}

}  // namespace detail

/// A new EC P-256 key pair.
inline pkey_ptr make_ec_key() {
  pkey_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  REQUIRE(key);
  return key;
}

/// What a test certificate says about itself.
struct certificate_spec {
  std::string common_name;
  /// Validity, unix seconds.
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
  /// basicConstraints CA:TRUE (critical); otherwise the certificate has no extensions.
  bool ca = false;
};

/// A certificate and the key pair it certifies.
struct test_certificate {
  std::string der;
  std::string pem;
  pkey_ptr key;
};

/// A certificate for a new key: signed with `issuer`'s key and naming `issuer`'s subject as
/// its issuer, or self-signed when `issuer` is null.
inline test_certificate make_certificate(const certificate_spec& spec,
                                         const test_certificate* issuer = nullptr) {
  test_certificate out;
  out.key = make_ec_key();
  detail::x509_ptr x(X509_new());
  REQUIRE(x);
  REQUIRE(X509_set_version(x.get(), X509_VERSION_3) == 1);
  REQUIRE(ASN1_INTEGER_set_int64(X509_get_serialNumber(x.get()), detail::next_serial()) == 1);
  REQUIRE(ASN1_TIME_set(X509_getm_notBefore(x.get()), static_cast<time_t>(spec.not_before)));
  REQUIRE(ASN1_TIME_set(X509_getm_notAfter(x.get()), static_cast<time_t>(spec.not_after)));
  X509_NAME* subject = X509_get_subject_name(x.get());
  REQUIRE(X509_NAME_add_entry_by_NID(
              subject, NID_commonName, MBSTRING_UTF8,
              reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1, -1, 0) == 1);
  const detail::x509_ptr issuer_x509 = issuer != nullptr ? detail::read_der(issuer->der) : nullptr;
  if (issuer != nullptr) REQUIRE(issuer_x509);
  X509* const issuer_cert = issuer_x509 ? issuer_x509.get() : x.get();
  REQUIRE(X509_set_issuer_name(x.get(), X509_get_subject_name(issuer_cert)) == 1);
  REQUIRE(X509_set_pubkey(x.get(), out.key.get()) == 1);
  if (spec.ca) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer_cert, x.get(), nullptr, nullptr, 0);
    std::unique_ptr<X509_EXTENSION, detail::extension_free> ext(
        X509V3_EXT_nconf_nid(nullptr, &ctx, NID_basic_constraints, "critical,CA:TRUE"));
    REQUIRE(ext);
    REQUIRE(X509_add_ext(x.get(), ext.get(), -1) == 1);
  }
  EVP_PKEY* const signing_key = issuer != nullptr ? issuer->key.get() : out.key.get();
  REQUIRE(X509_sign(x.get(), signing_key, EVP_sha256()) > 0);
  out.der = detail::der_of(x.get());
  out.pem = detail::pem_of(x.get());
  return out;
}

/// A self-signed certificate (a CA when `ca`).
inline test_certificate self_signed_certificate(std::string common_name, std::int64_t not_before,
                                                std::int64_t not_after, bool ca = false) {
  return make_certificate(certificate_spec{std::move(common_name), not_before, not_after, ca});
}

/// A certificate signed by `issuer` (a CA when `ca`).
inline test_certificate issued_certificate(const test_certificate& issuer, std::string common_name,
                                           std::int64_t not_before, std::int64_t not_after,
                                           bool ca = false) {
  return make_certificate(certificate_spec{std::move(common_name), not_before, not_after, ca},
                          &issuer);
}

/// Upper-case hex digest of `bytes`, computed here independently of the code under test.
inline std::string hex_digest(const EVP_MD* md, const std::string& bytes) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  REQUIRE(EVP_Digest(bytes.data(), bytes.size(), out, &n, md, nullptr) == 1);
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string hex;
  for (unsigned int i = 0; i < n; ++i) {
    hex += digits[out[i] >> 4];
    hex += digits[out[i] & 0x0f];
  }
  return hex;
}
/// A certificate's thumbprints as the registry stores them.
inline std::string sha1_of(const test_certificate& c) {
  return hex_digest(EVP_sha1(), c.der);
}
inline std::string sha256_of(const test_certificate& c) {
  return hex_digest(EVP_sha256(), c.der);
}

}  // namespace emu::core::testing
