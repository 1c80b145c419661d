#include "emulator/app/dev_certificates.hpp"

#include "emulator/net/openssl_handles.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>

namespace emu::app {

using namespace emu::net;  // the OpenSSL handles (openssl_handles.hpp)
namespace {

namespace fs = std::filesystem;

// ---- RAII for OpenSSL objects --------------------------------------------------------------

constexpr long seconds_per_day = 24L * 60 * 60;
constexpr long ca_validity_days = 3650;
/// CA/Browser-style upper bound; some clients (Apple) reject longer-lived server certificates.
constexpr long server_validity_days = 825;
/// Re-issue the server certificate this long before it ends, so a long-running dev setup never
/// meets an expired certificate. Re-issuing is invisible to clients (the CA stays).
constexpr long server_renew_before_days = 30;
/// notBefore is backdated so a client whose clock runs a little behind (VM, container) does not
/// see "certificate is not yet valid".
constexpr long backdate_seconds = 60L * 60;

constexpr const char* ca_common_name = "iothub-emulator development CA";
constexpr const char* organisation = "iothub-emulator (development only)";

/// Drains the OpenSSL error queue into one line; the queue is per thread, so this reports the
/// failure of the call just made.

[[noreturn]] void throw_openssl(const std::string& what) {
  throw std::runtime_error(what + ": " + openssl_reason());
}

std::string quoted(const fs::path& p) {
  // Built by append: GCC 12 -O2 reports a false -Wrestrict for "'" + std::string (PR 105329).
  std::string out;
  out.reserve(p.native().size() + 2);
  out += '\'';
  out += p.string();
  out += '\'';
  return out;
}

// ---- Host names ----------------------------------------------------------------------------

struct san_entry {
  bool is_ip = false;
  std::string text;  // canonical: lower-case DNS name, or inet_ntop form of the address
  bool operator==(const san_entry&) const = default;
};

bool all_digits(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

std::optional<std::string> canonical_ip(const std::string& text) {
  std::array<unsigned char, 16> addr{};
  std::array<char, INET6_ADDRSTRLEN> out{};
  if (inet_pton(AF_INET, text.c_str(), addr.data()) == 1) {
    return std::string(inet_ntop(AF_INET, addr.data(), out.data(), out.size()));
  }
  if (inet_pton(AF_INET6, text.c_str(), addr.data()) == 1) {
    return std::string(inet_ntop(AF_INET6, addr.data(), out.data(), out.size()));
  }
  return std::nullopt;
}

bool valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    // Underscores are not valid in host names proper, but compose service names may carry
    // them and the SDKs compare SAN bytes, so accept them.
    if (!(std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_')) return false;
    if (++label > 63) return false;
  }
  return label != 0;
}

/// Parses one requested host name. Returns nullopt for a blank entry; throws for garbage.
std::optional<san_entry> parse_host(std::string_view raw) {
  while (!raw.empty() && std::isspace(static_cast<unsigned char>(raw.front())) != 0) {
    raw.remove_prefix(1);
  }
  while (!raw.empty() && std::isspace(static_cast<unsigned char>(raw.back())) != 0) {
    raw.remove_suffix(1);
  }
  if (raw.empty()) return std::nullopt;
  std::string_view host = raw;
  if (host.front() == '[') {
    // "[::1]" or "[::1]:8883"
    const auto close = host.find(']');
    if (close == std::string_view::npos ||
        (close + 1 < host.size() &&
         (host[close + 1] != ':' || !all_digits(host.substr(close + 2))))) {
      throw std::runtime_error("host name '" + std::string(raw) + "' is not a valid IP literal");
    }
    host = host.substr(1, close - 1);
  } else if (const auto colon = host.find(':');
             colon != std::string_view::npos &&
             host.find(':', colon + 1) == std::string_view::npos) {
    // Exactly one ':' cannot be IPv6, so it is "host:port" (sdk-wire §8 "Host with a port").
    if (!all_digits(host.substr(colon + 1))) {
      throw std::runtime_error("host name '" + std::string(raw) + "' has an invalid port");
    }
    host = host.substr(0, colon);
  }
  if (auto ip = canonical_ip(std::string(host))) return san_entry{true, *ip};
  std::string name(host);
  if (!name.empty() && name.back() == '.') name.pop_back();  // absolute form "example.com."
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!valid_dns_name(name)) {
    throw std::runtime_error("host name '" + std::string(raw) +
                             "' is neither a valid DNS name nor an IP address");
  }
  return san_entry{false, name};
}

std::vector<san_entry> required_sans(const std::vector<std::string>& host_names) {
  std::vector<san_entry> out{{false, "localhost"}, {true, "127.0.0.1"}, {true, "::1"}};
  const auto add = [&out](san_entry e) {
    if (std::find(out.begin(), out.end(), e) == out.end()) out.push_back(std::move(e));
  };
  for (const auto& h : host_names) {
    if (auto e = parse_host(h)) add(std::move(*e));
  }
  // An IPv4 literal is also written as a DNS name: Proton's peer-name check (python-qpid-proton,
  // Proton C++, so our own samples) reads only dNSName entries and the CN, never iPAddress, so
  // `HostName=127.0.0.1` (the default, issue 21) would fail its check without it. Clients that
  // check IP literals properly (OpenSSL's X509_check_ip, Node, Python's ssl) use the IP entry.
  const std::size_t n = out.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (out[i].is_ip && out[i].text.find(':') == std::string::npos) add({false, out[i].text});
  }
  return out;
}

// ---- Files ---------------------------------------------------------------------------------

/// Holds an exclusive flock on `dir/.lock` so two emulators (or parallel tests) starting on
/// the same data directory do not interleave their writes.
class dir_lock {
 public:
  explicit dir_lock(const fs::path& dir) {
    const auto path = dir / ".lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      throw std::runtime_error("cannot open lock file " + quoted(path) + ": " +
                               std::strerror(errno));
    }
    int rc = 0;
    while ((rc = ::flock(fd_, LOCK_EX)) != 0 && errno == EINTR) {
    }
    if (rc != 0) {
      const int err = errno;
      ::close(fd_);
      throw std::runtime_error("cannot lock " + quoted(path) + ": " + std::strerror(err));
    }
  }
  ~dir_lock() { ::close(fd_); }  // closing releases the flock
  dir_lock(const dir_lock&) = delete;
  dir_lock& operator=(const dir_lock&) = delete;

 private:
  int fd_ = -1;
};

