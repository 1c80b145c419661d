#pragma once
/// The X.509 certificate chain a device presented in its TLS handshake, as the hub needs it to
/// authenticate the device (issue 16, README "Identities"): the leaf's thumbprints, subject CN
/// and validity, and the DER of every certificate in the order sent (leaf first).
///
/// The TLS fronts request a client certificate but accept any (net::tls_context): whether it
/// admits a device depends on the registry, so the hub decides (auth.hpp
/// authenticate_device_certificate) with the hub's clock, not OpenSSL's.
///
/// parse_client_certificate is pure (bytes in, value out) so that it can be fuzzed (with the CA
/// upload and proof parsing of ca_certificates: tests/fuzz/client_certificate_fuzz.cpp).
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/core/errors.hpp"
#include "emulator/core/time.hpp"

namespace emu::core {

struct client_certificate {
  /// Upper-case hex of SHA-1 and SHA-256 of the leaf's DER (what `x509Thumbprint` holds).
  std::string sha1_thumbprint;
  std::string sha256_thumbprint;
  /// The leaf's subject common name (the device id for CA-signed certificates); empty if none.
  std::string subject_common_name;
  time_point not_before{};
  time_point not_after{};
  /// DER of the leaf, then of the intermediates the client sent.
  std::vector<std::string> chain_der;
};

/// Reads a presented chain (DER, leaf first; at most 10 certificates of at most 64 KiB each).
/// `argument_invalid` naming the problem when a certificate does not parse or the list is
/// empty or too long.
result<client_certificate> parse_client_certificate(std::span<const std::string> chain_der);

/// Whether `thumbprint` (hex, any case, SHA-1 or SHA-256) is the leaf's.
bool thumbprint_matches(const client_certificate& c, std::string_view thumbprint);

/// "CN=…, SHA-1 …" for logs (no key material: a certificate is public).
std::string describe(const client_certificate& c);

}  // namespace emu::core
