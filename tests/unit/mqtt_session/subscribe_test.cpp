// SUBSCRIBE / UNSUBSCRIBE rules (spec §3.4, §3.5, §1.6): only the device's C2D filter,
// `$iothub/…` refused with 0x80, anything else closes; the subscription is the hub's (it holds
// the delivery credit), durable there only with clean session 0.
#include <doctest/doctest.h>

#include <algorithm>

#include "tests/unit/mqtt_session/session_harness.hpp"

using namespace emu;
using namespace emu::mqtt;
using namespace emu::mqtt::testing;

TEST_CASE("the subscription goes to the hub before SUBACK (so no PUBLISH can precede it)") {
  for (const bool clean : {false, true}) {
    CAPTURE(clean);
    harness h;
    (void)h.connected(make_connect("dev1", clean));
    const auto out = h.in(make_subscribe(3, {{c2d_filter, qos_level::at_least_once}}));
    const auto stores = only<action::store_subscription>(out);
    REQUIRE(stores.size() == 1);
    CHECK(stores[0].qos == 1);
    CHECK(sent(out).empty());

    const auto stored = h.s->on_subscription_stored(true, h.now);
    const auto acks = sent_of<suback>(stored);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].packet_id == 3);
    CHECK(acks[0].return_codes == std::vector{suback_return_code::granted_qos1});
  }
}

TEST_CASE("a failed subscription commit closes the connection") {
  harness h;
  (void)h.connected(make_connect("dev1", false));
  (void)h.in(make_subscribe(3, {{c2d_filter, qos_level::at_least_once}}));
  const auto out = h.s->on_subscription_stored(false, h.now);
  CHECK(sent(out).empty());
  CHECK(closed_with(out) == close_reason::store_failed);
}

TEST_CASE("subscribing again at the same QoS asks nothing of the hub: SUBACK at once") {
  harness h;
  (void)h.subscribed();
  const auto out = h.in(make_subscribe(3, {{c2d_filter, qos_level::at_least_once}}));
  CHECK_FALSE(has<action::store_subscription>(out));
  REQUIRE(sent_of<suback>(out).size() == 1);
}

TEST_CASE("granted QoS: 0 stays 0, 2 is granted as 1 (spec §3.4)") {
  {
    harness h;
    (void)h.connected(make_connect("dev1", true));
    const auto out = h.sub(make_subscribe(1, {{c2d_filter, qos_level::exactly_once}}));
    CHECK(sent_of<suback>(out)[0].return_codes == std::vector{suback_return_code::granted_qos1});
    CHECK(h.s->subscription_qos() == 1);
  }
  {
    harness h;
    (void)h.connected(make_connect("dev1", true));
    const auto out = h.sub(make_subscribe(1, {{c2d_filter, qos_level::at_most_once}}));
    CHECK(sent_of<suback>(out)[0].return_codes == std::vector{suback_return_code::granted_qos0});
    CHECK(h.s->subscription_qos() == 0);
  }
}

TEST_CASE(
    "the twin and method filters are granted; other $iothub filters get 0x80, the connection "
    "stays") {
  harness h;
  (void)h.connected(make_connect("dev1", true));
  const auto out =
      h.sub(make_subscribe(9, {{"$iothub/twin/res/#", qos_level::at_most_once},
                               {c2d_filter, qos_level::at_least_once},
                               {"$iothub/methods/POST/#", qos_level::at_least_once},
                               {"$iothub/twin/PATCH/properties/desired/#", qos_level::exactly_once},
                               {"$iothub/#", qos_level::at_least_once}}));
  CHECK_FALSE(has<action::close>(out));
  REQUIRE(sent_of<suback>(out).size() == 1);
  CHECK(sent_of<suback>(out)[0].return_codes ==
        std::vector{suback_return_code::granted_qos0, suback_return_code::granted_qos1,
                    suback_return_code::granted_qos1, suback_return_code::granted_qos1,
                    suback_return_code::failure});
  CHECK(h.s->twin_responses_subscribed());
  CHECK(h.s->desired_subscribed());
  CHECK(h.s->methods_subscribed());
  // The hub learns of the new filters once, before the SUBACK goes out.
  REQUIRE(only<action::store_iothub_topics>(out).size() == 1);
  CHECK(only<action::store_iothub_topics>(out)[0].topics == 7);
  const auto stored_at = std::find_if(out.begin(), out.end(), [](const session_action& a) {
    return std::holds_alternative<action::store_iothub_topics>(a);
  });
  const auto suback_at = std::find_if(out.begin(), out.end(), [](const session_action& a) {
    const auto* s = std::get_if<action::send>(&a);
    return s != nullptr && std::holds_alternative<suback>(s->value);
  });
  CHECK(stored_at < suback_at);

  const auto again =
      h.sub(make_subscribe(10, {{"$iothub/methods/POST/#", qos_level::at_most_once}}));
  CHECK_FALSE(has<action::store_iothub_topics>(again));

  const auto un = h.sub(unsubscribe{11, {"$iothub/methods/POST/#", "$iothub/twin/res/#"}});
  REQUIRE(only<action::store_iothub_topics>(un).size() == 1);
  CHECK(only<action::store_iothub_topics>(un)[0].topics == 2);
  CHECK_FALSE(h.s->methods_subscribed());
  CHECK_FALSE(h.s->twin_responses_subscribed());
  CHECK(h.s->desired_subscribed());
  CHECK(sent_of<unsuback>(un).size() == 1);
}

