#pragma once
/// Development certificates for the one-command start (sdk-wire §1.1, §2.1, §8 "TLS").
///
/// Every SDK verifies the server certificate and its host name, so the emulator cannot serve
/// TLS with a throw-away self-signed certificate. Instead it keeps a small development CA in its
/// data directory: users trust `ca.crt` once (NODE_EXTRA_CA_CERTS, SSL_CERT_FILE, the Python
/// `server_verification_cert`, update-ca-certificates) and the server certificate under it is
/// re-issued whenever the requested host names change or it nears expiry, without the CA
/// changing. The keys are unencrypted on purpose: this is development material only.
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace emu::app {

/// What ensure_dev_certificates() had to do, for the start-up log.
enum class dev_certificate_action {
  reused,         ///< CA and server certificate were valid and covered every host name.
  server_issued,  ///< The CA was reused; a new server certificate (and key) was issued.
  ca_created,     ///< A new CA was created (first start, or the old one was unusable).
};

/// PEM files inside the directory given to ensure_dev_certificates().
struct dev_certificates {
  std::filesystem::path ca_cert;      ///< `ca.crt`: what clients must trust.
  std::filesystem::path ca_key;       ///< `ca.key` (0600): kept to re-issue the server cert.
  std::filesystem::path server_cert;  ///< `server.crt`: leaf only, signed directly by the CA.
  std::filesystem::path server_key;   ///< `server.key` (0600).
  dev_certificate_action action = dev_certificate_action::reused;
  /// Why something was (re)created, one human-readable line per reason (empty when reused).
  std::vector<std::string> notes;
};

/// Makes sure `dir` holds a usable development CA and a server certificate whose SANs cover
/// `localhost`, `127.0.0.1`, `::1` and every entry of `host_names`.
///
/// Entries may be DNS names or IP literals (IPv4, IPv6, optionally in `[...]`); a trailing
/// `:port` (as in `HostName=localhost:18883`, sdk-wire §8) is ignored. IPs become IP SANs,
/// names DNS SANs (lower-cased). Empty entries are skipped.
///
/// Existing files are reused when they parse, the keys match, the server certificate chains to
/// the CA, neither is expired (the server certificate is renewed 30 days before its end) and
/// the SANs cover every requested name. Otherwise the server certificate is re-issued under the
/// same CA if `ca.key` is usable, else a new CA is created (and `notes` says why).
///
/// CA: ECDSA P-256, CN "iothub-emulator development CA", basicConstraints CA:TRUE critical,
/// keyUsage keyCertSign+cRLSign, 10 years. Server: ECDSA P-256, 825 days, serverAuth EKU.
/// Files are replaced atomically (write to a temporary file, then rename); key files are
/// created with mode 0600.
///
/// Thread-safety: safe to call concurrently, also from several processes on the same `dir`
/// (an flock on `dir/.lock` serialises them). Throws std::runtime_error naming the path and
/// the OpenSSL or system reason when the directory cannot be created or written, or when a
/// host name is neither a DNS name nor an IP literal.
dev_certificates ensure_dev_certificates(const std::filesystem::path& dir,
                                         const std::vector<std::string>& host_names);

/// Whether `name` is a DNS name or an IP literal the development certificate can carry (the
/// check ensure_dev_certificates makes of each host name; config validation makes it early).
bool is_host_name(std::string_view name);

/// A certificate summary for printing at start-up.
struct certificate_info {
  std::string subject;             ///< One-line RFC 2253 form, e.g. "CN=localhost".
  std::string issuer;              ///< Same form.
  std::string sha256_fingerprint;  ///< Upper-case hex pairs joined by ':' (as `openssl x509`).
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  /// "DNS:localhost", "IP:127.0.0.1", "IP:::1" ... in certificate order.
  std::vector<std::string> subject_alt_names;
};

/// Reads the first certificate of the PEM file `pem_file`. Throws std::runtime_error (path and
/// OpenSSL reason) if it is missing or unparsable. Thread-safe.
certificate_info describe_certificate(const std::filesystem::path& pem_file);

/// "subject=… sha256=… valid 2025-01-01T00:00:00Z..2027-04-06T00:00:00Z SAN=…", one line.
std::string to_string(const certificate_info& info);

/// `t` as "YYYY-MM-DDTHH:MM:SSZ" (UTC).
std::string format_utc(std::chrono::system_clock::time_point t);

}  // namespace emu::app
