// X.509 identities (issue 16, README "Identities"): the presented chain, the registry's rules
// for credentials and scopes, certificate authentication, the hub's CA certificates.
#include <doctest/doctest.h>

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "emulator/core/auth.hpp"
#include "emulator/core/ca_certificates.hpp"
#include "emulator/core/client_certificate.hpp"
#include "emulator/core/crypto.hpp"
#include "emulator/core/journal.hpp"
#include "emulator/core/registry.hpp"
#include "emulator/core/sas_token.hpp"
#include "tests/unit/core/test_certificates.hpp"
#include "tests/unit/core/test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;

namespace {

constexpr std::int64_t t0 = 1767225600;  // 2026-01-01T00:00:00Z (the hub fixture's `now`)
constexpr std::int64_t hour = 3600;
constexpr std::int64_t day = 24 * hour;

time_point at(std::int64_t unix_seconds) {
  return time_point{std::chrono::seconds{unix_seconds}};
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

client_certificate presented(const std::vector<std::string>& chain) {
  auto c = parse_client_certificate(chain);
  REQUIRE(c.ok());
  return *c;
}

/// The error of a result that must have failed.
template <class T>
error failed(const result<T>& r) {
  REQUIRE_FALSE(r.ok());
  return r.error();
}

/// The changes of one kind among a round's changes.
/// Why a chain was refused: `unauthorized`, and the message names the reason.
bool chain_refused(const result<auth_grant>& r, const std::string& reason) {
  REQUIRE_FALSE(r.ok());
  CAPTURE(r.error().message);
  CHECK(r.error().code == hub_error::unauthorized);
  CHECK(contains(r.error().message, "does not chain to a verified CA"));
  CHECK(contains(r.error().message, reason));
  return r.error().code == hub_error::unauthorized && contains(r.error().message, reason);
}

template <class T>
std::vector<T> changes_of(const std::vector<state_change>& changes) {
  std::vector<T> out;
  for (const auto& c : changes)
    if (const auto* x = std::get_if<T>(&c)) out.push_back(*x);
  return out;
}

/// A registry and the hub's CA certificates over one journal, at a clock the test sets.
struct identities {
  journal j;
  registry devices{j};
  ca_certificates cas{j};
  time_point now = at(t0);

  device create(const device_spec& spec) {
    auto d = devices.create(spec, now);
    REQUIRE(d.ok());
    return *d;
  }

  device self_signed_device(std::string id, std::string primary, std::string secondary = "") {
    device_spec spec;
    spec.id = std::move(id);
    spec.authentication = auth_type::self_signed;
    spec.primary_thumbprint = std::move(primary);
    spec.secondary_thumbprint = std::move(secondary);
    return create(spec);
  }

  device ca_device(std::string id) {
    device_spec spec;
    spec.id = std::move(id);
    spec.authentication = auth_type::certificate_authority;
    return create(spec);
  }

  device edge_device(std::string id, std::vector<std::string> parent_scopes = {}) {
    device_spec spec;
    spec.id = std::move(id);
    spec.iot_edge = true;
    spec.parent_scopes = std::move(parent_scopes);
    return create(spec);
  }

  void register_ca(const std::string& name, const test_certificate& ca, bool verified) {
    REQUIRE(cas.put(name, ca.pem, verified, "", now).ok());
  }

  result<auth_grant> authenticate(const std::vector<std::string>& chain, std::string_view id,
                                  time_point when) const {
    return authenticate_device_certificate(devices, cas, presented(chain), id, when);
  }
  result<auth_grant> authenticate(const std::vector<std::string>& chain,
                                  std::string_view id) const {
    return authenticate(chain, id, now);
  }
};

/// A spec that is valid for the registry but for what the test changes.
device_spec self_signed_spec(std::string id, std::string primary, std::string secondary = "") {
  device_spec spec;
  spec.id = std::move(id);
  spec.authentication = auth_type::self_signed;
  spec.primary_thumbprint = std::move(primary);
  spec.secondary_thumbprint = std::move(secondary);
  return spec;
}

const std::string sha1_a(40, 'a');
const std::string sha1_b(40, 'b');
const std::string sha256_c(64, 'c');

}  // namespace

// ---- parse_client_certificate ----------------------------------------------------------------

TEST_CASE("a presented certificate's thumbprints are the SHA-1 and SHA-256 of its DER") {
  const auto leaf = self_signed_certificate("device-one", t0 - hour, t0 + day);
  const auto c = presented({leaf.der});
  CHECK(c.sha1_thumbprint == sha1_of(leaf));
  CHECK(c.sha256_thumbprint == sha256_of(leaf));
  CHECK(c.sha1_thumbprint.size() == 40);
  CHECK(c.sha256_thumbprint.size() == 64);
}

TEST_CASE("a presented certificate's subject CN and validity are the leaf's") {
  const auto root = self_signed_certificate("Root CA", t0 - 10 * day, t0 + 100 * day, true);
  const auto leaf = issued_certificate(root, "device-two", t0 - 2 * hour, t0 + 7 * day + 5);
  const auto c = presented({leaf.der, root.der});
  CHECK(c.subject_common_name == "device-two");
  CHECK(c.not_before == at(t0 - 2 * hour));
  CHECK(c.not_after == at(t0 + 7 * day + 5));
  CHECK(c.sha1_thumbprint == sha1_of(leaf));  // the leaf's, not the intermediate's
  REQUIRE(c.chain_der.size() == 2);
  CHECK(c.chain_der[0] == leaf.der);
  CHECK(c.chain_der[1] == root.der);
}

TEST_CASE(
    "a presented chain that is empty, not DER, has trailing bytes or is too long is refused") {
  const auto leaf = self_signed_certificate("dev", t0 - hour, t0 + day);
  const auto refused = [](const std::vector<std::string>& chain) {
    const auto c = parse_client_certificate(chain);
    REQUIRE_FALSE(c.ok());
    return c.error().code;
  };
  CHECK(refused({}) == hub_error::argument_invalid);
  CHECK(refused({"garbage"}) == hub_error::argument_invalid);
  CHECK(refused({""}) == hub_error::argument_invalid);
  CHECK(refused({leaf.der + "x"}) == hub_error::argument_invalid);
  CHECK(refused({leaf.der.substr(0, leaf.der.size() - 1)}) == hub_error::argument_invalid);
  CHECK(refused({leaf.der, "garbage"}) == hub_error::argument_invalid);  // an intermediate too
  CHECK(refused(std::vector<std::string>(11, leaf.der)) == hub_error::argument_invalid);
  CHECK(parse_client_certificate(std::vector<std::string>(10, leaf.der)).ok());
}

TEST_CASE("thumbprint_matches ignores case and compares SHA-1 or SHA-256 by length") {
  const auto leaf = self_signed_certificate("dev", t0 - hour, t0 + day);
  const auto other = self_signed_certificate("dev", t0 - hour, t0 + day);
  const auto c = presented({leaf.der});
  CHECK(thumbprint_matches(c, sha1_of(leaf)));
  CHECK(thumbprint_matches(c, lower(sha1_of(leaf))));
  CHECK(thumbprint_matches(c, sha256_of(leaf)));
  CHECK(thumbprint_matches(c, lower(sha256_of(leaf))));
  CHECK_FALSE(thumbprint_matches(c, sha1_of(other)));
  CHECK_FALSE(thumbprint_matches(c, sha256_of(other)));
  // The first 40 digits of the SHA-256 are not a SHA-1 match, nor a prefix of either.
  CHECK_FALSE(thumbprint_matches(c, sha256_of(leaf).substr(0, 40)));
  CHECK_FALSE(thumbprint_matches(c, sha1_of(leaf).substr(0, 39)));
  CHECK_FALSE(thumbprint_matches(c, sha256_of(leaf).substr(0, 63)));
  CHECK_FALSE(thumbprint_matches(c, ""));
}

// ---- registry rules ------------------------------------------------------------------------

TEST_CASE("a selfSigned device needs a primary thumbprint and cannot have keys") {
  identities x;
  CHECK(failed(x.devices.create(self_signed_spec("d", ""), x.now)).code ==
        hub_error::argument_invalid);
  CHECK(failed(x.devices.create(self_signed_spec("d", "", sha1_b), x.now)).code ==
        hub_error::argument_invalid);
  auto with_key = self_signed_spec("d", sha1_a);
  with_key.primary_key = device_key;
  CHECK(failed(x.devices.create(with_key, x.now)).code == hub_error::argument_invalid);
  with_key.primary_key.clear();
  with_key.secondary_key = device_key;
  CHECK(failed(x.devices.create(with_key, x.now)).code == hub_error::argument_invalid);
  CHECK(x.devices.find("d") == nullptr);
  const auto d = x.create(self_signed_spec("d", sha1_a));
  CHECK(d.authentication == auth_type::self_signed);
  CHECK(d.primary_key.empty());
  CHECK(d.secondary_key.empty());
}

TEST_CASE("thumbprints must be 40 or 64 hex digits and the two must differ") {
  identities x;
  const auto refused = [&](const device_spec& spec) {
    return failed(x.devices.create(spec, x.now)).code == hub_error::argument_invalid;
  };
  CHECK(refused(self_signed_spec("d", std::string(39, 'a') + "g")));
  CHECK(refused(self_signed_spec("d", std::string(39, 'a'))));
  CHECK(refused(self_signed_spec("d", std::string(41, 'a'))));
  CHECK(refused(self_signed_spec("d", std::string(63, 'a'))));
  CHECK(refused(self_signed_spec("d", std::string(65, 'a'))));
  CHECK(refused(self_signed_spec("d", sha1_a, std::string(64, 'z'))));
  CHECK(refused(self_signed_spec("d", sha1_a, sha1_a)));
  CHECK(refused(self_signed_spec("d", lower(std::string(40, 'A')), std::string(40, 'A'))));
  CHECK(x.devices.find("d") == nullptr);
  CHECK(x.devices.create(self_signed_spec("d", sha1_a, sha256_c), x.now).ok());
}

TEST_CASE("thumbprints are stored upper-case") {
  identities x;
  const std::string mixed_sha1 = "0123456789abcdefABCDEF0123456789abcdefAB";
  const std::string mixed_sha256 = lower(std::string(32, 'E') + std::string(32, 'f'));
  const auto d = x.self_signed_device("d", mixed_sha1, mixed_sha256);
  CHECK(d.primary_thumbprint == "0123456789ABCDEFABCDEF0123456789ABCDEFAB");
  CHECK(d.secondary_thumbprint == std::string(32, 'E') + std::string(32, 'F'));
  CHECK(x.devices.find("d")->primary_thumbprint == d.primary_thumbprint);
}

TEST_CASE("a sas device cannot have thumbprints") {
  identities x;
  device_spec spec;
  spec.id = "d";
  spec.primary_thumbprint = sha1_a;
  CHECK(failed(x.devices.create(spec, x.now)).code == hub_error::argument_invalid);
  spec.primary_thumbprint.clear();
  spec.secondary_thumbprint = sha1_b;
  CHECK(failed(x.devices.create(spec, x.now)).code == hub_error::argument_invalid);
  spec.secondary_thumbprint.clear();
  CHECK(x.devices.create(spec, x.now).ok());
}

TEST_CASE("a certificateAuthority device has neither keys nor thumbprints") {
  identities x;
  device_spec spec;
  spec.id = "d";
  spec.authentication = auth_type::certificate_authority;
  spec.primary_key = device_key;
  CHECK(failed(x.devices.create(spec, x.now)).code == hub_error::argument_invalid);
  spec.primary_key.clear();
  spec.primary_thumbprint = sha1_a;
  CHECK(failed(x.devices.create(spec, x.now)).code == hub_error::argument_invalid);
  spec.primary_thumbprint.clear();
  spec.secondary_thumbprint = sha1_b;
  CHECK(failed(x.devices.create(spec, x.now)).code == hub_error::argument_invalid);
  spec.secondary_thumbprint.clear();
  const auto d = x.create(spec);
  CHECK(d.authentication == auth_type::certificate_authority);
  CHECK(d.primary_key.empty());
  CHECK(d.secondary_key.empty());
  CHECK(d.primary_thumbprint.empty());
}

TEST_CASE("an update from sas to selfSigned clears the keys and changes access") {
  identities x;
  device_spec spec;
  spec.id = "d";
  const auto before = x.create(spec);
  REQUIRE_FALSE(before.primary_key.empty());
  const auto update = x.devices.update(self_signed_spec("d", lower(sha1_a)), "*", x.now);
  REQUIRE(update.ok());
  CHECK(update->access_changed);
  CHECK(update->value.authentication == auth_type::self_signed);
  CHECK(update->value.primary_key.empty());
  CHECK(update->value.secondary_key.empty());
  CHECK(update->value.primary_thumbprint == std::string(40, 'A'));
  CHECK(x.devices.find("d")->primary_key.empty());
  // The same credentials again change nothing that admits the device.
  const auto same = x.devices.update(self_signed_spec("d", sha1_a), "*", x.now);
  REQUIRE(same.ok());
  CHECK_FALSE(same->access_changed);
  // A new thumbprint does.
  const auto rotated = x.devices.update(self_signed_spec("d", sha1_b), "*", x.now);
  REQUIRE(rotated.ok());
  CHECK(rotated->access_changed);
}

TEST_CASE("an edge device's scope is ms-azure-iot-edge://{id}-{generation} and cannot change") {
  identities x;
  const auto edge = x.edge_device("edge1");
  CHECK(edge.iot_edge);
  CHECK(edge.device_scope == "ms-azure-iot-edge://edge1-" + edge.generation_id);

  device_spec spec;
  spec.id = "edge1";
  spec.iot_edge = true;
  spec.device_scope = "ms-azure-iot-edge://edge1-1";
  CHECK(failed(x.devices.update(spec, "*", x.now)).code == hub_error::argument_invalid);
  spec.device_scope = edge.device_scope;  // its own scope: unchanged
  const auto same = x.devices.update(spec, "*", x.now);
  REQUIRE(same.ok());
  CHECK(same->value.device_scope == edge.device_scope);
  spec.device_scope.clear();  // none given: kept
  const auto kept = x.devices.update(spec, "*", x.now);
  REQUIRE(kept.ok());
  CHECK(kept->value.device_scope == edge.device_scope);

  // Nor can it be chosen when the edge device is created.
  spec.id = "edge2";
  spec.device_scope = "ms-azure-iot-edge://edge2-1";
  CHECK(failed(x.devices.create(spec, x.now)).code == hub_error::argument_invalid);
}

TEST_CASE("a leaf device that names an edge device's scope gets it as its parent scope") {
  identities x;
  const auto edge = x.edge_device("edge1");
  device_spec spec;
  spec.id = "leaf";
  spec.device_scope = edge.device_scope;
  const auto leaf = x.create(spec);
  CHECK(leaf.device_scope == edge.device_scope);
  CHECK(leaf.parent_scopes == std::vector<std::string>{edge.device_scope});
  CHECK_FALSE(leaf.iot_edge);
}

TEST_CASE("a leaf device with a scope that names no edge device is refused") {
  identities x;
  const auto edge = x.edge_device("edge1");
  device_spec plain;
  plain.id = "plain";
  x.create(plain);
  device_spec spec;
  spec.id = "leaf";
  spec.device_scope = "ms-azure-iot-edge://nobody-638000000000000001";
  CHECK(failed(x.devices.create(spec, x.now)).code == hub_error::argument_invalid);
  spec.device_scope = edge.device_scope + "x";
  CHECK(failed(x.devices.create(spec, x.now)).code == hub_error::argument_invalid);
  CHECK(x.devices.find("leaf") == nullptr);
}

TEST_CASE("more than one parent scope is refused") {
  identities x;
  const auto a = x.edge_device("edgeA");
  const auto b = x.edge_device("edgeB");
  device_spec spec;
  spec.id = "edgeC";
  spec.iot_edge = true;
  spec.parent_scopes = {a.device_scope, b.device_scope};
  CHECK(failed(x.devices.create(spec, x.now)).code == hub_error::argument_invalid);
  spec.parent_scopes = {a.device_scope};
  CHECK(x.devices.create(spec, x.now).ok());
}

TEST_CASE("an edge device may have another edge device's scope as its parent scope") {
  identities x;
  const auto parent = x.edge_device("parent-edge");
  const auto child = x.edge_device("child-edge", {parent.device_scope});
  CHECK(child.parent_scopes == std::vector<std::string>{parent.device_scope});
  CHECK(child.device_scope == "ms-azure-iot-edge://child-edge-" + child.generation_id);
  CHECK(child.device_scope != parent.device_scope);
}

// ---- authenticate_device_certificate ------------------------------------------------------

TEST_CASE("a selfSigned device is admitted by its primary SHA-1 or secondary SHA-256 thumbprint") {
  identities x;
  const auto first = self_signed_certificate("whatever", t0 - hour, t0 + day);
  const auto second = self_signed_certificate("other-name", t0 - hour, t0 + 2 * day);
  x.self_signed_device("d", lower(sha1_of(first)), sha256_of(second));
  const auto by_primary = x.authenticate({first.der}, "d");
  REQUIRE(by_primary.ok());
  CHECK(by_primary->device_id == "d");
  CHECK(by_primary->policy.empty());
  CHECK(by_primary->permissions == static_cast<permission_set>(permission::device_connect));
  CHECK(by_primary->expiry == at(t0 + day));
  const auto by_secondary = x.authenticate({second.der}, "d");
  REQUIRE(by_secondary.ok());
  CHECK(by_secondary->expiry == at(t0 + 2 * day));
}

TEST_CASE("a selfSigned device refuses a certificate with another thumbprint") {
  identities x;
  const auto registered = self_signed_certificate("d", t0 - hour, t0 + day);
  const auto other = self_signed_certificate("d", t0 - hour, t0 + day);
  x.self_signed_device("d", sha1_of(registered), sha256_of(registered));
  const auto e = failed(x.authenticate({other.der}, "d"));
  CHECK(e.code == hub_error::unauthorized);
  CHECK(contains(e.message, "thumbprint"));
}

TEST_CASE("a certificate is refused before its notBefore and from its notAfter on") {
  identities x;
  const auto leaf = self_signed_certificate("d", t0 + 60, t0 + hour);
  x.self_signed_device("d", sha1_of(leaf));
  const auto early = failed(x.authenticate({leaf.der}, "d", at(t0 + 59)));
  CHECK(early.code == hub_error::unauthorized);
  CHECK(contains(early.message, "not yet valid"));
  CHECK(x.authenticate({leaf.der}, "d", at(t0 + 60)).ok());
  CHECK(x.authenticate({leaf.der}, "d", at(t0 + hour) - std::chrono::milliseconds{1}).ok());
  const auto late = failed(x.authenticate({leaf.der}, "d", at(t0 + hour)));
  CHECK(late.code == hub_error::unauthorized);
  CHECK(contains(late.message, "expired"));
}

TEST_CASE("certificate authentication refuses disabled and unknown devices") {
  identities x;
  const auto leaf = self_signed_certificate("d", t0 - hour, t0 + day);
  x.self_signed_device("d", sha1_of(leaf));
  REQUIRE(x.authenticate({leaf.der}, "d").ok());
  auto spec = self_signed_spec("d", sha1_of(leaf));
  spec.status = device_status::disabled;
  REQUIRE(x.devices.update(spec, "*", x.now).ok());
  const auto disabled = failed(x.authenticate({leaf.der}, "d"));
  CHECK(disabled.code == hub_error::unauthorized);
  CHECK(contains(disabled.message, "disabled"));
  const auto unknown = failed(x.authenticate({leaf.der}, "ghost"));
  CHECK(unknown.code == hub_error::unauthorized);
  CHECK(contains(unknown.message, "not found"));
}

TEST_CASE("a sas device cannot authenticate with a certificate") {
  identities x;
  const auto leaf = self_signed_certificate("d", t0 - hour, t0 + day);
  device_spec spec;
  spec.id = "d";
  x.create(spec);
  const auto e = failed(x.authenticate({leaf.der}, "d"));
  CHECK(e.code == hub_error::unauthorized);
  CHECK(contains(e.message, "sas"));
}

TEST_CASE("a certificateAuthority device refuses a certificate whose subject CN is not its id") {
  identities x;
  const auto root = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  x.register_ca("root", root, true);
  x.ca_device("d");
  const auto other_cn = issued_certificate(root, "not-d", t0 - hour, t0 + day);
  const auto e = failed(x.authenticate({other_cn.der}, "d"));
  CHECK(e.code == hub_error::unauthorized);
  CHECK(contains(e.message, "CN"));
  // CN comparison is exact.
  CHECK_FALSE(x.authenticate({issued_certificate(root, "D", t0 - hour, t0 + day).der}, "d").ok());
  CHECK(x.authenticate({issued_certificate(root, "d", t0 - hour, t0 + day).der}, "d").ok());
}

TEST_CASE("a chain to an unverified CA is refused until the CA is put as verified") {
  identities x;
  const auto root = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  const auto unrelated = self_signed_certificate("Unrelated CA", t0 - day, t0 + 365 * day, true);
  x.register_ca("unrelated", unrelated, true);  // some verified CA exists
  x.register_ca("root", root, false);
  x.ca_device("d");
  const auto leaf = issued_certificate(root, "d", t0 - hour, t0 + 30 * day);
  CHECK(chain_refused(x.authenticate({leaf.der}, "d"), "local issuer"));
  x.register_ca("root", root, true);
  const auto g = x.authenticate({leaf.der}, "d");
  REQUIRE(g.ok());
  CHECK(g->device_id == "d");
  CHECK(g->expiry == at(t0 + 30 * day));  // the leaf's notAfter
}

TEST_CASE("a leaf signed by an intermediate the device presents chains to a registered root") {
  identities x;
  const auto root = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  const auto intermediate =
      issued_certificate(root, "Intermediate CA", t0 - day, t0 + 100 * day, true);
  const auto leaf = issued_certificate(intermediate, "d", t0 - hour, t0 + 10 * day);
  x.register_ca("root", root, true);
  x.ca_device("d");
  const auto g = x.authenticate({leaf.der, intermediate.der}, "d");
  REQUIRE(g.ok());
  CHECK(g->expiry == at(t0 + 10 * day));
  // Without the intermediate the chain does not reach the root.
  CHECK(chain_refused(x.authenticate({leaf.der}, "d"), "local issuer"));
}

TEST_CASE("an intermediate CA registered alone is a trust anchor (partial chain)") {
  identities x;
  const auto root = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  const auto intermediate =
      issued_certificate(root, "Intermediate CA", t0 - day, t0 + 100 * day, true);
  const auto leaf = issued_certificate(intermediate, "d", t0 - hour, t0 + 10 * day);
  x.register_ca("intermediate", intermediate, true);
  x.ca_device("d");
  CHECK(x.authenticate({leaf.der}, "d").ok());
  CHECK(x.authenticate({leaf.der, intermediate.der}, "d").ok());
}

TEST_CASE("a leaf from an unrelated CA or from a same-named CA with another key is refused") {
  identities x;
  const auto root = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  const auto unrelated = self_signed_certificate("Other CA", t0 - day, t0 + 365 * day, true);
  const auto impostor = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  x.register_ca("root", root, true);
  x.ca_device("d");
  const auto from_unrelated = issued_certificate(unrelated, "d", t0 - hour, t0 + day);
  CHECK(chain_refused(x.authenticate({from_unrelated.der, unrelated.der}, "d"), "self-signed"));
  CHECK(chain_refused(x.authenticate({from_unrelated.der}, "d"), "local issuer"));
  const auto from_impostor = issued_certificate(impostor, "d", t0 - hour, t0 + day);
  CHECK(chain_refused(x.authenticate({from_impostor.der}, "d"), "signature"));
  CHECK(chain_refused(x.authenticate({from_impostor.der, impostor.der}, "d"), "signature"));
}

TEST_CASE("a leaf signed by a certificate that is not a CA is refused") {
  identities x;
  const auto root = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  const auto not_a_ca = issued_certificate(root, "Not a CA", t0 - day, t0 + 100 * day);
  const auto leaf = issued_certificate(not_a_ca, "d", t0 - hour, t0 + day);
  x.register_ca("root", root, true);
  x.ca_device("d");
  CHECK(chain_refused(x.authenticate({leaf.der, not_a_ca.der}, "d"), "invalid CA"));
}

TEST_CASE("every certificate of the chain must be valid at the hub's time") {
  identities x;
  x.ca_device("d");
  SUBCASE("an expired intermediate is refused") {
    const auto root = self_signed_certificate("Root CA", t0 - 100 * day, t0 + 365 * day, true);
    const auto intermediate =
        issued_certificate(root, "Intermediate CA", t0 - 100 * day, t0 - day, true);
    const auto leaf = issued_certificate(intermediate, "d", t0 - hour, t0 + day);
    x.register_ca("root", root, true);
    CHECK(chain_refused(x.authenticate({leaf.der, intermediate.der}, "d"), "expired"));
  }
  SUBCASE("a chain valid only in 2040 is accepted in 2040: the hub's clock, not the machine's") {
    constexpr std::int64_t y2040 = 2208988800;  // 2040-01-01T00:00:00Z
    const auto root = self_signed_certificate("Root CA", y2040, y2040 + 30 * day, true);
    const auto leaf = issued_certificate(root, "d", y2040, y2040 + 10 * day);
    x.now = at(y2040);
    x.register_ca("root", root, true);
    CHECK(x.authenticate({leaf.der}, "d", at(y2040 + day)).ok());
    CHECK_FALSE(x.authenticate({leaf.der}, "d", at(y2040 - day)).ok());
  }
}

TEST_CASE("a SAS token signed with an empty key does not admit an X.509 device") {
  identities x;
  const auto leaf = self_signed_certificate("d", t0 - hour, t0 + day);
  x.self_signed_device("x509", sha1_of(leaf));
  x.ca_device("ca-dev");
  device_spec none;
  none.id = "keyless";
  none.authentication = auth_type::none;
  x.create(none);
  const auto se = t0 + hour;
  for (const char* id : {"x509", "ca-dev", "keyless"}) {
    CAPTURE(id);
    REQUIRE(x.devices.find(id)->primary_key.empty());
    // An HMAC with an empty key: what a device without keys would "expect". It is refused for
    // the device's authentication type, not merely by the signature check.
    const auto token = make_sas_token("testhub.localhost/devices/" + std::string(id), "", "", se);
    REQUIRE(parse_sas_token(token).ok());
    const auto e = failed(authenticate_device(test_settings(), x.devices, token, id, x.now));
    CHECK(e.code == hub_error::unauthorized);
    CHECK(contains(e.message, "not a SAS key"));
  }
}

// ---- ca_certificates -----------------------------------------------------------------------

TEST_CASE("put refuses a certificate that is not a CA certificate, and bad names") {
  identities x;
  const auto root = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  const auto leaf = issued_certificate(root, "leaf", t0 - day, t0 + day);
  const auto self_signed_leaf = self_signed_certificate("leaf", t0 - day, t0 + day);
  const auto not_ca = [&](const std::string& text) {
    const auto e = failed(x.cas.put("leaf", text, true, "", x.now));
    return e.code == hub_error::argument_invalid && contains(e.message, "not a CA certificate");
  };
  CHECK(not_ca(leaf.pem));
  CHECK(not_ca(self_signed_leaf.pem));
  CHECK(not_ca(base64_encode(leaf.der)));
  CHECK(failed(x.cas.put("junk", "not a certificate", true, "", x.now)).code ==
        hub_error::argument_invalid);
  CHECK(failed(x.cas.put("junk", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                         true, "", x.now))
            .code == hub_error::argument_invalid);
  for (const std::string& name : {std::string(), std::string(65, 'a'), std::string("a b"),
                                  std::string("a/b"), std::string("caf\xc3\xa9")}) {
    CAPTURE(name);
    const auto e = failed(x.cas.put(name, root.pem, true, "", x.now));
    CHECK(e.code == hub_error::argument_invalid);
    CHECK(contains(e.message, "name"));
  }
  CHECK(x.cas.list().empty());
  CHECK(x.cas.put(std::string(64, 'a'), root.pem, true, "", x.now).ok());
  CHECK(x.cas.put("Aa0-_.", root.pem, true, "", x.now).ok());
  CHECK(x.cas.list().size() == 2);
}

TEST_CASE("put accepts PEM, base64 of DER and base64 of PEM alike") {
  identities x;
  const auto root = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  std::string wrapped_der = base64_encode(root.der);
  for (std::size_t at_line = 64; at_line < wrapped_der.size(); at_line += 66)
    wrapped_der.insert(at_line, "\r\n");
  for (const auto& form :
       std::vector<std::pair<std::string, std::string>>{{"pem", root.pem},
                                                        {"der", base64_encode(root.der)},
                                                        {"wrapped-der", wrapped_der},
                                                        {"base64-pem", base64_encode(root.pem)}}) {
    // Not a structured binding: clang 14 cannot capture one in CAPTURE's lambda.
    const std::string& name = form.first;
    const std::string& text = form.second;
    CAPTURE(name);
    const auto c = x.cas.put(name, text, false, "", x.now);
    REQUIRE(c.ok());
    CHECK(c->name == name);
    CHECK(c->pem == root.pem);
    CHECK(c->thumbprint == sha1_of(root));
    CHECK(contains(c->subject, "Root CA"));
    CHECK(c->not_before == at(t0 - day));
    CHECK(c->not_after == at(t0 + 365 * day));
    CHECK_FALSE(c->verified);
    CHECK(c->verification_code.empty());
    CHECK_FALSE(c->etag.empty());
    CHECK(c->created == x.now);
    CHECK(c->updated == x.now);
    REQUIRE(x.cas.find(name) != nullptr);
    CHECK(*x.cas.find(name) == *c);
  }
}

TEST_CASE("replacing a CA certificate drops its verification unless put as verified") {
  identities x;
  const auto root = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  const auto created = x.cas.put("root", root.pem, true, "", x.now);
  REQUIRE(created.ok());
  CHECK(created->verified);
  const auto replaced = x.cas.put("root", root.pem, false, "", x.now + std::chrono::seconds{5});
  REQUIRE(replaced.ok());
  CHECK_FALSE(replaced->verified);
  CHECK(replaced->created == created->created);
  CHECK(replaced->updated == x.now + std::chrono::seconds{5});
  CHECK(replaced->etag != created->etag);
}

TEST_CASE("generate_verification_code gives 48 hex digits and a new etag") {
  identities x;
  const auto root = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  const auto put = x.cas.put("root", root.pem, false, "", x.now);
  REQUIRE(put.ok());
  const auto first = x.cas.generate_verification_code("root", "", x.now);
  REQUIRE(first.ok());
  CHECK(first->verification_code.size() == 48);
  CHECK(std::all_of(first->verification_code.begin(), first->verification_code.end(),
                    [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }));
  CHECK(first->etag != put->etag);
  CHECK(x.cas.find("root")->verification_code == first->verification_code);
  const auto second = x.cas.generate_verification_code("root", first->etag, x.now);
  REQUIRE(second.ok());
  CHECK(second->verification_code != first->verification_code);
  CHECK(second->etag != first->etag);
  CHECK(failed(x.cas.generate_verification_code("ghost", "", x.now)).code ==
        hub_error::certificate_not_found);
}

TEST_CASE("verify refuses a proof with the wrong CN, another key's signature, or not valid now") {
  identities x;
  const auto root = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  const auto impostor = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  REQUIRE(x.cas.put("root", root.pem, false, "", x.now).ok());
  const auto no_code =
      x.cas.verify("root", "", issued_certificate(root, "x", t0 - hour, t0 + day).pem, x.now);
  CHECK(failed(no_code).code == hub_error::argument_invalid);  // no code pending yet
  const auto generated = x.cas.generate_verification_code("root", "", x.now);
  REQUIRE(generated.ok());
  const std::string code = generated->verification_code;

  const auto refusal = [&](const test_certificate& proof) {
    return failed(x.cas.verify("root", "", proof.pem, x.now));
  };
  const auto wrong_cn = refusal(issued_certificate(root, code + "0", t0 - hour, t0 + day));
  CHECK(wrong_cn.code == hub_error::argument_invalid);
  CHECK(contains(wrong_cn.message, "CN"));
  const auto other_key = refusal(issued_certificate(impostor, code, t0 - hour, t0 + day));
  CHECK(other_key.code == hub_error::argument_invalid);
  CHECK(contains(other_key.message, "signed"));
  const auto not_yet = refusal(issued_certificate(root, code, t0 + 1, t0 + day));
  CHECK(not_yet.code == hub_error::argument_invalid);
  CHECK(contains(not_yet.message, "not valid"));
  const auto expired = refusal(issued_certificate(root, code, t0 - day, t0));
  CHECK(expired.code == hub_error::argument_invalid);
  CHECK(contains(expired.message, "not valid"));
  CHECK(failed(x.cas.verify("root", "", "garbage", x.now)).code == hub_error::argument_invalid);

  const ca_certificate* c = x.cas.find("root");
  CHECK_FALSE(c->verified);
  CHECK(c->verification_code == code);
  CHECK(c->etag == generated->etag);
}

TEST_CASE("verify with the right proof marks the CA verified and clears the code") {
  identities x;
  const auto root = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  REQUIRE(x.cas.put("root", root.pem, false, "", x.now).ok());
  const auto generated = x.cas.generate_verification_code("root", "", x.now);
  REQUIRE(generated.ok());
  const auto proof = issued_certificate(root, generated->verification_code, t0 - hour, t0 + hour);
  const auto later = x.now + std::chrono::seconds{7};
  const auto verified = x.cas.verify("root", generated->etag, proof.pem, later);
  REQUIRE(verified.ok());
  CHECK(verified->verified);
  CHECK(verified->verification_code.empty());
  CHECK(verified->etag != generated->etag);
  CHECK(verified->updated == later);
  CHECK(*x.cas.find("root") == *verified);
  // And a device certificate signed by the CA now chains to it.
  x.ca_device("d");
  CHECK(x.authenticate({issued_certificate(root, "d", t0 - hour, t0 + day).der}, "d").ok());
}

TEST_CASE("an etag that does not match is precondition_failed") {
  identities x;
  const auto root = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  const auto put = x.cas.put("root", root.pem, false, "", x.now);
  REQUIRE(put.ok());
  CHECK(failed(x.cas.put("root", root.pem, false, "wrong", x.now)).code ==
        hub_error::precondition_failed);
  CHECK(failed(x.cas.generate_verification_code("root", "wrong", x.now)).code ==
        hub_error::precondition_failed);
  CHECK(failed(x.cas.verify("root", "wrong", root.pem, x.now)).code ==
        hub_error::precondition_failed);
  CHECK(failed(x.cas.remove("root", "wrong")).code == hub_error::precondition_failed);
  CHECK(*x.cas.find("root") == *put);  // nothing changed
  const auto with_etag = x.cas.put("root", root.pem, false, put->etag, x.now);
  REQUIRE(with_etag.ok());
  CHECK(x.cas.put("root", root.pem, false, "*", x.now).ok());
  CHECK(failed(x.cas.remove("root", with_etag->etag)).code == hub_error::precondition_failed);
  CHECK(x.cas.remove("root", x.cas.find("root")->etag).ok());
}

TEST_CASE("removing an unknown CA certificate is certificate_not_found") {
  identities x;
  CHECK(failed(x.cas.remove("ghost", "")).code == hub_error::certificate_not_found);
  const auto root = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  REQUIRE(x.cas.put("root", root.pem, false, "", x.now).ok());
  CHECK(x.cas.remove("root", "*").ok());
  CHECK(x.cas.find("root") == nullptr);
  CHECK(failed(x.cas.remove("root", "*")).code == hub_error::certificate_not_found);
  CHECK(failed(x.cas.verify("root", "", root.pem, x.now)).code == hub_error::certificate_not_found);
}

TEST_CASE("every change of the CA certificates is recorded in the journal") {
  identities x;
  const auto root = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  (void)x.j.take_changes();

  const auto put = x.cas.put("root", root.pem, false, "", x.now);
  REQUIRE(put.ok());
  auto puts = changes_of<change::put_ca_certificate>(x.j.take_changes());
  REQUIRE(puts.size() == 1);
  CHECK(puts[0].value == *put);

  const auto generated = x.cas.generate_verification_code("root", "", x.now);
  REQUIRE(generated.ok());
  puts = changes_of<change::put_ca_certificate>(x.j.take_changes());
  REQUIRE(puts.size() == 1);
  CHECK(puts[0].value == *generated);

  const auto proof = issued_certificate(root, generated->verification_code, t0 - hour, t0 + day);
  const auto verified = x.cas.verify("root", "", proof.pem, x.now);
  REQUIRE(verified.ok());
  puts = changes_of<change::put_ca_certificate>(x.j.take_changes());
  REQUIRE(puts.size() == 1);
  CHECK(puts[0].value == *verified);
  CHECK(puts[0].value.verified);

  // Refusals record nothing.
  CHECK_FALSE(x.cas.put("root", root.pem, false, "wrong", x.now).ok());
  CHECK_FALSE(x.cas.remove("ghost", "").ok());
  const auto none = x.j.take_changes();
  CHECK(changes_of<change::put_ca_certificate>(none).empty());
  CHECK(changes_of<change::remove_ca_certificate>(none).empty());

  REQUIRE(x.cas.remove("root", "").ok());
  const auto removes = changes_of<change::remove_ca_certificate>(x.j.take_changes());
  REQUIRE(removes.size() == 1);
  CHECK(removes[0].name == "root");
}

// ---- hub::connect_device -----------------------------------------------------------------

TEST_CASE("connect_device admits a selfSigned device by its certificate when the token is empty") {
  fixture f;
  const auto leaf = self_signed_certificate("x509dev", t0 - hour, t0 + day);
  REQUIRE(f.h.create_device(self_signed_spec("x509dev", sha1_of(leaf)), f.now).ok());
  session_request r;
  r.device_id = "x509dev";
  r.certificate = std::make_shared<const client_certificate>(presented({leaf.der}));
  const auto g = f.h.connect_device(r, f.now);
  REQUIRE(g.ok());
  CHECK(g->expiry == at(t0 + day));
  CHECK(g->generation_id == f.h.find_device("x509dev")->generation_id);
  CHECK_FALSE(g->hub_scope);
  CHECK(f.h.presence("x509dev").connected);

  // Another device's certificate does not open this one.
  const auto other = self_signed_certificate("x509dev", t0 - hour, t0 + day);
  r.certificate = std::make_shared<const client_certificate>(presented({other.der}));
  CHECK(failed(f.h.connect_device(r, f.now)).code == hub_error::unauthorized);
}

TEST_CASE("connect_device with neither a token nor a certificate is refused") {
  fixture f;
  const auto leaf = self_signed_certificate("x509dev", t0 - hour, t0 + day);
  REQUIRE(f.h.create_device(self_signed_spec("x509dev", sha1_of(leaf)), f.now).ok());
  session_request r;
  r.device_id = "x509dev";
  const auto e = failed(f.h.connect_device(r, f.now));
  CHECK(e.code == hub_error::unauthorized);
  CHECK(contains(e.message, "No SAS token and no client certificate"));
  CHECK_FALSE(f.h.presence("x509dev").connected);
  r.device_id = "dev1";  // a sas device without its token is refused the same way
  CHECK(failed(f.h.connect_device(r, f.now)).code == hub_error::unauthorized);
  CHECK(failed(f.h.authenticate_device(device_credential{}, "x509dev", f.now)).code ==
        hub_error::unauthorized);
}

namespace {
/// A device of type certificateAuthority in the fixture's hub.
void create_ca_device(fixture& f, const std::string& id) {
  device_spec spec;
  spec.id = id;
  spec.authentication = auth_type::certificate_authority;
  REQUIRE(f.h.create_device(spec, f.now).ok());
}
}  // namespace

TEST_CASE("the hub admits a certificateAuthority device through its verified CA certificates") {
  fixture f;
  const auto root = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  const auto leaf = issued_certificate(root, "ca-dev", t0 - hour, t0 + 3 * day);
  create_ca_device(f, "ca-dev");
  const auto chain = std::make_shared<const client_certificate>(presented({leaf.der}));
  CHECK_FALSE(f.h.authenticate_device(device_credential{"", chain}, "ca-dev", f.now).ok());
  REQUIRE(f.h.certificates().put("root", root.pem, true, "", f.now).ok());
  CHECK(f.h.certificates().find("root")->verified);
  const auto g = f.h.authenticate_device(device_credential{"", chain}, "ca-dev", f.now);
  REQUIRE(g.ok());
  CHECK(g->expiry == at(t0 + 3 * day));
  session_request r;
  r.device_id = "ca-dev";
  r.certificate = chain;
  CHECK(f.h.connect_device(r, f.now).ok());
}

TEST_CASE("a CA-admitted grant ends with the CA when the CA expires before the leaf") {
  fixture f;
  const auto root = self_signed_certificate("Short Root", t0 - day, t0 + 2 * day, true);
  const auto leaf = issued_certificate(root, "ca-dev", t0 - hour, t0 + 30 * day);
  create_ca_device(f, "ca-dev");
  REQUIRE(f.h.put_ca_certificate("root", root.pem, true, "", f.now).ok());
  const auto chain = std::make_shared<const client_certificate>(presented({leaf.der}));
  const auto g = f.h.authenticate_device(device_credential{"", chain}, "ca-dev", f.now);
  REQUIRE(g.ok());
  CHECK(g->expiry == at(t0 + 2 * day));
}

TEST_CASE(
    "replacing or deleting a CA certificate ends the sessions of certificateAuthority devices") {
  fixture f;
  const auto root = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  const auto leaf = issued_certificate(root, "ca-dev", t0 - hour, t0 + 3 * day);
  create_ca_device(f, "ca-dev");
  REQUIRE(f.h.put_ca_certificate("root", root.pem, true, "", f.now).ok());
  const auto chain = std::make_shared<const client_certificate>(presented({leaf.der}));
  session_request r;
  r.device_id = "ca-dev";
  r.certificate = chain;
  REQUIRE(f.h.connect_device(r, f.now).ok());
  CHECK(f.h.presence("ca-dev").connected);
  (void)f.h.take_events();

  const auto ended = [&] {
    for (const auto& e : f.h.take_events())
      if (const auto* s = std::get_if<event::session_ended>(&e);
          s != nullptr && s->device_id == "ca-dev" && s->why == session_end::device_changed)
        return true;
    return false;
  };
  // Replaced unverified: its devices must prove their chain again (and now fail).
  REQUIRE(f.h.put_ca_certificate("root", root.pem, false, "", f.now).ok());
  CHECK(ended());
  CHECK_FALSE(f.h.presence("ca-dev").connected);
  CHECK_FALSE(f.h.connect_device(r, f.now).ok());

  REQUIRE(f.h.put_ca_certificate("root", root.pem, true, "", f.now).ok());
  REQUIRE(f.h.connect_device(r, f.now).ok());
  (void)f.h.take_events();
  REQUIRE(f.h.remove_ca_certificate("root", "", f.now).ok());
  CHECK(ended());
  CHECK_FALSE(f.h.connect_device(r, f.now).ok());
}
