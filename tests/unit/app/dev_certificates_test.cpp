#include "emulator/app/dev_certificates.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <ctime>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/tls/tls_test_support.hpp"

using namespace emu::app;
using namespace emu::test;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

bool has_critical_extension(X509* cert, int nid) {
  const int idx = X509_get_ext_by_NID(cert, nid, -1);
  return idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert, idx)) == 1;
}

std::string common_name(X509* cert) {
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return buf;
}

double validity_days(X509* cert) {
  int days = 0;
  int secs = 0;
  ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert));
  return days + secs / 86400.0;
}

/// Replaces server.crt with one that expired yesterday, signed by the real CA and otherwise
/// identical in shape, so only the expiry makes it unusable.
void write_expired_server_cert(const dev_certificates& certs) {
  auto ca = load_cert(certs.ca_cert);
  auto ca_key = load_key(certs.ca_key);
  auto old = load_cert(certs.server_cert);
  auto key = load_key(certs.server_key);
  REQUIRE(ca);
  REQUIRE(ca_key);
  REQUIRE(old);
  REQUIRE(key);
  x509_ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 4242);
  X509_set_subject_name(cert.get(), X509_get_subject_name(old.get()));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()));
  X509_set_pubkey(cert.get(), key.get());
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -10L * 86400);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), -1L * 86400);
  for (int i = 0; i < X509_get_ext_count(old.get()); ++i) {
    X509_add_ext(cert.get(), X509_get_ext(old.get(), i), -1);
  }
  REQUIRE(X509_sign(cert.get(), ca_key.get(), EVP_sha256()) > 0);
  bio_ptr bio(BIO_new_file(certs.server_cert.c_str(), "w"));
  REQUIRE(bio);
  REQUIRE(PEM_write_bio_X509(bio.get(), cert.get()) == 1);
}

}  // namespace

