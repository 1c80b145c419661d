#pragma once
/// A CA certificate registered on the hub (issue 16, README "Identities"): devices of type
/// `certificateAuthority` authenticate with a certificate that chains to a *verified* one.
/// Verification is Azure's proof of possession: the hub hands out a verification code, the
/// owner signs a certificate with subject CN = that code using the CA's key, the hub checks it.
#include <string>

#include "emulator/core/time.hpp"

namespace emu::core {

struct ca_certificate {
  std::string name;
  /// The certificate as PEM (whatever form it was uploaded in).
  std::string pem;
  /// One-line subject ("CN=…") and SHA-1 thumbprint (upper-case hex), as Azure shows them.
  std::string subject;
  std::string thumbprint;
  time_point not_before{};
  time_point not_after{};
  bool verified = false;
  /// The code of the last generateVerificationCode; empty when none is pending.
  std::string verification_code;
  std::string etag;
  time_point created{};
  time_point updated{};
  friend bool operator==(const ca_certificate&, const ca_certificate&) = default;
};

}  // namespace emu::core
