// Direct methods in the core (next-capabilities §3): reachability, the two timeouts, answers
// matched by $rid and device, and the session-kept $iothub filters.
#include <doctest/doctest.h>

#include <vector>

#include "test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;

namespace {

template <class T>
std::vector<T> events_of(const std::vector<hub_event>& events) {
  std::vector<T> out;
  for (const auto& e : events)
    if (const auto* x = std::get_if<T>(&e)) out.push_back(*x);
  return out;
}

method_call call(std::string name, int response_s = 30, int connect_s = 0) {
  method_call c;
  c.name = std::move(name);
  c.payload = R"({"a":1})";
  c.response_timeout = std::chrono::seconds{response_s};
  c.connect_timeout = std::chrono::seconds{connect_s};
  return c;
}

}  // namespace

TEST_CASE("an unknown device is 404001; offline or unsubscribed is 404103 at once") {
  fixture f;
  CHECK(f.h.invoke_method("nobody", call("m"), f.now).error().code == hub_error::device_not_found);
  CHECK(f.h.invoke_method("dev1", call("m"), f.now).error().code == hub_error::device_not_online);
  // Connected but not subscribed to methods: not reachable either (UNCONFIRMED choice).
  (void)f.connect();
  CHECK_FALSE(f.h.methods_reachable("dev1"));
  const auto r = f.h.invoke_method("dev1", call("m"), f.now);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == hub_error::device_not_online);
  CHECK(error_number(r.error().code) == 404103);
}

TEST_CASE("a subscribed device gets the request; its answer ends the call") {
  fixture f;
  const auto g = f.connect();
  REQUIRE(f.h.set_iothub_topics("dev1", g.epoch, iothub_topic::methods, f.now).ok());
  CHECK(f.h.methods_reachable("dev1"));
  const auto id = f.h.invoke_method("dev1", call("reboot"), f.now);
  REQUIRE(id.ok());
  const auto requests = events_of<event::method_request>(f.h.take_events());
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].device_id == "dev1");
  CHECK(requests[0].epoch == g.epoch);
  CHECK(requests[0].call_id == *id);
  CHECK(requests[0].name == "reboot");
  CHECK(requests[0].payload == R"({"a":1})");

  // Another device cannot answer it, an unknown rid is dropped.
  CHECK_FALSE(f.h.answer_method("dev2", g.epoch, std::to_string(*id), 200, "{}"));
  CHECK_FALSE(f.h.answer_method("dev1", g.epoch, "999", 200, "{}"));
  CHECK_FALSE(f.h.answer_method("dev1", g.epoch, "x1", 200, "{}"));
  CHECK(f.h.answer_method("dev1", g.epoch, std::to_string(*id), 201, R"({"ok":true})"));
  const auto results = events_of<event::method_result>(f.h.take_events());
  REQUIRE(results.size() == 1);
  CHECK(results[0].call_id == *id);
  CHECK_FALSE(results[0].failure);
  CHECK(results[0].status == 201);
  CHECK(results[0].payload == R"({"ok":true})");
  // Answered once: a second answer finds nothing.
  CHECK_FALSE(f.h.answer_method("dev1", g.epoch, std::to_string(*id), 200, "{}"));
  // Method calls are not durable: no change was recorded for them.
  CHECK(f.h.take_changes().empty());
}

TEST_CASE("no answer: 504101 half a second before the caller's timeout, driven by the clock") {
  fixture f;
  const auto g = f.connect();
  REQUIRE(f.h.set_iothub_topics("dev1", g.epoch, iothub_topic::methods, f.now).ok());
  const auto id = *f.h.invoke_method("dev1", call("slow", 5), f.now);
  (void)f.h.take_events();
  REQUIRE(f.h.next_deadline());
  CHECK(*f.h.next_deadline() == f.now + std::chrono::milliseconds{4500});
  f.tick(std::chrono::milliseconds{4499});
  CHECK(events_of<event::method_result>(f.h.take_events()).empty());
  f.tick(std::chrono::milliseconds{1});
  const auto results = events_of<event::method_result>(f.h.take_events());
  REQUIRE(results.size() == 1);
  CHECK(results[0].call_id == id);
  REQUIRE(results[0].failure);
  CHECK(results[0].failure->code == hub_error::gateway_timeout);
  CHECK(error_number(results[0].failure->code) == 504101);
  CHECK_FALSE(f.h.answer_method("dev1", g.epoch, std::to_string(id), 200, "{}"));
  CHECK_FALSE(f.h.next_deadline());
}

TEST_CASE("connect timeout: the call waits for the device to subscribe, else 404103") {
  fixture f;
  const auto waiting = *f.h.invoke_method("dev1", call("late", 10, 20), f.now);
  CHECK(events_of<event::method_request>(f.h.take_events()).empty());
  f.tick(std::chrono::seconds{5});
  const auto g = f.connect();
  REQUIRE(f.h.set_iothub_topics("dev1", g.epoch, iothub_topic::methods, f.now).ok());
  const auto requests = events_of<event::method_request>(f.h.take_events());
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].call_id == waiting);

  fixture other;
  const auto lost = *other.h.invoke_method("dev1", call("never", 10, 20), other.now);
  other.tick(std::chrono::seconds{20});
  const auto results = events_of<event::method_result>(other.h.take_events());
  REQUIRE(results.size() == 1);
  CHECK(results[0].call_id == lost);
  CHECK(results[0].failure->code == hub_error::device_not_online);
}

TEST_CASE("$iothub filters: kept for a clean-session-0 reconnect, dropped by clean session 1") {
  fixture f;
  auto g = f.connect(false);
  const std::uint8_t all =
      iothub_topic::twin_responses | iothub_topic::twin_desired | iothub_topic::methods;
  REQUIRE(f.h.set_iothub_topics("dev1", g.epoch, all, f.now).ok());
  f.h.disconnect_device("dev1", g.epoch, f.now);
  CHECK_FALSE(f.h.methods_reachable("dev1"));  // its session ended
  g = f.connect(false);
  CHECK(g.iothub_topics == all);
  CHECK(f.h.methods_reachable("dev1"));  // reachable again without a new SUBSCRIBE
  g = f.connect(true);
  CHECK(g.iothub_topics == 0);
  CHECK_FALSE(f.h.methods_reachable("dev1"));
  // A stale session cannot change them.
  CHECK_FALSE(f.h.set_iothub_topics("dev1", g.epoch + 1, all, f.now).ok());
}

TEST_CASE("deleting the device or resetting the hub ends its calls") {
  fixture f;
  const auto id = *f.h.invoke_method("dev1", call("m", 10, 30), f.now);
  REQUIRE(f.h.delete_device("dev1", "*", f.now).ok());
  const auto results = events_of<event::method_result>(f.h.take_events());
  REQUIRE(results.size() == 1);
  CHECK(results[0].call_id == id);
  CHECK(results[0].failure->code == hub_error::device_not_found);
}