TEST_CASE("first call creates a CA and a server certificate that chain and match host names") {
  temp_dir dir;
  const auto certs =
      ensure_dev_certificates(dir.path() / "certs", {"emuhub.localhost", "10.1.2.3"});
  CHECK(certs.action == dev_certificate_action::ca_created);
  CHECK(certs.ca_cert == dir.path() / "certs" / "ca.crt");
  CHECK(certs.server_key == dir.path() / "certs" / "server.key");

  // Key files are private; certificates are public.
  CHECK(file_mode(certs.ca_key) == 0600);
  CHECK(file_mode(certs.server_key) == 0600);
  CHECK(file_mode(certs.ca_cert) == 0644);

  auto ca = load_cert(certs.ca_cert);
  auto ca_key = load_key(certs.ca_key);
  auto server = load_cert(certs.server_cert);
  auto server_key = load_key(certs.server_key);
  REQUIRE(ca);
  REQUIRE(ca_key);
  REQUIRE(server);
  REQUIRE(server_key);

  SUBCASE("CA shape") {
    CHECK(common_name(ca.get()) == "iothub-emulator development CA");
    CHECK(X509_check_ca(ca.get()) == 1);
    CHECK(has_critical_extension(ca.get(), NID_basic_constraints));
    CHECK(X509_get_key_usage(ca.get()) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    CHECK(EVP_PKEY_is_a(ca_key.get(), "EC") == 1);
    char group[64] = {};
    size_t len = 0;
    CHECK(EVP_PKEY_get_group_name(ca_key.get(), group, sizeof group, &len) == 1);
    CHECK(std::string(group) == "prime256v1");
    CHECK(validity_days(ca.get()) > 3649);
    CHECK(validity_days(ca.get()) < 3651);
    CHECK(EVP_PKEY_eq(X509_get0_pubkey(ca.get()), ca_key.get()) == 1);
  }

  SUBCASE("server shape") {
    CHECK(X509_check_ca(server.get()) == 0);
    CHECK((X509_get_extended_key_usage(server.get()) & XKU_SSL_SERVER) != 0);
    CHECK(EVP_PKEY_is_a(server_key.get(), "EC") == 1);
    CHECK(validity_days(server.get()) <= 825.0);
    CHECK(validity_days(server.get()) > 824.0);
    CHECK(EVP_PKEY_eq(X509_get0_pubkey(server.get()), server_key.get()) == 1);
    CHECK(X509_get0_authority_key_id(server.get()) != nullptr);
    CHECK(common_name(server.get()) == "emuhub.localhost");
  }

  SUBCASE("chain and names, verified as a TLS client would") {
    CHECK(verify_chain(ca.get(), server.get()) == X509_V_OK);
    CHECK(verify_chain(ca.get(), server.get(), std::string("localhost")) == X509_V_OK);
    CHECK(verify_chain(ca.get(), server.get(), std::string("emuhub.localhost")) == X509_V_OK);
    CHECK(verify_chain(ca.get(), server.get(), std::nullopt, std::string("127.0.0.1")) ==
          X509_V_OK);
    CHECK(verify_chain(ca.get(), server.get(), std::nullopt, std::string("10.1.2.3")) == X509_V_OK);
    CHECK(X509_check_ip_asc(server.get(), "127.0.0.1", 0) == 1);
    CHECK(X509_check_ip_asc(server.get(), "::1", 0) == 1);
    CHECK(X509_check_ip_asc(server.get(), "10.1.2.3", 0) == 1);
    // IPv4 literals are IP SANs and DNS names too: Proton's peer-name check reads only the
    // latter (issue 21); IPv6 literals are IP SANs only.
    CHECK(X509_check_host(server.get(), "10.1.2.3", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
                          nullptr) == 1);
    CHECK(X509_check_host(server.get(), "127.0.0.1", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
                          nullptr) == 1);
    CHECK(X509_check_host(server.get(), "::1", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, nullptr) !=
          1);
    CHECK(verify_chain(ca.get(), server.get(), std::string("wrong.example")) ==
          X509_V_ERR_HOSTNAME_MISMATCH);
    CHECK(verify_chain(ca.get(), server.get(), std::nullopt, std::string("10.9.9.9")) ==
          X509_V_ERR_IP_ADDRESS_MISMATCH);
  }
}

TEST_CASE("a second call reuses the same files") {
  temp_dir dir;
  const auto first = ensure_dev_certificates(dir.path(), {"emuhub.localhost"});
  const auto ca_before = describe_certificate(first.ca_cert);
  const auto server_before = describe_certificate(first.server_cert);

  // Port suffixes, brackets, case and duplicates do not count as new names.
  const auto second = ensure_dev_certificates(
      dir.path(),
      {"EMUHUB.localhost:8883", "localhost", "[::1]:5671", "127.0.0.1", "", "emuhub.localhost."});
  CHECK(second.action == dev_certificate_action::reused);
  CHECK(second.notes.empty());
  CHECK(describe_certificate(second.ca_cert).sha256_fingerprint == ca_before.sha256_fingerprint);
  CHECK(describe_certificate(second.server_cert).sha256_fingerprint ==
        server_before.sha256_fingerprint);
}

TEST_CASE("a new host name re-issues the server certificate under the same CA") {
  temp_dir dir;
  const auto first = ensure_dev_certificates(dir.path(), {});
  const auto ca_before = describe_certificate(first.ca_cert);
  const auto server_before = describe_certificate(first.server_cert);

  const auto second = ensure_dev_certificates(dir.path(), {"iothub-emulator", "192.168.7.1"});
  CHECK(second.action == dev_certificate_action::server_issued);
  INFO(joined(second.notes));
  REQUIRE(second.notes.size() == 1);
  CHECK(contains(second.notes[0], "iothub-emulator"));
  CHECK(describe_certificate(second.ca_cert).sha256_fingerprint == ca_before.sha256_fingerprint);
  CHECK(describe_certificate(second.server_cert).sha256_fingerprint !=
        server_before.sha256_fingerprint);

  auto ca = load_cert(second.ca_cert);
  auto server = load_cert(second.server_cert);
  CHECK(verify_chain(ca.get(), server.get(), std::string("iothub-emulator")) == X509_V_OK);
  CHECK(verify_chain(ca.get(), server.get(), std::string("localhost")) == X509_V_OK);
  CHECK(verify_chain(ca.get(), server.get(), std::nullopt, std::string("192.168.7.1")) ==
        X509_V_OK);
  CHECK(file_mode(second.server_key) == 0600);

  // Asking for fewer names than the certificate already covers is no reason to re-issue.
  const auto third = ensure_dev_certificates(dir.path(), {});
  CHECK(third.action == dev_certificate_action::reused);
}

TEST_CASE("a corrupt server certificate is replaced under the same CA") {
  temp_dir dir;
  const auto first = ensure_dev_certificates(dir.path(), {});
  const auto ca_before = describe_certificate(first.ca_cert).sha256_fingerprint;
  write_text(first.server_cert,
             "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n");

  const auto second = ensure_dev_certificates(dir.path(), {});
  CHECK(second.action == dev_certificate_action::server_issued);
  INFO(joined(second.notes));
  REQUIRE(!second.notes.empty());
  CHECK(contains(second.notes[0], "server.crt"));
  CHECK(describe_certificate(second.ca_cert).sha256_fingerprint == ca_before);
  auto ca = load_cert(second.ca_cert);
  auto server = load_cert(second.server_cert);
  REQUIRE(server);
  CHECK(verify_chain(ca.get(), server.get(), std::string("localhost")) == X509_V_OK);
}

TEST_CASE("a server key that does not match its certificate is replaced") {
  temp_dir dir;
  const auto first = ensure_dev_certificates(dir.path(), {});
  // Put the CA key where the server key belongs: valid PEM, wrong key.
  write_text(first.server_key, read_text(first.ca_key));

  const auto second = ensure_dev_certificates(dir.path(), {});
  CHECK(second.action == dev_certificate_action::server_issued);
  INFO(joined(second.notes));
  REQUIRE(!second.notes.empty());
  CHECK(contains(second.notes[0], "does not match"));
  auto server = load_cert(second.server_cert);
  auto key = load_key(second.server_key);
  CHECK(EVP_PKEY_eq(X509_get0_pubkey(server.get()), key.get()) == 1);
}

TEST_CASE("an expired server certificate is re-issued") {
  temp_dir dir;
  const auto first = ensure_dev_certificates(dir.path(), {});
  write_expired_server_cert(first);
  {
    auto ca = load_cert(first.ca_cert);
    auto server = load_cert(first.server_cert);
    REQUIRE(verify_chain(ca.get(), server.get()) == X509_V_ERR_CERT_HAS_EXPIRED);
  }
  const auto second = ensure_dev_certificates(dir.path(), {});
  CHECK(second.action == dev_certificate_action::server_issued);
  INFO(joined(second.notes));
  REQUIRE(!second.notes.empty());
  CHECK(contains(second.notes[0], "expired"));
  auto ca = load_cert(second.ca_cert);
  auto server = load_cert(second.server_cert);
  CHECK(verify_chain(ca.get(), server.get(), std::string("localhost")) == X509_V_OK);
}

TEST_CASE("a corrupt CA certificate makes a new CA, and says so") {
  temp_dir dir;
  const auto first = ensure_dev_certificates(dir.path(), {});
  const auto ca_before = describe_certificate(first.ca_cert).sha256_fingerprint;
  write_text(first.ca_cert, "not a certificate");

  const auto second = ensure_dev_certificates(dir.path(), {});
  CHECK(second.action == dev_certificate_action::ca_created);
  INFO(joined(second.notes));
  REQUIRE(!second.notes.empty());
  CHECK(contains(joined(second.notes), "ca.crt"));
  CHECK(describe_certificate(second.ca_cert).sha256_fingerprint != ca_before);
  auto ca = load_cert(second.ca_cert);
  auto server = load_cert(second.server_cert);
  CHECK(verify_chain(ca.get(), server.get(), std::string("localhost")) == X509_V_OK);
}

TEST_CASE("without ca.key a valid server certificate is kept; a re-issue needs a new CA") {
  temp_dir dir;
  const auto first = ensure_dev_certificates(dir.path(), {});
  const auto ca_before = describe_certificate(first.ca_cert).sha256_fingerprint;
  std::filesystem::remove(first.ca_key);

  CHECK(ensure_dev_certificates(dir.path(), {}).action == dev_certificate_action::reused);

  const auto third = ensure_dev_certificates(dir.path(), {"new.example"});
  CHECK(third.action == dev_certificate_action::ca_created);
  INFO(joined(third.notes));
  CHECK(contains(joined(third.notes), "clients must trust the new"));
  CHECK(describe_certificate(third.ca_cert).sha256_fingerprint != ca_before);
  CHECK(file_mode(third.ca_key) == 0600);
}

TEST_CASE("invalid host names and unusable directories are reported clearly") {
  temp_dir dir;
  SUBCASE("bad host name") {
    try {
      ensure_dev_certificates(dir.path(), {"bad host,name"});
      FAIL("expected an exception");
    } catch (const std::runtime_error& e) {
      CHECK(contains(e.what(), "bad host,name"));
    }
    CHECK_THROWS_AS(ensure_dev_certificates(dir.path(), {"host:notaport"}), std::runtime_error);
    CHECK_THROWS_AS(ensure_dev_certificates(dir.path(), {"[::1"}), std::runtime_error);
    // Nothing was written for a rejected request.
    CHECK(!std::filesystem::exists(dir.path() / "ca.crt"));
  }
  SUBCASE("directory below a regular file") {
    write_text(dir.path() / "file", "x");
    const auto target = dir.path() / "file" / "certs";
    try {
      ensure_dev_certificates(target, {});
      FAIL("expected an exception");
    } catch (const std::runtime_error& e) {
      CHECK(contains(e.what(), target.string()));
    }
  }
}

TEST_CASE("concurrent first calls agree on one CA") {
  temp_dir dir;
  auto call = [&] { return ensure_dev_certificates(dir.path(), {"emuhub.localhost"}); };
  auto a = std::async(std::launch::async, call);
  auto b = std::async(std::launch::async, call);
  const auto ra = a.get();
  const auto rb = b.get();
  const int created = (ra.action == dev_certificate_action::ca_created ? 1 : 0) +
                      (rb.action == dev_certificate_action::ca_created ? 1 : 0);
  CHECK(created == 1);
  auto ca = load_cert(ra.ca_cert);
  auto server = load_cert(ra.server_cert);
  CHECK(verify_chain(ca.get(), server.get(), std::string("emuhub.localhost")) == X509_V_OK);
  // No temporary files are left behind.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 5);  // ca.crt ca.key server.crt server.key .lock
}

TEST_CASE("describe_certificate reports fingerprint, validity and SANs") {
  temp_dir dir;
  const auto certs = ensure_dev_certificates(dir.path(), {"emuhub.localhost", "fd00::7"});
  const auto info = describe_certificate(certs.server_cert);

  // Independent fingerprint: X509_digest formatted the way `openssl x509 -fingerprint` does.
  auto cert = load_cert(certs.server_cert);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  REQUIRE(X509_digest(cert.get(), EVP_sha256(), md, &len) == 1);
  std::string expected;
  for (unsigned i = 0; i < len; ++i) {
    char hex[4];
    std::snprintf(hex, sizeof hex, i == 0 ? "%02X" : ":%02X", md[i]);
    expected += hex;
  }
  CHECK(info.sha256_fingerprint == expected);
  CHECK(info.sha256_fingerprint.size() == 95);

  CHECK(info.subject == "CN=emuhub.localhost,O=iothub-emulator (development only)");
  CHECK(info.issuer == "CN=iothub-emulator development CA,O=iothub-emulator (development only)");
  const std::vector<std::string> sans{"DNS:localhost",        "IP:127.0.0.1", "IP:::1",
                                      "DNS:emuhub.localhost", "IP:fd00::7",   "DNS:127.0.0.1"};
  CHECK(info.subject_alt_names == sans);

  const auto now = std::chrono::system_clock::now();
  CHECK(info.not_before < now);
  CHECK(info.not_before > now - std::chrono::hours(2));
  CHECK(info.not_after - info.not_before <= std::chrono::hours(24 * 825));
  CHECK(info.not_after > now + std::chrono::hours(24 * 824));

  const auto line = to_string(info);
  CHECK(contains(line, info.sha256_fingerprint));
  CHECK(contains(line, "DNS:emuhub.localhost"));
  CHECK(format_utc(std::chrono::system_clock::from_time_t(0)) == "1970-01-01T00:00:00Z");

  try {
    describe_certificate(dir.path() / "missing.crt");
    FAIL("expected an exception");
  } catch (const std::runtime_error& e) {
    CHECK(contains(e.what(), "missing.crt"));
  }
}