/// Closes a POSIX file descriptor on scope exit.
class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

/// Writes `bytes` to `target` via a temporary file in the same directory and rename(), so a
/// crash never leaves a half-written PEM. The temporary file is created with `mode` (0600 for
/// keys) by open() itself: a chmod afterwards would leave a window in which the key is
/// readable by others.
void write_file_atomically(const fs::path& target, std::string_view bytes, mode_t mode) {
  const fs::path tmp = target.string() + ".tmp." + std::to_string(::getpid());
  ::unlink(tmp.c_str());  // a leftover from a crashed run; we hold the directory lock
  fd_guard fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  auto fail = [&](const char* step) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error(std::string("cannot ") + step + " " + quoted(target) + ": " +
                             std::strerror(err));
  };
  if (fd.get() < 0) fail("create");
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write");
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) fail("sync");
  if (::close(fd.release()) != 0) fail("close");
  if (::rename(tmp.c_str(), target.c_str()) != 0) fail("rename a temporary file onto");
  // Persist the rename itself; failure here only weakens crash safety, so it is not fatal.
  fd_guard dir(::open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() >= 0) ::fsync(dir.get());
}

/// File contents, or nullopt with `why` set (missing, unreadable).
std::optional<std::string> read_file(const fs::path& path, std::string& why) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    why = quoted(path) + " does not exist";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = "cannot read " + quoted(path) + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Never prompt on the terminal for a pass phrase (OpenSSL's default for encrypted PEM): the
/// emulator may run without a TTY and our keys are never encrypted.
int no_password(char*, int, int, void*) {
  return 0;
}

bio_ptr memory_bio(std::string_view bytes) {
  bio_ptr bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
  if (!bio) throw_openssl("BIO_new_mem_buf");
  return bio;
}

x509_ptr parse_certificate(const fs::path& path, std::string& why) {
  auto pem = read_file(path, why);
  if (!pem) return nullptr;
  auto bio = memory_bio(*pem);
  x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr));
  if (!cert) why = quoted(path) + " is not a PEM certificate (" + openssl_reason() + ")";
  return cert;
}

