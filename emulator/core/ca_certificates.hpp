#pragma once
/// The hub's CA certificates (ca_certificate.hpp) and the check that a device's certificate
/// chains to a verified one, at the hub's time (the core never reads the clock).
///
/// Thread safety: none; part of the hub.
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/core/ca_certificate.hpp"
#include "emulator/core/client_certificate.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/journal.hpp"
#include "emulator/core/time.hpp"

typedef struct x509_st X509;

namespace emu::core {

class ca_certificates {
 public:
  explicit ca_certificates(journal& j) : journal_(j) {}
  ~ca_certificates();
  ca_certificates(const ca_certificates&) = delete;
  ca_certificates& operator=(const ca_certificates&) = delete;

  void restore(const std::vector<ca_certificate>& all);
  void clear();

  /// Creates or replaces `name` with `certificate` (PEM, or base64 of DER or of PEM, as ARM's
  /// `properties.certificate`). `verified`: registered as verified (ARM's `isVerified`, "verify
  /// upon upload"). A replaced certificate loses its verification unless `verified`.
  /// `if_match`: empty or "*" (any), else the etag. `argument_invalid` for a certificate that
  /// is not a CA certificate or a bad name; `precondition_failed` for another etag;
  /// `certificate_not_found` for an etag on a name that does not exist.
  result<ca_certificate> put(std::string_view name, std::string_view certificate, bool verified,
                             std::string_view if_match, time_point now);
  const ca_certificate* find(std::string_view name) const;
  std::vector<ca_certificate> list() const;
  status remove(std::string_view name, std::string_view if_match);
  /// A new verification code (hex, 48 digits) for `name`.
  result<ca_certificate> generate_verification_code(std::string_view name,
                                                    std::string_view if_match, time_point now);
  /// Proof of possession: `certificate` (as in put) has subject CN = the pending code, is
  /// signed by the CA's key and valid at `now`; then the CA is verified.
  result<ca_certificate> verify(std::string_view name, std::string_view if_match,
                                std::string_view certificate, time_point now);

  /// When the presented chain leads to a verified CA and every certificate on the way is valid
  /// at `now`: the earliest notAfter on that chain (the grant ends then). Otherwise
  /// `unauthorized` naming why not.
  result<time_point> check_chain(const client_certificate& presented, time_point now) const;

 private:
  struct x509_free {
    void operator()(X509* x) const;
  };
  using x509_ptr = std::unique_ptr<X509, x509_free>;
  struct entry {
    ca_certificate value;
    x509_ptr parsed;
  };
  std::string new_etag();

  journal& journal_;
  std::map<std::string, entry, std::less<>> entries_;
};

/// Valid certificate names (ARM): 1..64 of `A-Z a-z 0-9 - _ .`.
bool is_valid_certificate_name(std::string_view name);

}  // namespace emu::core
