// Vectors produced by the official Azure IoT Node SDK (tests/node/make_sas_vectors.js ->
// tests/fixtures/sas_vectors.json): the emulator must verify exactly what real clients send.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "emulator/core/connection_string.hpp"
#include "emulator/core/crypto.hpp"
#include "emulator/core/sas_token.hpp"

using namespace emu::core;
using nlohmann::json;

namespace {

const json& vectors() {
  static const json j = [] {
    std::ifstream in(EMU_SOURCE_DIR "/tests/fixtures/sas_vectors.json");
    REQUIRE_MESSAGE(in.good(), "cannot open tests/fixtures/sas_vectors.json");
    return json::parse(in);
  }();
  return j;
}

constexpr std::string_view kWrongKey = "AAECAwQFBgcICQoLDA0ODw==";
constexpr std::string_view kWrongKey2 = "q0r2FvU3mVtj3m0S8JzSxn2pV8Hz1kq6Jr2yI0nUy7A=";

std::string wrong_key_for(const std::string& key) {
  return key == kWrongKey ? std::string(kWrongKey2) : std::string(kWrongKey);
}

}  // namespace

TEST_CASE("Node vectors: the fixture is present and covers the required cases") {
  const auto& j = vectors();
  REQUIRE(j.at("sas_tokens").size() >= 15);
  REQUIRE(j.at("connection_strings").size() >= 10);
  CHECK(j.at("packages").at("azure-iot-common") == "1.13.3");
  CHECK(j.at("packages").at("azure-iothub") == "1.16.6");
  bool special = false, hub_owner = false, hub_service = false, port = false;
  for (const auto& v : j.at("sas_tokens")) {
    const auto uri = v.at("resource_uri").get<std::string>();
    special |= uri == "localhost/devices/dev 1+x";
    hub_owner |= v.at("key_name") == "iothubowner" && uri == "localhost";
    hub_service |= v.at("key_name") == "service" && uri == "localhost";
    port |= uri.rfind("localhost:15671", 0) == 0;
  }
  CHECK(special);
  CHECK(hub_owner);
  CHECK(hub_service);
  CHECK(port);
}

TEST_CASE("Node vectors: every token parses to the SDK's fields") {
  for (const auto& v : vectors().at("sas_tokens")) {
    CAPTURE(v.at("name").get<std::string>());
    const auto r = parse_sas_token(v.at("token").get<std::string>());
    REQUIRE(r.ok());
    CHECK(r->resource_uri_raw == v.at("sr_raw").get<std::string>());
    CHECK(r->resource_uri == v.at("resource_uri").get<std::string>());
    CHECK(r->signature == *url_decode(v.at("sig_raw").get<std::string>()));
    CHECK(r->expiry == v.at("expiry").get<std::int64_t>());
    CHECK(r->key_name == v.at("key_name").get<std::string>());
  }
}

TEST_CASE("Node vectors: verify with the right key, fail with anything changed") {
  for (const auto& v : vectors().at("sas_tokens")) {
    CAPTURE(v.at("name").get<std::string>());
    const auto key = v.at("key").get<std::string>();
    const auto r = parse_sas_token(v.at("token").get<std::string>());
    REQUIRE(r.ok());
    CHECK(signature_matches(*r, key));
    CHECK_FALSE(signature_matches(*r, wrong_key_for(key)));

    sas_token t = *r;  // tampered signature: flip one base64 character
    t.signature[3] = t.signature[3] == 'Q' ? 'R' : 'Q';
    CHECK_FALSE(signature_matches(t, key));

    t = *r;  // changed se
    t.expiry += 1;
    CHECK_FALSE(signature_matches(t, key));

    t = *r;  // changed sr (one more segment)
    t.resource_uri_raw += "%2Fx";
    CHECK_FALSE(signature_matches(t, key));

    // Tampering in the token text itself: se and sr.
    std::string text = v.at("token").get<std::string>();
    const auto se_pos = text.find("se=" + std::to_string(r->expiry));
    REQUIRE(se_pos != std::string::npos);
    std::string changed_se = text;
    changed_se.replace(se_pos, 3 + std::to_string(r->expiry).size(),
                       "se=" + std::to_string(r->expiry + 3600));
    const auto p = parse_sas_token(changed_se);
    REQUIRE(p.ok());
    CHECK_FALSE(signature_matches(*p, key));

    std::string changed_sr = text;
    changed_sr.replace(text.find("sr=") + 3, 1, "X");
    const auto q = parse_sas_token(changed_sr);
    REQUIRE(q.ok());
    CHECK_FALSE(signature_matches(*q, key));
  }
}