pkey_ptr parse_private_key(const fs::path& path, std::string& why) {
  auto pem = read_file(path, why);
  if (!pem) return nullptr;
  auto bio = memory_bio(*pem);
  pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
  if (!key)
    why = quoted(path) + " is not an unencrypted PEM private key (" + openssl_reason() + ")";
  return key;
}

std::string bio_contents(BIO* bio) {
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio, &mem);
  return mem != nullptr ? std::string(mem->data, mem->length) : std::string();
}

std::string certificate_pem(X509* cert) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) throw_openssl("PEM_write_bio_X509");
  return bio_contents(bio.get());
}

std::string private_key_pem(EVP_PKEY* key) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  // PKCS#8, unencrypted: readable by OpenSSL, Node, Python and mosquitto alike.
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw_openssl("PEM_write_bio_PrivateKey");
  }
  return bio_contents(bio.get());
}

// ---- Validation ----------------------------------------------------------------------------

bool key_matches(X509* cert, EVP_PKEY* key) {
  const EVP_PKEY* pub = X509_get0_pubkey(cert);
  const bool ok = pub != nullptr && EVP_PKEY_eq(pub, key) == 1;
  ERR_clear_error();
  return ok;
}

/// True if `t` is after now + `seconds`.
bool time_after_now_plus(const ASN1_TIME* t, long seconds) {
  std::time_t when = std::time(nullptr) + seconds;
  return X509_cmp_time(t, &when) > 0;
}

std::optional<std::string> ca_problem(X509* ca, const fs::path& path) {
  if (X509_check_ca(ca) != 1) return quoted(path) + " is not a CA certificate";
  if (X509_self_signed(ca, 1) != 1) {
    ERR_clear_error();
    return quoted(path) + " is not self-signed";
  }
  if (!time_after_now_plus(X509_get0_notAfter(ca), 0)) return quoted(path) + " has expired";
  if (time_after_now_plus(X509_get0_notBefore(ca), 0)) return quoted(path) + " is not yet valid";
  return std::nullopt;
}

bool covers(X509* cert, const san_entry& e) {
  const int rc =
      e.is_ip ? X509_check_ip_asc(cert, e.text.c_str(), 0)
              : X509_check_host(cert, e.text.data(), e.text.size(),
                                X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_WILDCARDS,
                                nullptr);
  return rc == 1;
}

std::optional<std::string> server_problem(X509* ca, X509* server, const fs::path& path,
                                          const std::vector<san_entry>& sans) {
  x509_store_ptr store(X509_STORE_new());
  x509_store_ctx_ptr ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), server, nullptr) != 1) {
    throw_openssl("cannot set up certificate verification");
  }
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return quoted(path) + " does not verify against the CA: " + X509_verify_cert_error_string(err);
  }
  if (!time_after_now_plus(X509_get0_notAfter(server),
                           server_renew_before_days * seconds_per_day)) {
    return quoted(path) + " expires within " + std::to_string(server_renew_before_days) + " days";
  }
  for (const auto& e : sans) {
    if (!covers(server, e)) {
      return quoted(path) + " does not cover " + (e.is_ip ? "IP " : "DNS name ") + e.text;
    }
  }
  return std::nullopt;
}

