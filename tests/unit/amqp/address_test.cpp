// Link addresses and C2D `to` paths (spec §4.1, §4.3; sdk-wire §7, §8 "Addresses").
#include <doctest/doctest.h>

#include "emulator/amqp/address.hpp"

using namespace emu::amqp;

TEST_CASE("normalize_address strips scheme, authority, query and trailing slash") {
  CHECK(normalize_address("/messages/devicebound") == "/messages/devicebound");
  CHECK(normalize_address("/messages/deviceBound") == "/messages/devicebound");
  CHECK(normalize_address("amqps://hub.localhost/messages/deviceBound") == "/messages/devicebound");
  CHECK(normalize_address("AMQPS://hub.localhost:5671/Messages/ServiceBound/Feedback/") ==
        "/messages/servicebound/feedback");
  CHECK(normalize_address("amqp://h:1/$cbs") == "/$cbs");
  CHECK(normalize_address("/messages/devicebound?api-version=2021-04-12") ==
        "/messages/devicebound");
  CHECK(normalize_address("amqps://hostonly") == "");
  CHECK(normalize_address("") == "");
}

TEST_CASE("classify_address recognises the Event Hubs nodes (next-capabilities §1.4, §1.5, §1.7)") {
  CHECK(classify_address("$management", "myhub") == node_kind::management);
  CHECK(classify_address("myhub/$management", "myhub") == node_kind::management);
  CHECK(classify_address("/MyHub/$management", "myhub") == node_kind::management);
  CHECK(classify_address("otherhub/$management", "myhub") == node_kind::unknown);
  CHECK(classify_address("/messages/events/$management", "myhub") == node_kind::events_redirect);
  CHECK(classify_address("messages/events/ConsumerGroups/$Default/Partitions/0", "myhub") ==
        node_kind::events_redirect);
  CHECK(classify_address("/messages/eventsx", "myhub") == node_kind::unknown);
  CHECK(classify_address("myhub/ConsumerGroups/$Default/Partitions/0", "myhub") ==
        node_kind::event_hub_partition);
  CHECK(classify_address("amqps://localhost:5671/MYHUB/consumergroups/$default/partitions/3",
                         "myhub") == node_kind::event_hub_partition);
  CHECK(classify_address("myhub/ConsumerGroups/$Default/Partitions", "myhub") ==
        node_kind::unknown);
  CHECK(classify_address("otherhub/ConsumerGroups/$Default/Partitions/0", "myhub") ==
        node_kind::unknown);
}

TEST_CASE("parse_partition_address keeps the consumer group and partition as sent") {
  const auto a = parse_partition_address("/myHub/ConsumerGroups/Analytics/Partitions/12", "myhub");
  REQUIRE(a);
  CHECK(a->consumer_group == "Analytics");
  CHECK(a->partition_id == "12");
  CHECK_FALSE(parse_partition_address("myhub/ConsumerGroups//Partitions/1", "myhub"));
  CHECK_FALSE(parse_partition_address("myhub/ConsumerGroups/x/Partitions/", "myhub"));
  CHECK_FALSE(parse_partition_address("myhub/ConsumerGroups/x/Partitions/1/extra", "myhub"));
}

TEST_CASE("classify_address recognises the three nodes in every SDK spelling") {
  CHECK(classify_address("$cbs", "myhub") == node_kind::cbs);
  CHECK(classify_address("$CBS", "myhub") == node_kind::cbs);
  CHECK(classify_address("cbs", "myhub") == node_kind::unknown);
  // Node (sdk-wire §2.4), legacy C (§7), C# (spec §4.1)
  CHECK(classify_address("/messages/devicebound", "myhub") == node_kind::c2d);
  CHECK(classify_address("amqps://emuhub.localhost/messages/deviceBound", "myhub") ==
        node_kind::c2d);
  CHECK(classify_address("amqps://emuhub.localhost:5671/messages/deviceBound", "myhub") ==
        node_kind::c2d);
  CHECK(classify_address("/messages/serviceBound/feedback", "myhub") == node_kind::feedback);
  CHECK(classify_address("amqps://emuhub.localhost/messages/servicebound/feedback", "myhub") ==
        node_kind::feedback);
  CHECK(classify_address("/messages/events", "myhub") == node_kind::events_redirect);
  CHECK(classify_address("/messages/devicebound/x", "myhub") == node_kind::unknown);
  CHECK(classify_address("", "myhub") == node_kind::unknown);
}

TEST_CASE("c2d_target_device: the device id of `to`, percent-decoded, + kept") {
  CHECK(c2d_target_device("/devices/dev1/messages/devicebound") == "dev1");
  CHECK(c2d_target_device("/devices/dev1/messages/deviceBound") == "dev1");  // C SDK, C#
  CHECK(c2d_target_device("amqps://h:5671/devices/Dev1/messages/devicebound") == "Dev1");
  CHECK(c2d_target_device("/devices/dev%201/messages/devicebound") == "dev 1");  // Node encodes
  CHECK(c2d_target_device("/devices/a+b/messages/devicebound") == "a+b");
  CHECK(c2d_target_device("/devices/a%2Bb/messages/devicebound") == "a+b");
  CHECK(c2d_target_device("/devices/a%2Fb/messages/devicebound") == "a/b");
  CHECK_FALSE(c2d_target_device("/devices//messages/devicebound"));
  CHECK_FALSE(c2d_target_device("/devices/a/b/messages/devicebound"));
  CHECK_FALSE(c2d_target_device("/devices/a%zz/messages/devicebound"));
  CHECK_FALSE(c2d_target_device("/devices/a/messages/events"));
  CHECK_FALSE(c2d_target_device("devices/a/messages/devicebound"));
  CHECK_FALSE(c2d_target_device(""));
}

TEST_CASE("parse_device_address: a device's own links, id kept as sent") {
  const auto events = parse_device_address("/devices/Dev1/messages/events");
  REQUIRE(events);
  CHECK(events->device_id == "Dev1");
  CHECK(events->kind == device_link_kind::telemetry);
  CHECK(parse_device_address("amqps://h:5671/devices/d/messages/Events/")->device_id == "d");
  CHECK(parse_device_address("devices/d%2B1/messages/events")->device_id == "d+1");
  CHECK(parse_device_address("/devices/d/messages/deviceBound")->kind == device_link_kind::c2d);
  CHECK(parse_device_address("/devices/d/twin")->kind == device_link_kind::twin);
  CHECK(parse_device_address("/devices/d/methods/devicebound")->kind == device_link_kind::methods);
  CHECK_FALSE(parse_device_address("/devices//messages/events"));
  CHECK_FALSE(parse_device_address("/devices/d/messages"));
  CHECK_FALSE(parse_device_address("/devices/d/messages/events/x"));
  CHECK_FALSE(parse_device_address("/devices/d%zz/messages/events"));
  CHECK_FALSE(parse_device_address("/messages/events"));
  CHECK(classify_address("/devices/d/messages/events", "myhub") == node_kind::device);
  CHECK(classify_address("/devices/d/twin", "myhub") == node_kind::device);
}