TEST_CASE("Node vectors: make_sas_token is byte-identical where the SDK encodes strictly") {
  int equal = 0, differing = 0;
  for (const auto& v : vectors().at("sas_tokens")) {
    CAPTURE(v.at("name").get<std::string>());
    const std::string mine =
        make_sas_token(v.at("resource_uri").get<std::string>(), v.at("key").get<std::string>(),
                       v.at("key_name").get<std::string>(), v.at("expiry").get<std::int64_t>());
    const std::string node = v.at("token").get<std::string>();
    if (v.at("make_sas_token_equal").get<bool>()) {
      CHECK(mine == node);
      ++equal;
    } else {
      // Known differences (see make_sas_vectors.js): Node writes `*` as `%2a` and the service
      // client leaves HostName unencoded. Same decoded sr, both verify with the key.
      CHECK(mine != node);
      const auto a = parse_sas_token(mine);
      const auto b = parse_sas_token(node);
      REQUIRE(a.ok());
      REQUIRE(b.ok());
      CHECK(a->resource_uri == b->resource_uri);
      CHECK(signature_matches(*a, v.at("key").get<std::string>()));
      CHECK(signature_matches(*b, v.at("key").get<std::string>()));
      ++differing;
    }
  }
  CHECK(equal >= 15);
  CHECK(differing >= 1);
}

TEST_CASE("Node vectors: device tokens are scoped to the device (spec §5.2)") {
  for (const auto& v : vectors().at("sas_tokens")) {
    if (!v.contains("connection_string")) continue;
    CAPTURE(v.at("name").get<std::string>());
    const auto cs = parse_connection_string(v.at("connection_string").get<std::string>());
    REQUIRE(cs.ok());
    const auto r = parse_sas_token(v.at("token").get<std::string>());
    REQUIRE(r.ok());
    CHECK(signature_matches(*r, cs->shared_access_key));
    if (cs->is_device()) {
      // The SDK signs for HostName, never GatewayHostName (sdk-wire §1.2).
      std::string target = cs->host_name + "/devices/" + cs->device_id;
      if (!cs->module_id.empty()) target += "/modules/" + cs->module_id;
      CHECK(r->resource_uri == target);
      CHECK(resource_covers(r->resource_uri, target + "/messages/devicebound"));
      CHECK_FALSE(resource_covers(r->resource_uri, cs->host_name + "/devices/other"));
      CHECK(r->key_name == cs->shared_access_key_name);
    } else {
      CHECK(r->resource_uri == cs->host_name);  // service client: bare HostName (sdk-wire §2.3)
      CHECK(r->key_name == cs->shared_access_key_name);
    }
  }
}

TEST_CASE("Node vectors: connection strings the SDK parses") {
  for (const auto& v : vectors().at("connection_strings")) {
    const auto name = v.at("name").get<std::string>();
    CAPTURE(name);
    const auto text = v.at("text").get<std::string>();
    const auto r = parse_connection_string(text);
    const auto& sdk = v.at("sdk");
    // Where we deliberately differ from the SDK: x509 (no key; the emulator has no X.509 auth),
    // a missing HostName, and duplicates (Node keeps the last one silently).
    const bool expect_ok =
        name != "device_x509" && name != "device_missing_host" && name != "device_duplicate_key";
    REQUIRE(r.ok() == expect_ok);
    if (!r.ok()) continue;
    auto field = [&](const char* key) {
      return sdk.contains(key) ? sdk.at(key).get<std::string>() : std::string();
    };
    CHECK(r->host_name == field("HostName"));
    CHECK(r->gateway_host_name == field("GatewayHostName"));
    CHECK(r->device_id == field("DeviceId"));
    CHECK(r->module_id == field("ModuleId"));
    CHECK(r->shared_access_key_name == field("SharedAccessKeyName"));
    CHECK(r->shared_access_key == field("SharedAccessKey"));
    CHECK(r->shared_access_signature == field("SharedAccessSignature"));
    CHECK(r->is_device() == v.at("device_parse_ok").get<bool>());
    const auto again = parse_connection_string(to_string(*r));
    REQUIRE(again.ok());
    CHECK(to_string(*again) == to_string(*r));
  }
}