TEST_CASE("a persistent session starts with its stored $iothub filters; a clean one without") {
  {
    harness h;
    (void)h.open();
    REQUIRE(has<action::authenticate>(h.in(make_connect("dev1", false))));
    auto r = h.accepted();
    r.stored_iothub_topics = 3;
    const auto out = h.s->on_auth_result(r, h.now);
    REQUIRE(sent_of<connack>(out).size() == 1);
    CHECK(sent_of<connack>(out)[0].session_present);
    CHECK(h.s->twin_responses_subscribed());
    CHECK(h.s->desired_subscribed());
    CHECK_FALSE(h.s->methods_subscribed());
  }
  {
    harness h;
    (void)h.open();
    REQUIRE(has<action::authenticate>(h.in(make_connect("dev1", true))));
    auto r = h.accepted();
    r.stored_iothub_topics = 3;
    const auto out = h.s->on_auth_result(r, h.now);
    CHECK_FALSE(sent_of<connack>(out)[0].session_present);
    CHECK_FALSE(h.s->twin_responses_subscribed());
  }
}

TEST_CASE("a module's inputs/# and devicebound filters are refused with 0x80, the connection stays") {
  harness h;
  auto c = make_connect("dev1/mod1", true);
  c.username = "localhost/dev1/mod1/?api-version=2021-04-12";
  (void)h.connected(std::move(c));
  const auto out = h.in(make_subscribe(
      1, {{"devices/dev1/modules/mod1/inputs/#", qos_level::at_least_once},
          {"devices/dev1/modules/mod1/messages/devicebound/#", qos_level::at_least_once}}));
  CHECK_FALSE(has<action::close>(out));
  const auto acks = sent_of<suback>(out);
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].return_codes ==
        std::vector<suback_return_code>{suback_return_code::failure, suback_return_code::failure});
}

TEST_CASE("subscribing to another device's or an unsupported filter closes the connection") {
  for (const std::string filter :
       {"devices/dev2/messages/devicebound/#", "devices/+/messages/devicebound/#", "#",
        "devices/dev1/messages/devicebound/+", "devices/dev1/messages/devicebound",
        "devices/dev1/messages/events/#", "devices/dev1/modules/m1/#", "a/b"}) {
    CAPTURE(filter);
    harness h;
    (void)h.connected(make_connect("dev1", true));
    const auto out = h.in(make_subscribe(1, {{filter, qos_level::at_least_once}}));
    CHECK(sent(out).empty());
    CHECK(closed_with(out) == close_reason::forbidden_topic);
  }
}

TEST_CASE("at most five topic filters at a time (spec §3.4)") {
  std::vector<std::pair<std::string, qos_level>> five(
      5, {"$iothub/twin/res/#", qos_level::at_most_once});
  {
    harness h;
    (void)h.connected(make_connect("dev1", true));
    CHECK_FALSE(has<action::close>(h.in(make_subscribe(1, five))));
  }
  {
    auto six = five;
    six.emplace_back(c2d_filter, qos_level::at_least_once);
    harness h;
    (void)h.connected(make_connect("dev1", true));
    CHECK(closed_with(h.in(make_subscribe(1, six))) == close_reason::too_many_subscriptions);
  }
}

TEST_CASE("UNSUBSCRIBE of the C2D filter removes the subscription on the hub (delivery stops)") {
  harness h;
  (void)h.connected(make_connect("dev1", false), 1);  // resumed session, QoS 1
  unsubscribe u;
  u.packet_id = 4;
  u.filters = {c2d_filter};
  const auto out = h.in(u);
  const auto stores = only<action::store_subscription>(out);
  REQUIRE(stores.size() == 1);
  CHECK_FALSE(stores[0].qos.has_value());
  CHECK(sent(out).empty());
  const auto stored = h.s->on_subscription_stored(true, h.now);
  REQUIRE(sent_of<unsuback>(stored).size() == 1);
  CHECK(sent_of<unsuback>(stored)[0].packet_id == 4);
  CHECK_FALSE(h.s->subscription_qos().has_value());
}

TEST_CASE("UNSUBSCRIBE of an unknown filter is still acknowledged; another device's closes") {
  {
    harness h;
    (void)h.connected(make_connect("dev1", true));
    unsubscribe u;
    u.packet_id = 2;
    u.filters = {"a/b"};
    CHECK(sent_of<unsuback>(h.in(u)).size() == 1);
  }
  {
    harness h;
    (void)h.connected(make_connect("dev1", true));
    unsubscribe u;
    u.packet_id = 2;
    u.filters = {"devices/dev2/messages/devicebound/#"};
    CHECK(closed_with(h.in(u)) == close_reason::forbidden_topic);
  }
}

TEST_CASE("SUBACKs keep request order when some wait for a commit") {
  harness h;
  (void)h.connected(make_connect("dev1", false));
  const auto first = h.in(make_subscribe(1, {{c2d_filter, qos_level::at_least_once}}));
  CHECK(has<action::store_subscription>(first));
  // Only $iothub: nothing to store, but it must not overtake the first SUBACK.
  CHECK(sent(h.in(make_subscribe(2, {{"$iothub/twin/res/#", qos_level::at_most_once}}))).empty());
  const auto out = h.s->on_subscription_stored(true, h.now);
  const auto acks = sent_of<suback>(out);
  REQUIRE(acks.size() == 2);
  CHECK(acks[0].packet_id == 1);
  CHECK(acks[1].packet_id == 2);
}
