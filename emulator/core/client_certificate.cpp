#include "emulator/core/client_certificate.hpp"

#include "emulator/core/device.hpp"

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <memory>

namespace emu::core {

namespace {

struct x509_free {
  void operator()(X509* x) const { X509_free(x); }
};
using x509_ptr = std::unique_ptr<X509, x509_free>;

constexpr std::size_t max_chain_length = 10;
constexpr std::size_t max_certificate_size = 64 * 1024;

error invalid(std::string message) {
  return error{hub_error::argument_invalid, std::move(message)};
}

std::string hex_digest(const EVP_MD* md, std::string_view der) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(der.data(), der.size(), out, &n, md, nullptr) != 1) return {};
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string hex;
  hex.reserve(2 * n);
  for (unsigned int i = 0; i < n; ++i) {
    hex.push_back(digits[out[i] >> 4]);
    hex.push_back(digits[out[i] & 0x0f]);
  }
  return hex;
}

/// An ASN1_TIME as a time_point; false when it cannot be read.
bool to_time_point(const ASN1_TIME* t, time_point& out) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return false;
  const auto seconds = static_cast<std::int64_t>(timegm(&tm));
  out = time_point{std::chrono::seconds{seconds}};
  return true;
}

std::string common_name(X509* x) {
  const X509_NAME* name = X509_get_subject_name(x);
  const int at = name == nullptr ? -1 : X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (at < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at));
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0) return {};
  std::string cn(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(n));
  OPENSSL_free(utf8);
  return cn;
}

}  // namespace

result<client_certificate> parse_client_certificate(std::span<const std::string> chain_der) {
  if (chain_der.empty()) return invalid("No client certificate was presented.");
  if (chain_der.size() > max_chain_length)
    return invalid("The client certificate chain has more than 10 certificates.");
  client_certificate c;
  for (std::size_t i = 0; i < chain_der.size(); ++i) {
    const std::string& der = chain_der[i];
    if (der.empty() || der.size() > max_certificate_size)
      return invalid("A client certificate is empty or larger than 64 KiB.");
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    x509_ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (!x || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size())
      return invalid("A client certificate is not one DER X.509 certificate.");
    if (i > 0) continue;
    if (!to_time_point(X509_get0_notBefore(x.get()), c.not_before) ||
        !to_time_point(X509_get0_notAfter(x.get()), c.not_after))
      return invalid("The client certificate's validity cannot be read.");
    c.subject_common_name = common_name(x.get());
    c.sha1_thumbprint = hex_digest(EVP_sha1(), der);
    c.sha256_thumbprint = hex_digest(EVP_sha256(), der);
  }
  c.chain_der.assign(chain_der.begin(), chain_der.end());
  return c;
}

bool thumbprint_matches(const client_certificate& c, std::string_view thumbprint) {
  const auto wanted = normal_thumbprint(thumbprint);
  if (!wanted) return false;
  return *wanted == (wanted->size() == 40 ? c.sha1_thumbprint : c.sha256_thumbprint);
}

std::string describe(const client_certificate& c) {
  return "CN=" + (c.subject_common_name.empty() ? std::string("(none)") : c.subject_common_name) +
         ", SHA-1 " + c.sha1_thumbprint;
}

}  // namespace emu::core