// ---- Issuing -------------------------------------------------------------------------------

pkey_ptr generate_p256_key() {
  pkey_ptr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) throw_openssl("cannot generate an ECDSA P-256 key");
  return key;
}

void set_random_serial(X509* cert) {
  // 127 random bits: positive, unique in practice, within the 20-octet limit of RFC 5280.
  bn_ptr bn(BN_new());
  if (!bn || BN_rand(bn.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1) {
    throw_openssl("BN_rand");
  }
  asn1_integer_ptr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial || X509_set_serialNumber(cert, serial.get()) != 1) throw_openssl("serial number");
}

x509_name_ptr make_name(const std::string& common_name) {
  x509_name_ptr name(X509_NAME_new());
  auto add = [&](const char* field, const std::string& value) {
    if (X509_NAME_add_entry_by_txt(name.get(), field, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                   0) != 1) {
      throw_openssl(std::string("X509_NAME_add_entry_by_txt ") + field);
    }
  };
  if (!name) throw_openssl("X509_NAME_new");
  add("O", organisation);
  add("CN", common_name);
  return name;
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  x509_extension_ptr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    throw_openssl(std::string("cannot add extension ") + OBJ_nid2sn(nid) + "=" + value);
  }
}

void add_subject_alt_names(X509* cert, const std::vector<san_entry>& sans) {
  general_names_ptr names(sk_GENERAL_NAME_new_null());
  if (!names) throw_openssl("sk_GENERAL_NAME_new_null");
  for (const auto& e : sans) {
    general_name_ptr gn(GENERAL_NAME_new());
    if (!gn) throw_openssl("GENERAL_NAME_new");
    if (e.is_ip) {
      ASN1_OCTET_STRING* ip = a2i_IPADDRESS(e.text.c_str());
      if (ip == nullptr) throw_openssl("a2i_IPADDRESS " + e.text);
      GENERAL_NAME_set0_value(gn.get(), GEN_IPADD, ip);
    } else {
      asn1_string_ptr dns(ASN1_IA5STRING_new());
      if (!dns || ASN1_STRING_set(dns.get(), e.text.data(), static_cast<int>(e.text.size())) != 1) {
        throw_openssl("ASN1_STRING_set " + e.text);
      }
      GENERAL_NAME_set0_value(gn.get(), GEN_DNS, dns.release());
    }
    if (sk_GENERAL_NAME_push(names.get(), gn.get()) <= 0) throw_openssl("sk_GENERAL_NAME_push");
    gn.release();  // owned by the stack now
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    throw_openssl("cannot add subjectAltName");
  }
}

/// An unsigned v3 certificate for `subject_key` without extensions. `issuer` null =
/// self-signed (issuer name = subject name).
x509_ptr make_certificate(const std::string& common_name, EVP_PKEY* subject_key, X509* issuer,
                          long validity_days) {
  x509_ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) throw_openssl("X509_new");
  set_random_serial(cert.get());
  auto name = make_name(common_name);
  if (X509_set_subject_name(cert.get(), name.get()) != 1 ||
      X509_set_issuer_name(cert.get(),
                           issuer != nullptr ? X509_get_subject_name(issuer) : name.get()) != 1 ||
      X509_set_pubkey(cert.get(), subject_key) != 1) {
    throw_openssl("cannot set certificate names or key");
  }
  // The whole window (backdate included) is validity_days long, so 825 days stays a maximum.
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -backdate_seconds) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()),
                      validity_days * seconds_per_day - backdate_seconds) == nullptr) {
    throw_openssl("cannot set certificate validity");
  }
  // A server certificate must not outlive its CA: clients would reject it from then on anyway,
  // and this way the renewal check notices the CA's end in time.
  if (issuer != nullptr &&
      ASN1_TIME_compare(X509_get0_notAfter(cert.get()), X509_get0_notAfter(issuer)) > 0 &&
      X509_set1_notAfter(cert.get(), X509_get0_notAfter(issuer)) != 1) {
    throw_openssl("cannot clamp certificate validity");
  }
  return cert;
}

