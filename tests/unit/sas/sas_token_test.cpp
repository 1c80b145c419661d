// sas_token.hpp: parsing (spec §5.1), verification, making tokens, scope rules (spec §5.2).
#include <doctest/doctest.h>

#include <string>

#include "emulator/core/crypto.hpp"
#include "emulator/core/sas_token.hpp"

using namespace emu::core;

namespace {

constexpr std::string_view kKey = "q0r2FvU3mVtj3m0S8JzSxn2pV8Hz1kq6Jr2yI0nUy7A=";
constexpr std::string_view kOtherKey = "AAECAwQFBgcICQoLDA0ODw==";

// A signature that contains `+`, `/` and `=` once URL-decoded, to exercise the decoding.
constexpr std::string_view kSigRaw = "py9A%2B6ty2D5vA7YYoAaTH6S7NRpbcH6tyXQ5%2FpuoL4U%3D";
constexpr std::string_view kSig = "py9A+6ty2D5vA7YYoAaTH6S7NRpbcH6tyXQ5/puoL4U=";

void check_error(const result<sas_token>& r, std::string_view reason_part) {
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == hub_error::argument_invalid);
  CAPTURE(r.error().message);
  CHECK(r.error().message.find(reason_part) != std::string::npos);
  // Reasons never echo the signature (brief: no keys or signatures in reasons).
  CHECK(r.error().message.find("py9A") == std::string::npos);
}

}  // namespace

TEST_CASE("parse_sas_token: SDK order sr, sig, skn, se") {
  const std::string text =
      "SharedAccessSignature sr=localhost%2Fdevices%2Fdev1&sig=" + std::string(kSigRaw) +
      "&skn=device&se=1700003600";
  const auto r = parse_sas_token(text);
  REQUIRE(r.ok());
  CHECK(r->resource_uri_raw == "localhost%2Fdevices%2Fdev1");
  CHECK(r->resource_uri == "localhost/devices/dev1");
  CHECK(r->signature == kSig);
  CHECK(r->expiry == 1700003600);
  CHECK(r->key_name == "device");
}

TEST_CASE("parse_sas_token: any field order gives the same token") {
  const std::string sr = "sr=localhost%2Fdevices%2Fdev1";
  const std::string sig = "sig=" + std::string(kSigRaw);
  const std::string se = "se=1700003600";
  const std::string orders[] = {sr + "&" + sig + "&" + se, sig + "&" + se + "&" + sr,
                                se + "&" + sr + "&" + sig, sig + "&" + sr + "&" + se,
                                se + "&" + sig + "&" + sr};
  for (const auto& fields : orders) {
    CAPTURE(fields);
    const auto r = parse_sas_token("SharedAccessSignature " + fields);
    REQUIRE(r.ok());
    CHECK(r->resource_uri == "localhost/devices/dev1");
    CHECK(r->signature == kSig);
    CHECK(r->expiry == 1700003600);
    CHECK(r->key_name.empty());
  }
}

TEST_CASE("parse_sas_token: field names match case-insensitively") {
  const auto r = parse_sas_token("SharedAccessSignature SR=h%2Fa&Sig=" + std::string(kSigRaw) +
                                 "&sE=12&SKN=service");
  REQUIRE(r.ok());
  CHECK(r->resource_uri == "h/a");
  CHECK(r->expiry == 12);
  CHECK(r->key_name == "service");
}

TEST_CASE("parse_sas_token: sr is kept raw, escape case preserved") {
  const auto r = parse_sas_token("SharedAccessSignature sr=Localhost%2fDevices%2Fdev%2a1&sig=" +
                                 std::string(kSigRaw) + "&se=1");
  REQUIRE(r.ok());
  CHECK(r->resource_uri_raw == "Localhost%2fDevices%2Fdev%2a1");
  CHECK(r->resource_uri == "Localhost/Devices/dev*1");
}

TEST_CASE("parse_sas_token: unencoded signature with `=` and `+` is split at the first `=`") {
  const auto r = parse_sas_token("SharedAccessSignature sr=localhost&sig=" + std::string(kSig) +
                                 "&se=5&skn=iothubowner");
  REQUIRE(r.ok());
  CHECK(r->signature == kSig);
  CHECK(r->resource_uri == "localhost");
}

TEST_CASE("parse_sas_token: unknown fields and empty segments are ignored") {
  const auto r =
      parse_sas_token("SharedAccessSignature sr=h&&sig=" + std::string(kSigRaw) + "&foo=bar&se=7&");
  REQUIRE(r.ok());
  CHECK(r->expiry == 7);
}

TEST_CASE("parse_sas_token: large expiry values (millisecond timestamps, int64 max)") {
  auto r = parse_sas_token("SharedAccessSignature sr=h&sig=x&se=1700000000500");
  REQUIRE(r.ok());
  CHECK(r->expiry == 1700000000500);
  r = parse_sas_token("SharedAccessSignature sr=h&sig=x&se=9223372036854775807");
  REQUIRE(r.ok());
  CHECK(r->expiry == INT64_MAX);
  r = parse_sas_token("SharedAccessSignature sr=h&sig=x&se=0");
  REQUIRE(r.ok());
  CHECK(r->expiry == 0);
}

