// SASL PLAIN response parsing and the legacy C client's user name (sdk-wire §7).
#include <doctest/doctest.h>

#include <string>

#include "emulator/amqp/sasl_authenticator.hpp"

using namespace emu::amqp;
using namespace std::string_literals;

TEST_CASE("parse_plain_response: [authzid] NUL authcid NUL passwd") {
  auto r = parse_plain_response("\0iothubowner@sas.root.emuhub\0SharedAccessSignature sr=x"s);
  REQUIRE(r);
  CHECK(r->authzid.empty());
  CHECK(r->authcid == "iothubowner@sas.root.emuhub");
  CHECK(r->password == "SharedAccessSignature sr=x");
  auto z = parse_plain_response("zid\0user\0pw"s);
  REQUIRE(z);
  CHECK(z->authzid == "zid");
  CHECK(z->authcid == "user");
  CHECK(z->password == "pw");
  CHECK(parse_plain_response("\0user\0"s));  // empty password: parsed, the hub refuses it
  CHECK_FALSE(parse_plain_response("user"));
  CHECK_FALSE(parse_plain_response("\0user"s));
  CHECK_FALSE(parse_plain_response("\0\0pw"s));      // empty authcid
  CHECK_FALSE(parse_plain_response("a\0b\0c\0d"s));  // three NULs
  CHECK_FALSE(parse_plain_response(""));
}

TEST_CASE("parse_service_user: {policy}@sas.root.{hubName}") {
  auto u = parse_service_user("iothubowner@sas.root.emuhub");
  REQUIRE(u);
  CHECK(u->policy == "iothubowner");
  CHECK(u->hub == "emuhub");
  CHECK(parse_service_user("service@SAS.ROOT.emuhub"));
  CHECK_FALSE(parse_service_user("dev1@sas.emuhub"));  // a device user name
  CHECK_FALSE(parse_service_user("@sas.root.emuhub"));
  CHECK_FALSE(parse_service_user("iothubowner@sas.root."));
  CHECK_FALSE(parse_service_user("iothubowner"));
}

TEST_CASE("parse_device_user: {deviceId}@sas.{hubName}, the last @sas. splits") {
  auto u = parse_device_user("dev1@sas.emuhub");
  REQUIRE(u);
  CHECK(u->device_id == "dev1");
  CHECK(u->hub == "emuhub");
  auto at = parse_device_user("a@b@SAS.emuhub");  // `@` may be in a device id
  REQUIRE(at);
  CHECK(at->device_id == "a@b");
  CHECK_FALSE(parse_device_user("iothubowner@sas.root.emuhub"));  // a service user
  CHECK_FALSE(parse_device_user("@sas.emuhub"));
  CHECK_FALSE(parse_device_user("dev1@sas."));
  CHECK_FALSE(parse_device_user("dev1"));
}

TEST_CASE("names_this_hub: the hub name or the host's first label, any case") {
  const auto one = [](std::string name) { return emu::core::host_names{std::move(name), {}}; };
  CHECK(names_this_hub("emuhub", "emuhub", one("localhost")));
  CHECK(names_this_hub("EmuHub", "emuhub", one("localhost")));
  CHECK(names_this_hub("emuhub", "other", one("emuhub.localhost")));
  CHECK(names_this_hub("localhost", "emulator", one("localhost:5671")));
  CHECK_FALSE(names_this_hub("other", "emuhub", one("emuhub.localhost")));
  CHECK_FALSE(names_this_hub("", "emuhub", one(".x")));
  // Every name of the hub lends its first label: 127.0.0.1 → "127" (the C SDK's hub name).
  const emu::core::host_names both{"127.0.0.1", {"localhost", "hub.internal"}};
  CHECK(names_this_hub("127", "localhost", both));
  CHECK(names_this_hub("HUB", "localhost", both));
  CHECK(names_this_hub("localhost", "emulator", both));
  CHECK_FALSE(names_this_hub("128", "localhost", both));
}
