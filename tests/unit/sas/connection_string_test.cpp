// connection_string.hpp: hub and device connection strings (spec §5.4).
#include <doctest/doctest.h>

#include <string>

#include "emulator/core/connection_string.hpp"
#include "emulator/core/sas_token.hpp"

using namespace emu::core;

namespace {

const std::string kKey = "q0r2FvU3mVtj3m0S8JzSxn2pV8Hz1kq6Jr2yI0nUy7A=";
const std::string kKey2 = "AAECAwQFBgcICQoLDA0ODw==";

void check_error(const result<connection_string>& r, std::string_view reason_part) {
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == hub_error::argument_invalid);
  CAPTURE(r.error().message);
  CHECK(r.error().message.find(reason_part) != std::string::npos);
  CHECK(r.error().message.find(kKey) == std::string::npos);
}

}  // namespace

TEST_CASE("connection string: hub form") {
  const auto r = parse_connection_string(
      "HostName=localhost;SharedAccessKeyName=iothubowner;"
      "SharedAccessKey=" +
      kKey);
  REQUIRE(r.ok());
  CHECK(r->host_name == "localhost");
  CHECK(r->shared_access_key_name == "iothubowner");
  CHECK(r->shared_access_key == kKey);  // the trailing `=` is kept (split at the first `=`)
  CHECK(r->device_id.empty());
  CHECK_FALSE(r->is_device());
}

TEST_CASE("connection string: device form, key ending in `==`") {
  const auto r =
      parse_connection_string("HostName=localhost:15671;DeviceId=dev 1+x;SharedAccessKey=" + kKey2);
  REQUIRE(r.ok());
  CHECK(r->host_name == "localhost:15671");
  CHECK(r->device_id == "dev 1+x");  // not URL-decoded: the string carries ids verbatim
  CHECK(r->shared_access_key == kKey2);
  CHECK(r->is_device());
  CHECK(r->gateway_host_name.empty());
  CHECK(r->module_id.empty());
}

TEST_CASE("connection string: GatewayHostName and ModuleId, any order") {
  const auto r = parse_connection_string("ModuleId=mod-A;SharedAccessKey=" + kKey +
                                         ";GatewayHostName=localhost:18883;DeviceId=dev1;"
                                         "HostName=myhub.azure-devices.net");
  REQUIRE(r.ok());
  CHECK(r->host_name == "myhub.azure-devices.net");
  CHECK(r->gateway_host_name == "localhost:18883");
  CHECK(r->device_id == "dev1");
  CHECK(r->module_id == "mod-A");
}

TEST_CASE("connection string: SharedAccessSignature instead of a key") {
  const std::string token = make_sas_token("localhost/devices/dev1", kKey, "", 1700003600);
  const auto r =
      parse_connection_string("HostName=localhost;DeviceId=dev1;SharedAccessSignature=" + token);
  REQUIRE(r.ok());
  CHECK(r->shared_access_signature == token);  // the token's own `=`s survive
  CHECK(r->shared_access_key.empty());

  const std::string hub = make_sas_token("localhost", kKey, "service", 1700003600);
  const auto h = parse_connection_string(
      "HostName=localhost;SharedAccessKeyName=service;SharedAccessSignature=" + hub);
  REQUIRE(h.ok());
  CHECK(h->shared_access_signature == hub);

  check_error(
      parse_connection_string("HostName=localhost;DeviceId=dev1;SharedAccessSignature=Bearer abc"),
      "SharedAccessSignature");
  check_error(parse_connection_string("HostName=localhost;DeviceId=dev1;SharedAccessSignature="
                                      "SharedAccessSignature sr=h&sig=abc"),
              "'se'");
}

TEST_CASE("connection string: unknown keys are ignored, known keys are case-sensitive") {
  auto r = parse_connection_string("HostName=localhost;DeviceId=dev1;SharedAccessKey=" + kKey +
                                   ";UseProvisioning=true;x509=false;Foo=bar;Foo=baz;Empty=");
  REQUIRE(r.ok());
  CHECK(to_string(*r) == "HostName=localhost;DeviceId=dev1;SharedAccessKey=" + kKey);
  // `hostname` is not `HostName`: ignored, so HostName is missing.
  check_error(parse_connection_string("hostname=localhost;DeviceId=dev1;SharedAccessKey=" + kKey),
              "HostName");
}