TEST_CASE("parse_sas_token: missing fields") {
  const std::string sig = "sig=" + std::string(kSigRaw);
  check_error(parse_sas_token("SharedAccessSignature " + sig + "&se=1"), "'sr'");
  check_error(parse_sas_token("SharedAccessSignature sr=h&se=1"), "'sig'");
  check_error(parse_sas_token("SharedAccessSignature sr=h&" + sig), "'se'");
  check_error(parse_sas_token("SharedAccessSignature sr=&" + sig + "&se=1"), "'sr'");
  check_error(parse_sas_token("SharedAccessSignature sr=h&sig=&se=1"), "'sig'");
  check_error(parse_sas_token("SharedAccessSignature sr=h&" + sig + "&se="), "'se'");
}

TEST_CASE("parse_sas_token: duplicate fields are refused, whatever their case") {
  const std::string sig = "sig=" + std::string(kSigRaw);
  check_error(parse_sas_token("SharedAccessSignature sr=h&sr=h&" + sig + "&se=1"), "duplicate");
  check_error(parse_sas_token("SharedAccessSignature sr=h&SR=h&" + sig + "&se=1"), "duplicate");
  check_error(parse_sas_token("SharedAccessSignature sr=h&" + sig + "&" + sig + "&se=1"),
              "duplicate");
  check_error(parse_sas_token("SharedAccessSignature sr=h&" + sig + "&se=1&se=2"), "duplicate");
  check_error(parse_sas_token("SharedAccessSignature sr=h&" + sig + "&se=1&skn=a&Skn=b"),
              "duplicate");
}

TEST_CASE("parse_sas_token: wrong prefix") {
  const std::string fields = "sr=h&sig=" + std::string(kSigRaw) + "&se=1";
  check_error(parse_sas_token("sharedaccesssignature " + fields), "SharedAccessSignature");
  check_error(parse_sas_token("SharedAccessSignature" + fields), "SharedAccessSignature");
  check_error(parse_sas_token("SharedAccessSignature\t" + fields), "SharedAccessSignature");
  check_error(parse_sas_token(" SharedAccessSignature " + fields), "SharedAccessSignature");
  check_error(parse_sas_token("Bearer " + fields), "SharedAccessSignature");
  check_error(parse_sas_token(fields), "SharedAccessSignature");
  // A second space leaves " sr" as an unknown field name, so sr is missing.
  check_error(parse_sas_token("SharedAccessSignature  " + fields), "'sr'");
}

TEST_CASE("parse_sas_token: se must be a non-negative integer") {
  const std::string head = "SharedAccessSignature sr=h&sig=" + std::string(kSigRaw) + "&se=";
  for (const char* se : {"abc", "-1", "+1", "1.5", "1e9", " 1", "1 ", "0x10", "12a",
                         "9223372036854775808", "99999999999999999999"}) {
    CAPTURE(se);
    check_error(parse_sas_token(head + se), "'se'");
  }
}

TEST_CASE("parse_sas_token: empty and degenerate input") {
  check_error(parse_sas_token(""), "SharedAccessSignature");
  check_error(parse_sas_token("SharedAccessSignature "), "no fields");
  check_error(parse_sas_token("SharedAccessSignature &&&"), "'sr'");
  check_error(parse_sas_token("SharedAccessSignature sr"), "'='");
  check_error(parse_sas_token("SharedAccessSignature sr=h&sig=" + std::string(kSigRaw) + "&se=1&x"),
              "'='");
}

TEST_CASE("parse_sas_token: malformed escapes are refused") {
  check_error(parse_sas_token("SharedAccessSignature sr=h%2&sig=a&se=1"), "'sr'");
  check_error(parse_sas_token("SharedAccessSignature sr=h&sig=a%ZZ&se=1"), "'sig'");
  check_error(parse_sas_token("SharedAccessSignature sr=h&sig=a&se=1&skn=%"), "'skn'");
}

TEST_CASE("make_sas_token then parse and verify") {
  const std::string token = make_sas_token("localhost/devices/dev 1+x", kKey, "", 1700003600);
  CHECK(token.rfind("SharedAccessSignature sr=localhost%2Fdevices%2Fdev%201%2Bx&sig=", 0) == 0);
  CHECK(token.find("skn=") == std::string::npos);
  const auto r = parse_sas_token(token);
  REQUIRE(r.ok());
  CHECK(r->resource_uri == "localhost/devices/dev 1+x");
  CHECK(signature_matches(*r, kKey));
  CHECK_FALSE(signature_matches(*r, kOtherKey));

  const std::string hub = make_sas_token("localhost", kKey, "iothubowner", 42);
  CHECK(hub.find("&skn=iothubowner&se=42") != std::string::npos);  // Node order sr, sig, skn, se
  const auto h = parse_sas_token(hub);
  REQUIRE(h.ok());
  CHECK(h->key_name == "iothubowner");
  CHECK(signature_matches(*h, kKey));
}

