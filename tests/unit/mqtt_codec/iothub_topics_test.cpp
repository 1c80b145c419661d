// IoT Hub user names, C2D topics, telemetry topics and topic classification (spec §3.2-§3.7,
// sdk-wire §1.2, §1.4, §1.6).
#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "emulator/mqtt/codec/validation.hpp"
#include "emulator/mqtt/session/iothub_topics.hpp"

namespace emu::mqtt::test {
namespace {

using emu::core::ack_mode;
using emu::core::c2d_message;
using emu::core::property;
using props = std::vector<property>;

// ---- user names -------------------------------------------------------------------------------

struct username_case {
  const char* client;
  std::string text;
  std::string host;
  std::string device;
  std::string module;
  bool legacy;
  props query;
};

TEST_CASE("every user-name variant of spec §3.2 parses") {
  const username_case cases[] = {
      {"C SDK",
       "myhub.azure-devices.net/dev1/?api-version=2020-09-30&DeviceClientType=iothubclient%2F1.11."
       "0%20(native%3B%20Linux%3B%20x86_64)&model-id=dtmi%3Acom%3Aexample%3AThermostat%3B1",
       "myhub.azure-devices.net",
       "dev1",
       "",
       false,
       {{"api-version", "2020-09-30"},
        {"DeviceClientType", "iothubclient/1.11.0 (native; Linux; x86_64)"},
        {"model-id", "dtmi:com:example:Thermostat;1"}}},
      {"C SDK module",
       "myhub.azure-devices.net/dev1/mod1/?api-version=2020-09-30&DeviceClientType=iothubclient%2F"
       "1.11.0",
       "myhub.azure-devices.net",
       "dev1",
       "mod1",
       false,
       {{"api-version", "2020-09-30"}, {"DeviceClientType", "iothubclient/1.11.0"}}},
      {"C#",
       "myhub.azure-devices.net/dev1/?api-version=2020-09-30&DeviceClientType=Microsoft.Azure."
       "Devices.Client%2F1.42.0%20%28.NET%20Core%3B%20Linux%29&auth-chain=leaf%3Bedge1",
       "myhub.azure-devices.net",
       "dev1",
       "",
       false,
       {{"api-version", "2020-09-30"},
        {"DeviceClientType", "Microsoft.Azure.Devices.Client/1.42.0 (.NET Core; Linux)"},
        {"auth-chain", "leaf;edge1"}}},
      {"C# module",
       "myhub.azure-devices.net/dev1/edgeAgent/?api-version=2020-09-30&DeviceClientType=x",
       "myhub.azure-devices.net",
       "dev1",
       "edgeAgent",
       false,
       {{"api-version", "2020-09-30"}, {"DeviceClientType", "x"}}},
      // sdk-wire §1.2, byte-exact as observed.
      {"Node",
       "localhost/dev1/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4%20(node%"
       "20v20.20.2%3B%20Debian%2012%3B%20x64)",
       "localhost",
       "dev1",
       "",
       false,
       {{"api-version", "2021-04-12"},
        {"DeviceClientType", "azure-iot-device/1.18.4 (node v20.20.2; Debian 12; x64)"}}},
      {"Node with model id and a port in the host (sdk-wire §8)",
       "localhost:18883/dev1/?api-version=2021-04-12&model-id=dtmi%3Aa%3Bb&DeviceClientType=n",
       "localhost:18883",
       "dev1",
       "",
       false,
       {{"api-version", "2021-04-12"}, {"model-id", "dtmi:a;b"}, {"DeviceClientType", "n"}}},
      // Python: urllib.parse.quote(user_agent, safe="").
      {"Python",
       "myhub.azure-devices.net/dev1/?api-version=2019-10-01&DeviceClientType=azure-iot-device-"
       "iothub-py%2F2.14.0%283.11.2%3BLinux%206.1.0-18-amd64%3Bx86_64%29",
       "myhub.azure-devices.net",
       "dev1",
       "",
       false,
       {{"api-version", "2019-10-01"},
        {"DeviceClientType",
         "azure-iot-device-iothub-py/2.14.0(3.11.2;Linux 6.1.0-18-amd64;x86_64)"}}},
      {"Python PnP",
       "myhub.azure-devices.net/dev1/?api-version=2020-09-30&DeviceClientType=py&model-id=dtmi%"
       "3Acom%3Aexample%3AThermostat%3B1",
       "myhub.azure-devices.net",
       "dev1",
       "",
       false,
       {{"api-version", "2020-09-30"},
        {"DeviceClientType", "py"},
        {"model-id", "dtmi:com:example:Thermostat;1"}}},
      {"embedded C",
       "myhub.azure-devices.net/dev1/?api-version=2018-06-30&DeviceClientType=c%2F1.0.0",
       "myhub.azure-devices.net",
       "dev1",
       "",
       false,
       {{"api-version", "2018-06-30"}, {"DeviceClientType", "c/1.0.0"}}},
      {"legacy (no ?)",
       "myhub.azure-devices.net/dev1/api-version=2016-11-14&DeviceClientType=iothubclient%2F1.1.7",
       "myhub.azure-devices.net",
       "dev1",
       "",
       true,
       {{"api-version", "2016-11-14"}, {"DeviceClientType", "iothubclient/1.1.7"}}},
      {"legacy, api-version only",
       "h/dev1/api-version=2016-11-14",
       "h",
       "dev1",
       "",
       true,
       {{"api-version", "2016-11-14"}}},
      {"legacy module",
       "h/dev1/m/api-version=2016-11-14",
       "h",
       "dev1",
       "m",
       true,
       {{"api-version", "2016-11-14"}}},
      {"no query at all", "h/dev1/", "h", "dev1", "", false, {}},
      {"module, empty query", "h/dev1/m/?", "h", "dev1", "m", false, {}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.client);
    const auto r = parse_username(c.text);
    REQUIRE(r.ok());
    CHECK(r->host == c.host);
    CHECK(r->device_id == c.device);
    CHECK(r->module_id == c.module);
    CHECK(r->legacy == c.legacy);
    CHECK(r->query == c.query);
  }
}

TEST_CASE("user name: host and ids are not decoded, query is") {
  // Device ids may contain `%`, `?`, `=`, `+` (spec §7); they stay as they are.
  const auto r = parse_username("my%41hub/d%41v?x=+/?api-version=1&k%20ey=a+b%2Fc&flag&&");
  REQUIRE(r.ok());
  CHECK(r->host == "my%41hub");
  CHECK(r->device_id == "d%41v?x=+");
  CHECK(r->module_id.empty());
  CHECK(r->query == props{{"api-version", "1"}, {"k ey", "a+b/c"}, {"flag", ""}});
  CHECK(r->query_value("k ey") == "a+b/c");
  CHECK(r->query_value("flag") == "");
  CHECK_FALSE(r->query_value("missing").has_value());
}

TEST_CASE("user name: a raw `/` inside the query does not make a module") {
  const auto r = parse_username("h/dev1/?DeviceClientType=a/b/c");
  REQUIRE(r.ok());
  CHECK(r->module_id.empty());
  CHECK(r->query_value("DeviceClientType") == "a/b/c");
}

TEST_CASE("user name errors") {
  CHECK(parse_username("").error() == username_error::missing_device_id);
  CHECK(parse_username("hostonly").error() == username_error::missing_device_id);
  CHECK(parse_username("/dev1/?api-version=1").error() == username_error::empty_host);
  CHECK(parse_username("h//?api-version=1").error() == username_error::empty_device_id);
  CHECK(parse_username("h/dev1").error() == username_error::malformed);
  CHECK(parse_username("h/dev1/mod").error() == username_error::malformed);
  CHECK(parse_username("h/dev1/m/x/?a=1").error() == username_error::malformed);
  CHECK(parse_username("h/dev1/m/junk").error() == username_error::malformed);
  CHECK(parse_username("h/dev1//?api-version=1").error() == username_error::empty_module_id);
  CHECK(parse_username("h/dev1/?api-version=%G1").error() == username_error::bad_percent_escape);
  CHECK(parse_username("h/dev1/?a%=1").error() == username_error::bad_percent_escape);
  CHECK(parse_username("h/dev1/api-version=%").error() == username_error::bad_percent_escape);
  CHECK(to_string(username_error::empty_module_id) == "empty_module_id");
}

// ---- C2D topics -------------------------------------------------------------------------------

c2d_message message_for(const std::string& device) {
  c2d_message m;
  m.device_id = device;
  return m;
}

/// How C# and Node read the bag: `topic.split('/')[4]`, then decode each pair (sdk-wire §1.4).
props sdk_view_of(const std::string& topic) {
  std::vector<std::string> segments;
  std::size_t start = 0;
  while (true) {
    const auto slash = topic.find('/', start);
    segments.push_back(topic.substr(start, slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  REQUIRE(segments.size() == 5);  // no raw `/` in the bag
  CHECK(segments[2] == "messages");
  CHECK(segments[3] == "devicebound");
  const auto decoded = decode_property_bag(segments[4]);
  REQUIRE(decoded.has_value());
  return *decoded;
}

TEST_CASE("C2D topic: EXPLORER-530 shape 1 (message id, to, two app properties)") {
  auto m = message_for("nonsdkdevice");
  m.content.message_id = "f618dedc-4a8e-4a5c-a5c6-3d2f0e7b9c11";
  m.content.to = "/devices/nonsdkdevice/messages/devicebound";
  m.content.properties = {{"key1", "value1"}, {"key2", "value2"}};
  const auto topic = c2d_topic(m);
  CHECK(topic ==
        "devices/nonsdkdevice/messages/devicebound/"
        "%24.mid=f618dedc-4a8e-4a5c-a5c6-3d2f0e7b9c11&%24.to=%2Fdevices%2Fnonsdkdevice%2Fmessages%"
        "2Fdevicebound&key1=value1&key2=value2");
  CHECK(sdk_view_of(topic) == props{{"$.mid", "f618dedc-4a8e-4a5c-a5c6-3d2f0e7b9c11"},
                                    {"$.to", "/devices/nonsdkdevice/messages/devicebound"},
                                    {"key1", "value1"},
                                    {"key2", "value2"}});
  CHECK(is_valid_topic_name(topic));
  CHECK(is_valid_mqtt_utf8(topic));
}

TEST_CASE("C2D topic: EXPLORER-530 shape 2 (to with deviceBound, content type, encoding)") {
  auto m = message_for("nonsdkdevice");
  m.content.to = "/devices/nonsdkdevice/messages/deviceBound";  // case preserved
  m.content.content_type = "text/plain; charset=UTF-8";
  m.content.content_encoding = "utf-8";
  m.content.properties = {{"bbb", "bbbb"}, {"aaa", "aaaa"}};  // order preserved
  const auto topic = c2d_topic(m);
  // Byte-identical to the captured topic.
  CHECK(topic ==
        "devices/nonsdkdevice/messages/devicebound/"
        "%24.to=%2Fdevices%2Fnonsdkdevice%2Fmessages%2FdeviceBound&%24.ct=text%2Fplain%3B%"
        "20charset%3DUTF-8&%24.ce=utf-8&bbb=bbbb&aaa=aaaa");
  CHECK(sdk_view_of(topic) == props{{"$.to", "/devices/nonsdkdevice/messages/deviceBound"},
                                    {"$.ct", "text/plain; charset=UTF-8"},
                                    {"$.ce", "utf-8"},
                                    {"bbb", "bbbb"},
                                    {"aaa", "aaaa"}});
}

TEST_CASE("C2D topic: PY-TOPIC fixture (every system property, fixture order)") {
  using namespace std::chrono;
  auto m = message_for("fake_device");
  m.content.message_id = "6b822696-f75a-46f5-8b02-0680db65abf5";
  m.content.correlation_id = "fake_corid";
  m.content.to = "/devices/fake_device/messages/devicebound";
  m.content.content_type = "fake_content_type";
  m.content.content_encoding = "utf-8";
  m.content.ack = ack_mode::positive;
  m.content.absolute_expiry =
      emu::core::time_point{sys_days{year{3237} / July / 19} + 23h + 6min + 40s};
  const auto topic = c2d_topic(m);
  CHECK(topic ==
        "devices/fake_device/messages/devicebound/"
        "%24.exp=3237-07-19T23%3A06%3A40.0000000Z&%24.cid=fake_corid&%24.mid=6b822696-f75a-46f5-"
        "8b02-0680db65abf5&%24.to=%2Fdevices%2Ffake_device%2Fmessages%2Fdevicebound&%24.ct=fake_"
        "content_type&%24.ce=utf-8&iothub-ack=positive");
  const auto seen = sdk_view_of(topic);
  REQUIRE(seen.size() == 7);
  CHECK(seen[0] == property{"$.exp", "3237-07-19T23:06:40.0000000Z"});
  CHECK(seen[6] == property{"iothub-ack", "positive"});
}

TEST_CASE("C2D topic: order is $.exp,$.cid,$.mid,$.uid,$.to,$.ct,$.ce,iothub-ack,app") {
  auto m = message_for("d");
  m.content.properties = {{"z", "1"}, {"a", "2"}};
  m.content.ack = ack_mode::full;
  m.content.content_encoding = "ce";
  m.content.content_type = "ct";
  m.content.to = "to";
  m.content.user_id = "uid";
  m.content.message_id = "mid";
  m.content.correlation_id = "cid";
  m.content.absolute_expiry = emu::core::from_unix_ms(1'767'225'600'123);  // 2026-01-01
  const auto seen = sdk_view_of(c2d_topic(m));
  std::vector<std::string> keys;
  for (const auto& p : seen) keys.push_back(p.name);
  CHECK(keys == std::vector<std::string>{"$.exp", "$.cid", "$.mid", "$.uid", "$.to", "$.ct", "$.ce",
                                         "iothub-ack", "z", "a"});
  CHECK(seen[0].value == "2026-01-01T00:00:00.1230000Z");
  CHECK(seen[7].value == "full");
}

TEST_CASE("C2D topic: $.to defaults, ack none omitted, optional properties omitted") {
  const auto seen = sdk_view_of(c2d_topic(message_for("dev1")));
  CHECK(seen == props{{"$.to", "/devices/dev1/messages/devicebound"}});

  auto m = message_for("dev1");
  m.content.ack = ack_mode::negative;
  CHECK(sdk_view_of(c2d_topic(m)).back() == property{"iothub-ack", "negative"});
}

TEST_CASE("C2D topic: strict percent-encoding of keys and values") {
  auto m = message_for("dev1");
  m.content.to = "/devices/dev1/messages/devicebound";
  m.content.properties = {{"a/b", "c d+e"},    {"$x", ""},         {"k", "v&w=x"},
                          {"\xC3\xBC", "%41"}, {"t~._-", "!*'()"}, {"#", "+"}};
  const auto topic = c2d_topic(m);
  const std::string bag = topic.substr(std::string("devices/dev1/messages/devicebound/").size());
  CHECK(bag ==
        "%24.to=%2Fdevices%2Fdev1%2Fmessages%2Fdevicebound&a%2Fb=c%20d%2Be&%24x=&k=v%26w%3Dx&%C3%"
        "BC=%2541&t~._-=%21%2A%27%28%29&%23=%2B");
  CHECK(bag.find('/') == std::string::npos);
  CHECK(bag.find(' ') == std::string::npos);
  CHECK(is_valid_topic_name(topic));  // `#` and `+` are encoded too
  const auto seen = sdk_view_of(topic);
  CHECK(props(seen.begin() + 1, seen.end()) == m.content.properties);
}

TEST_CASE("c2d_subscription_filter") {
  CHECK(c2d_subscription_filter("dev1") == "devices/dev1/messages/devicebound/#");
  CHECK(is_valid_topic_filter(c2d_subscription_filter("dev1")));
}

// ---- property bags ------------------------------------------------------------------------------

TEST_CASE("property bag round trip and tolerance") {
  const props p{{"", ""}, {"a", ""}, {"=&%", "=&%"}, {"k", "v"}, {"k", "dup"}};
  const auto bag = encode_property_bag(p);
  CHECK(bag == "=&a=&%3D%26%25=%3D%26%25&k=v&k=dup");
  CHECK(decode_property_bag(bag) == p);
  CHECK(decode_property_bag("") == props{});
  CHECK(decode_property_bag("&&a&b=1&") == props{{"a", ""}, {"b", "1"}});
  CHECK(decode_property_bag("a=b=c") == props{{"a", "b=c"}});
  CHECK(decode_property_bag("a=%2b+") == props{{"a", "++"}});  // `+` stays `+`
  CHECK_FALSE(decode_property_bag("a=%").has_value());
  CHECK_FALSE(decode_property_bag("%zz=1").has_value());
}

// ---- telemetry
// ------------------------------------------------------------------------------------

TEST_CASE("telemetry: the exact topic the Node SDK sent (sdk-wire §1.6)") {
  const auto r = parse_telemetry_topic(
      "devices/dev1/messages/events/"
      "%24.mid=m-123&%24.cid=c-1&%24.ct=application%2Fjson&%24.ce=utf-8&temperatureAlert=false&a%"
      "20b=x%26y%3Dz",
      "dev1");
  REQUIRE(r.ok());
  CHECK(*r == props{{"$.mid", "m-123"},
                    {"$.cid", "c-1"},
                    {"$.ct", "application/json"},
                    {"$.ce", "utf-8"},
                    {"temperatureAlert", "false"},
                    {"a b", "x&y=z"}});
}

TEST_CASE("telemetry topic shapes (spec §3.6)") {
  CHECK(parse_telemetry_topic("devices/dev1/messages/events/", "dev1").value() == props{});
  CHECK(parse_telemetry_topic("devices/dev1/messages/events", "dev1").value() == props{});
  CHECK(parse_telemetry_topic("devices/dev1/messages/events/?", "dev1").value() == props{});
  CHECK(parse_telemetry_topic("devices/dev1/messages/events/?a=1", "dev1").value() ==
        props{{"a", "1"}});
  CHECK(parse_telemetry_topic("devices/dev1/messages/events?a=1", "dev1").value() ==
        props{{"a", "1"}});
  CHECK(parse_telemetry_topic("devices/dev1/messages/events/flag&b=", "dev1").value() ==
        props{{"flag", ""}, {"b", ""}});
  CHECK(parse_telemetry_topic("devices/dev1/messages/events/a=x+y", "dev1").value() ==
        props{{"a", "x+y"}});
  // A raw `/` in the bag is tolerated as part of a value.
  CHECK(parse_telemetry_topic("devices/dev1/messages/events/ct=a/b", "dev1").value() ==
        props{{"ct", "a/b"}});
}

TEST_CASE("telemetry topic errors") {
  CHECK(parse_telemetry_topic("devices/dev2/messages/events/", "dev1").error() ==
        topic_error::other_device);
  CHECK(parse_telemetry_topic("devices/DEV1/messages/events/", "dev1").error() ==
        topic_error::other_device);  // ids are case-sensitive
  CHECK(parse_telemetry_topic("devices/dev2", "dev1").error() == topic_error::other_device);
  CHECK(parse_telemetry_topic("devices/dev1", "dev1").error() == topic_error::not_telemetry);
  CHECK(parse_telemetry_topic("devices/dev1/messages/eventsX", "dev1").error() ==
        topic_error::not_telemetry);
  CHECK(parse_telemetry_topic("devices/dev1/messages/devicebound/", "dev1").error() ==
        topic_error::not_telemetry);
  // A device's topics are not its modules' (issue 16).
  CHECK(parse_telemetry_topic("devices/dev1/modules/m/messages/events/", "dev1").error() ==
        topic_error::other_device);
  CHECK(parse_telemetry_topic("$iothub/twin/GET/?$rid=1", "dev1").error() ==
        topic_error::not_telemetry);
  CHECK(parse_telemetry_topic("", "dev1").error() == topic_error::not_telemetry);
  CHECK(parse_telemetry_topic("devices/dev1/messages/events/a=%4", "dev1").error() ==
        topic_error::bad_percent_escape);
  CHECK(to_string(topic_error::other_device) == "other_device");
}

// ---- classification
// -------------------------------------------------------------------------------

TEST_CASE("classify_subscription") {
  struct row {
    const char* filter;
    subscription_kind kind;
  };
  const row rows[] = {
      {"devices/dev1/messages/devicebound/#", subscription_kind::c2d},
      {"$iothub/twin/res/#", subscription_kind::twin_responses},
      {"$iothub/methods/POST/#", subscription_kind::methods},
      {"$iothub/twin/PATCH/properties/desired/#", subscription_kind::twin_desired},
      {"$iothub/twin/res/+", subscription_kind::iothub_unknown},
      {"$iothub/methods/#", subscription_kind::iothub_unknown},
      {"$iothub/#", subscription_kind::iothub_unknown},
      {"devices/dev2/messages/devicebound/#", subscription_kind::other_device},
      {"devices/+/messages/devicebound/#", subscription_kind::other_device},
      {"devices/#", subscription_kind::other_device},
      {"devices/dev2", subscription_kind::other_device},
      {"devices/dev1/messages/devicebound/+", subscription_kind::unsupported},
      {"devices/dev1/messages/devicebound", subscription_kind::unsupported},
      {"devices/dev1/messages/devicebound/#/x", subscription_kind::unsupported},
      {"devices/dev1/messages/devicebound/%24.to", subscription_kind::unsupported},
      {"devices/dev1/modules/m/#", subscription_kind::other_device},
      {"devices/dev1/#", subscription_kind::unsupported},
      {"devices/dev1", subscription_kind::unsupported},
      {"#", subscription_kind::unsupported},
      {"$iothub", subscription_kind::unsupported},
      {"other/topic", subscription_kind::unsupported},
  };
  for (const auto& r : rows) {
    CAPTURE(r.filter);
    CHECK(classify_subscription(r.filter, "dev1") == r.kind);
  }
  CHECK(to_string(subscription_kind::twin_responses) == "twin_responses");
  CHECK(to_string(subscription_kind::iothub_unknown) == "iothub_unknown");
}

TEST_CASE("parse_iothub_publish: the twin and method topics the SDKs publish") {
  struct row {
    const char* topic;
    iothub_operation op;
    std::optional<std::string> rid;
    std::optional<int> status;
  };
  const row rows[] = {
      // Node/Python/C SDKs: "$iothub/twin/GET/?$rid=N"
      {"$iothub/twin/GET/?$rid=1", iothub_operation::twin_get, "1", std::nullopt},
      {"$iothub/twin/GET?$rid=abc", iothub_operation::twin_get, "abc", std::nullopt},
      {"$iothub/twin/GET/", iothub_operation::twin_get, std::nullopt, std::nullopt},
      {"$iothub/twin/GET/?$rid=a%2Fb&x=1", iothub_operation::twin_get, "a/b", std::nullopt},
      {"$iothub/twin/PATCH/properties/reported/?$rid=7&$version=3",
       iothub_operation::twin_patch_reported, "7", std::nullopt},
      {"$iothub/methods/res/200/?$rid=5", iothub_operation::method_response, "5", 200},
      {"$iothub/methods/res/404?$rid=5", iothub_operation::method_response, "5", 404},
      {"$iothub/methods/res/abc/?$rid=5", iothub_operation::method_response, "5", std::nullopt},
      {"$iothub/methods/res/2000/?$rid=5", iothub_operation::method_response, "5", std::nullopt},
      {"$iothub/methods/res/200/x/?$rid=5", iothub_operation::unknown, "5", std::nullopt},
      {"$iothub/twin/PATCH/properties/desired/?$rid=2", iothub_operation::twin_unknown, "2",
       std::nullopt},
      {"$iothub/twin/DELETE/?$rid=3", iothub_operation::twin_unknown, "3", std::nullopt},
      {"$iothub/other/thing", iothub_operation::unknown, std::nullopt, std::nullopt},
      {"$iothub/twin/GET/?$rid=%zz", iothub_operation::twin_get, std::nullopt, std::nullopt},
  };
  for (const auto& r : rows) {
    CAPTURE(r.topic);
    const auto p = parse_iothub_publish(r.topic);
    CHECK(p.operation == r.op);
    CHECK(p.rid == r.rid);
    CHECK(p.status == r.status);
  }
}

TEST_CASE("twin and method topics the hub publishes") {
  CHECK(twin_response_topic(200, "1") == "$iothub/twin/res/200/?$rid=1");
  CHECK(twin_response_topic(204, "x y", 4) == "$iothub/twin/res/204/?$rid=x%20y&$version=4");
  CHECK(desired_patch_topic(12) == "$iothub/twin/PATCH/properties/desired/?$version=12");
  CHECK(method_request_topic("reboot", "42") == "$iothub/methods/POST/reboot/?$rid=42");
}

TEST_CASE("classify_publish_topic") {
  struct row {
    const char* topic;
    publish_kind kind;
  };
  const row rows[] = {
      {"devices/dev1/messages/events/", publish_kind::telemetry},
      {"devices/dev1/messages/events", publish_kind::telemetry},
      {"devices/dev1/messages/events/%24.mid=1&a=b", publish_kind::telemetry},
      {"devices/dev1/messages/events?a=b", publish_kind::telemetry},
      {"devices/dev1/messages/events/a=%zz", publish_kind::telemetry},  // shape only
      {"$iothub/twin/GET/?$rid=1", publish_kind::iothub_feature},
      {"$iothub/methods/res/200/?$rid=1", publish_kind::iothub_feature},
      {"devices/dev2/messages/events/", publish_kind::other_device},
      {"devices/dev2", publish_kind::other_device},
      {"devices/dev1/messages/devicebound/", publish_kind::unsupported},
      {"devices/dev1/messages/eventsX", publish_kind::unsupported},
      {"devices/dev1/modules/m/messages/events/", publish_kind::other_device},
      {"devices/dev1", publish_kind::unsupported},
      {"a/b", publish_kind::unsupported},
  };
  for (const auto& r : rows) {
    CAPTURE(r.topic);
    CHECK(classify_publish_topic(r.topic, "dev1") == r.kind);
  }
  CHECK(to_string(publish_kind::telemetry) == "telemetry");
}

TEST_CASE("a module's topics (issue 16): its own below devices/{d}/modules/{m}/, nothing else") {
  auto bag = parse_telemetry_topic("devices/dev1/modules/m1/messages/events/a=b", "dev1/m1");
  REQUIRE(bag);
  REQUIRE(bag->size() == 1);
  CHECK((*bag)[0].name == "a");
  CHECK(parse_telemetry_topic("devices/dev1/modules/m1/messages/events", "dev1/m1"));
  CHECK(parse_telemetry_topic("devices/dev1/messages/events/", "dev1/m1").error() ==
        topic_error::other_device);  // its device's topic
  CHECK(parse_telemetry_topic("devices/dev1/modules/m2/messages/events/", "dev1/m1").error() ==
        topic_error::other_device);  // a sibling's
  CHECK(parse_telemetry_topic("devices/dev1/modules/m1x/messages/events/", "dev1/m1").error() ==
        topic_error::other_device);
  CHECK(parse_telemetry_topic("devices/dev2/modules/m1/messages/events/", "dev1/m1").error() ==
        topic_error::other_device);
  CHECK(parse_telemetry_topic("devices/dev1/modules/m1/messages/devicebound/", "dev1/m1").error() ==
        topic_error::not_telemetry);

  CHECK(classify_publish_topic("devices/dev1/modules/m1/messages/events/", "dev1/m1") ==
        publish_kind::telemetry);
  CHECK(classify_publish_topic("devices/dev1/messages/events/", "dev1/m1") ==
        publish_kind::other_device);
  CHECK(classify_publish_topic("devices/dev1/modules/m2/messages/events/", "dev1/m1") ==
        publish_kind::other_device);
  CHECK(classify_publish_topic("$iothub/twin/GET/?$rid=1", "dev1/m1") ==
        publish_kind::iothub_feature);

  // Inputs (IoT Edge routing) and C2D are refused without closing; the $iothub filters work.
  CHECK(classify_subscription("devices/dev1/modules/m1/inputs/#", "dev1/m1") ==
        subscription_kind::module_inputs);
  CHECK(classify_subscription("devices/dev1/modules/m1/messages/devicebound/#", "dev1/m1") ==
        subscription_kind::module_inputs);
  CHECK(classify_subscription("devices/dev1/messages/devicebound/#", "dev1/m1") ==
        subscription_kind::other_device);
  CHECK(classify_subscription("devices/dev1/modules/m2/inputs/#", "dev1/m1") ==
        subscription_kind::other_device);
  // The C SDK's module input filter (TOPIC_INPUT_QUEUE_NAME).
  CHECK(classify_subscription("devices/dev1/modules/m1/#", "dev1/m1") ==
        subscription_kind::module_inputs);
  CHECK(classify_subscription("devices/dev1/modules/m1/messages/events/#", "dev1/m1") ==
        subscription_kind::unsupported);
  CHECK(classify_subscription("$iothub/methods/POST/#", "dev1/m1") == subscription_kind::methods);
}

}  // namespace
}  // namespace emu::mqtt::test