void sign(X509* cert, EVP_PKEY* key) {
  if (X509_sign(cert, key, EVP_sha256()) <= 0) throw_openssl("X509_sign");
}

struct issued {
  x509_ptr cert;
  pkey_ptr key;
};

issued create_ca() {
  issued ca{nullptr, generate_p256_key()};
  ca.cert = make_certificate(ca_common_name, ca.key.get(), nullptr, ca_validity_days);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca.cert.get(), ca.cert.get(), nullptr, nullptr, 0);
  add_extension(ca.cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE");
  add_extension(ca.cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(ca.cert.get(), &ctx, NID_subject_key_identifier, "hash");
  sign(ca.cert.get(), ca.key.get());
  return ca;
}

issued issue_server(X509* ca_cert, EVP_PKEY* ca_key, const std::vector<san_entry>& sans) {
  // CN: the first requested DNS name (what a human looks for); clients only check SANs.
  std::string cn = "localhost";
  for (auto it = sans.begin() + 3; it != sans.end(); ++it) {
    if (!it->is_ip && it->text.size() <= 64) {
      cn = it->text;
      break;
    }
  }
  issued server{nullptr, generate_p256_key()};
  server.cert = make_certificate(cn, server.key.get(), ca_cert, server_validity_days);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca_cert, server.cert.get(), nullptr, nullptr, 0);
  add_extension(server.cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
  add_extension(server.cert.get(), &ctx, NID_key_usage, "critical,digitalSignature");
  add_extension(server.cert.get(), &ctx, NID_ext_key_usage, "serverAuth");
  add_extension(server.cert.get(), &ctx, NID_subject_key_identifier, "hash");
  // Python 3.13's default context (VERIFY_X509_STRICT) requires an AKID on non-root certs.
  add_extension(server.cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
  add_subject_alt_names(server.cert.get(), sans);
  sign(server.cert.get(), ca_key);
  return server;
}

std::chrono::system_clock::time_point to_time_point(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) throw_openssl("ASN1_TIME_to_tm");
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string name_one_line(const X509_NAME* name) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    throw_openssl("X509_NAME_print_ex");
  }
  return bio_contents(bio.get());
}

}  // namespace

bool is_host_name(std::string_view name) {
  return canonical_ip(std::string(name)).has_value() || valid_dns_name(name);
}

dev_certificates ensure_dev_certificates(const fs::path& dir,
                                         const std::vector<std::string>& host_names) {
  const auto sans = required_sans(host_names);  // throws on a bad name before touching files

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    throw std::runtime_error("cannot create certificate directory " + quoted(dir) + ": " +
                             ec.message());
  }
  dir_lock lock(dir);

  dev_certificates out;
  out.ca_cert = dir / "ca.crt";
  out.ca_key = dir / "ca.key";
  out.server_cert = dir / "server.crt";
  out.server_key = dir / "server.key";

  std::string why;
  x509_ptr ca_cert = parse_certificate(out.ca_cert, why);
  if (ca_cert) {
    if (auto problem = ca_problem(ca_cert.get(), out.ca_cert)) {
      why = *problem;
      ca_cert.reset();
    }
  }
  const std::string ca_why = why;

  bool server_ok = false;
  if (ca_cert) {
    why.clear();
    x509_ptr server_cert = parse_certificate(out.server_cert, why);
    pkey_ptr server_key = server_cert ? parse_private_key(out.server_key, why) : nullptr;
    if (server_key && !key_matches(server_cert.get(), server_key.get())) {
      why = quoted(out.server_key) + " does not match " + quoted(out.server_cert);
    } else if (server_key) {
      auto problem = server_problem(ca_cert.get(), server_cert.get(), out.server_cert, sans);
      server_ok = !problem;
      if (problem) why = *problem;
    }
    if (server_ok) return out;
    out.notes.push_back("server certificate re-issued: " + why);
  }

  pkey_ptr ca_key;
  if (ca_cert) {
    why.clear();
    ca_key = parse_private_key(out.ca_key, why);
    if (ca_key && !key_matches(ca_cert.get(), ca_key.get())) {
      why = quoted(out.ca_key) + " does not match " + quoted(out.ca_cert);
      ca_key.reset();
    }
    if (!ca_key) {
      out.notes.push_back("new development CA created (clients must trust the new " +
                          quoted(out.ca_cert) + "): " + why);
      ca_cert.reset();
    }
  } else {
    out.notes.push_back("new development CA created: " + ca_why);
  }

  if (!ca_cert) {
    issued ca = create_ca();
    // Key first: if we stop between the two writes the next start sees a mismatch and
    // recreates, rather than trusting a certificate whose key is gone.
    write_file_atomically(out.ca_key, private_key_pem(ca.key.get()), 0600);
    write_file_atomically(out.ca_cert, certificate_pem(ca.cert.get()), 0644);
    ca_cert = std::move(ca.cert);
    ca_key = std::move(ca.key);
    out.action = dev_certificate_action::ca_created;
  } else {
    out.action = dev_certificate_action::server_issued;
  }

  issued server = issue_server(ca_cert.get(), ca_key.get(), sans);
  write_file_atomically(out.server_key, private_key_pem(server.key.get()), 0600);
  write_file_atomically(out.server_cert, certificate_pem(server.cert.get()), 0644);
  return out;
}