TEST_CASE("signature_matches: the signature covers the raw sr, not the decoded one") {
  // Same decoded resource, different escape case: only the spelling that was signed verifies.
  const std::string sig = url_encode(base64_encode(
      hmac_sha256(*base64_decode(kKey), std::string("localhost%2fdevices%2fdev1\n100"))));
  auto lower =
      parse_sas_token("SharedAccessSignature sr=localhost%2fdevices%2fdev1&sig=" + sig + "&se=100");
  REQUIRE(lower.ok());
  CHECK(signature_matches(*lower, kKey));
  auto upper =
      parse_sas_token("SharedAccessSignature sr=localhost%2Fdevices%2Fdev1&sig=" + sig + "&se=100");
  REQUIRE(upper.ok());
  CHECK(upper->resource_uri == lower->resource_uri);
  CHECK_FALSE(signature_matches(*upper, kKey));
}

TEST_CASE("signature_matches: bad keys and tampering") {
  const auto r = parse_sas_token(make_sas_token("localhost", kKey, "service", 1000));
  REQUIRE(r.ok());
  CHECK(signature_matches(*r, kKey));
  CHECK_FALSE(signature_matches(*r, ""));
  CHECK_FALSE(signature_matches(*r, "not base64!"));
  CHECK_FALSE(signature_matches(*r, kOtherKey));

  sas_token t = *r;
  t.expiry = 1001;
  CHECK_FALSE(signature_matches(t, kKey));
  t = *r;
  t.resource_uri_raw = "localhosT";
  CHECK_FALSE(signature_matches(t, kKey));
  t = *r;
  t.signature[0] = t.signature[0] == 'A' ? 'B' : 'A';
  CHECK_FALSE(signature_matches(t, kKey));
  t = *r;
  t.signature.pop_back();
  CHECK_FALSE(signature_matches(t, kKey));
  t = *r;
  t.signature.clear();
  CHECK_FALSE(signature_matches(t, kKey));
  // skn is not part of what is signed (spec §5.1): changing it alone does not break the HMAC.
  t = *r;
  t.key_name = "other";
  CHECK(signature_matches(t, kKey));
}

TEST_CASE("make_sas_token: an undecodable key verifies against no key") {
  const auto r = parse_sas_token(make_sas_token("localhost", "***", "", 1));
  REQUIRE(r.ok());
  CHECK_FALSE(signature_matches(*r, kKey));
  CHECK_FALSE(signature_matches(*r, ""));
}

TEST_CASE("resource_covers: segment-wise prefix (spec §5.2)") {
  CHECK(resource_covers("h/a/b", "h/a/b"));
  CHECK(resource_covers("h/a/b", "h/a/b/c"));
  CHECK(resource_covers("h/a/b", "h/a/b/c/d"));
  CHECK(resource_covers("h/a/b", "h/a/b/"));
  CHECK_FALSE(resource_covers("h/a/b", "h/a/bc"));
  CHECK_FALSE(resource_covers("h/a/b", "h/a"));
  CHECK_FALSE(resource_covers("h/a/b", "h/a/"));
  CHECK_FALSE(resource_covers("h/a/b", "x/a/b"));
  CHECK_FALSE(resource_covers("h/a/b", ""));
  CHECK(resource_covers("localhost", "localhost/devices/dev1"));
  CHECK_FALSE(resource_covers("localhost", "localhost2/devices/dev1"));
  CHECK_FALSE(resource_covers("localhost", "localhost:15671/devices/dev1"));
  CHECK(resource_covers("localhost:15671", "localhost:15671/devices/dev1"));
  CHECK(resource_covers("localhost/devices", "localhost/devices/dev1/messages/devicebound"));
  CHECK_FALSE(resource_covers("localhost/devices/dev1", "localhost/devices/dev10"));
  CHECK_FALSE(resource_covers("localhost/devices/dev1", "localhost/devices/dev1+x"));
}

TEST_CASE("resource_covers: case-insensitive") {
  CHECK(resource_covers("H/A/B", "h/a/b/c"));
  CHECK(resource_covers("myHub.Azure-Devices.net/devices/Dev1",
                        "myhub.azure-devices.net/DEVICES/dev1"));
  CHECK(resource_covers("localhost/messages/serviceBound/feedback",
                        "localhost/messages/servicebound/feedback"));
}

TEST_CASE("resource_covers: trailing slash on the scope is ignored") {
  CHECK(resource_covers("h/a/b/", "h/a/b"));
  CHECK(resource_covers("h/a/b/", "h/a/b/c"));
  CHECK_FALSE(resource_covers("h/a/b/", "h/a/bc"));
  CHECK(resource_covers("localhost/", "localhost"));
  // An empty scope (or only slashes) covers nothing.
  CHECK_FALSE(resource_covers("", "h"));
  CHECK_FALSE(resource_covers("/", "h"));
  CHECK_FALSE(resource_covers("", ""));
}