TEST_CASE("connection string: trailing `;`, empty segments and surrounding whitespace") {
  const auto r = parse_connection_string(
      " HostName=localhost ;; DeviceId = dev1;SharedAccessKey=" + kKey + ";\n");
  REQUIRE(r.ok());
  CHECK(r->host_name == "localhost");
  CHECK(r->device_id == "dev1");
  CHECK(r->shared_access_key == kKey);
}

TEST_CASE("connection string: errors") {
  check_error(parse_connection_string(""), "HostName");
  check_error(parse_connection_string("DeviceId=dev1;SharedAccessKey=" + kKey), "HostName");
  check_error(parse_connection_string("HostName=localhost;SharedAccessKey=" + kKey),
              "neither DeviceId nor SharedAccessKeyName");
  check_error(parse_connection_string("HostName=localhost;DeviceId=dev1"),
              "neither SharedAccessKey nor SharedAccessSignature");
  check_error(parse_connection_string("HostName=localhost;DeviceId=dev1;x509=true"),
              "neither SharedAccessKey nor SharedAccessSignature");
  check_error(parse_connection_string("HostName=localhost;ModuleId=m;SharedAccessKeyName=service;"
                                      "SharedAccessKey=" +
                                      kKey),
              "ModuleId without DeviceId");
  check_error(parse_connection_string("HostName=localhost;DeviceId=dev1;DeviceId=dev2;"
                                      "SharedAccessKey=" +
                                      kKey),
              "duplicate DeviceId");
  check_error(parse_connection_string("HostName=localhost;HostName=localhost;DeviceId=dev1;"
                                      "SharedAccessKey=" +
                                      kKey),
              "duplicate HostName");
  check_error(parse_connection_string("HostName=localhost;DeviceId=dev1;SharedAccessKey=" + kKey +
                                      ";SharedAccessKey=" + kKey2),
              "duplicate SharedAccessKey");
  check_error(parse_connection_string("HostName=;DeviceId=dev1;SharedAccessKey=" + kKey),
              "empty HostName");
  check_error(parse_connection_string("HostName=localhost;DeviceId=;SharedAccessKey=" + kKey),
              "empty DeviceId");
  check_error(parse_connection_string("HostName=localhost;DeviceId=dev1;SharedAccessKey"),
              "without '='");
  check_error(parse_connection_string("HostName=localhost;DeviceId=dev1;SharedAccessKey=abc"),
              "not base64");
  check_error(parse_connection_string("HostName=localhost;DeviceId=dev1;SharedAccessKey=" +
                                      kKey.substr(0, 43)),
              "not base64");
}

TEST_CASE("connection string: to_string order and round trip") {
  connection_string cs;
  cs.shared_access_key = kKey;
  cs.module_id = "m";
  cs.device_id = "d";
  cs.gateway_host_name = "gw:1";
  cs.host_name = "h";
  CHECK(to_string(cs) ==
        "HostName=h;GatewayHostName=gw:1;DeviceId=d;ModuleId=m;SharedAccessKey=" + kKey);

  const std::string inputs[] = {
      "HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=" + kKey,
      "HostName=localhost;DeviceId=dev1;SharedAccessKey=" + kKey2,
      "HostName=h;GatewayHostName=g;DeviceId=d;ModuleId=m;SharedAccessKeyName=device;"
      "SharedAccessKey=" +
          kKey,
      "HostName=localhost;DeviceId=dev1;SharedAccessSignature=" +
          make_sas_token("localhost/devices/dev1", kKey, "", 99),
  };
  for (const auto& text : inputs) {
    CAPTURE(text);
    const auto r = parse_connection_string(text);
    REQUIRE(r.ok());
    CHECK(to_string(*r) == text);
    const auto again = parse_connection_string(to_string(*r));
    REQUIRE(again.ok());
    CHECK(to_string(*again) == text);
  }
}