certificate_info describe_certificate(const fs::path& pem_file) {
  std::string why;
  x509_ptr cert = parse_certificate(pem_file, why);
  if (!cert) throw std::runtime_error(why);

  certificate_info info;
  info.subject = name_one_line(X509_get_subject_name(cert.get()));
  info.issuer = name_one_line(X509_get_issuer_name(cert.get()));

  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int md_len = 0;
  if (X509_digest(cert.get(), EVP_sha256(), md.data(), &md_len) != 1) throw_openssl("X509_digest");
  static constexpr char hex[] = "0123456789ABCDEF";
  for (unsigned int i = 0; i < md_len; ++i) {
    if (i != 0) info.sha256_fingerprint += ':';
    info.sha256_fingerprint += hex[md[i] >> 4];
    info.sha256_fingerprint += hex[md[i] & 0x0f];
  }

  info.not_before = to_time_point(X509_get0_notBefore(cert.get()));
  info.not_after = to_time_point(X509_get0_notAfter(cert.get()));

  general_names_ptr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  const int count = names ? sk_GENERAL_NAME_num(names.get()) : 0;
  for (int i = 0; i < count; ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    int type = 0;
    const auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(gn, &type));
    const auto* data = ASN1_STRING_get0_data(value);
    const int len = ASN1_STRING_length(value);
    if (type == GEN_DNS) {
      info.subject_alt_names.push_back(
          "DNS:" + std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(len)));
    } else if (type == GEN_IPADD && (len == 4 || len == 16)) {
      std::array<char, INET6_ADDRSTRLEN> buf{};
      inet_ntop(len == 4 ? AF_INET : AF_INET6, data, buf.data(), buf.size());
      info.subject_alt_names.push_back(std::string("IP:") + buf.data());
    }
  }
  ERR_clear_error();  // X509_get_ext_d2i leaves an entry when the extension is absent
  return info;
}

std::string format_utc(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf.data();
}

std::string to_string(const certificate_info& info) {
  std::string out = "subject=" + info.subject + " sha256=" + info.sha256_fingerprint + " valid " +
                    format_utc(info.not_before) + ".." + format_utc(info.not_after);
  if (!info.subject_alt_names.empty()) {
    out += " SAN=";
    for (std::size_t i = 0; i < info.subject_alt_names.size(); ++i) {
      if (i != 0) out += ',';
      out += info.subject_alt_names[i];
    }
  }
  return out;
}

}  // namespace emu::app
