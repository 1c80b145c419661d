// A device's twin and method messages over AMQP (next-capabilities §2.5, §3.3): the requests
// the SDKs send, the answers with the value types the C SDK reads, the call uuid that carries
// the hub's call id.
#include <doctest/doctest.h>

#include <proton/codec.h>
#include <proton/message.h>
#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/message.hpp>
#include <proton/scalar.hpp>
#include <proton/symbol.hpp>
#include <proton/uuid.hpp>

#include <cstdint>
#include <span>
#include <string>

#include "emulator/amqp/device_telemetry.hpp"
#include "emulator/amqp/method_message.hpp"
#include "emulator/amqp/twin_message.hpp"

using namespace emu;
using namespace emu::amqp;

namespace {

std::vector<char> bytes_of(proton::message& m) {
  m.inferred(true);
  const auto b = encode_message(m);
  REQUIRE(b);
  return *b;
}

proton::message twin(const char* operation, const char* resource, const std::string& body) {
  proton::message m;
  m.correlation_id("c-1");
  m.message_annotations().put(proton::symbol("operation"), std::string(operation));
  if (resource != nullptr)
    m.message_annotations().put(proton::symbol("resource"), std::string(resource));
  m.body(proton::binary(body.begin(), body.end()));
  return m;
}

decoded<twin_request> decode_twin(proton::message m) {
  const auto b = bytes_of(m);
  return decode_twin_request(std::span<const char>(b));
}

proton::message decoded_back(const std::vector<char>& bytes) {
  auto dm = decode_message(std::span<const char>(bytes));
  REQUIRE(dm);
  return dm->message;
}

}  // namespace

TEST_CASE("twin requests as the Node and C SDKs send them") {
  auto get = decode_twin(twin("GET", nullptr, " "));
  REQUIRE(get);
  CHECK(get->operation == twin_operation::get);
  CHECK(message_id_to_string(get->correlation_id) == "c-1");

  auto patch = decode_twin(twin("PATCH", "/properties/reported", R"({"a":1})"));
  REQUIRE(patch);
  CHECK(patch->operation == twin_operation::patch_reported);
  CHECK(patch->patch == nlohmann::json{{"a", 1}});

  CHECK(decode_twin(twin("PUT", "/notifications/twin/properties/desired", " "))->operation ==
        twin_operation::subscribe_desired);
  CHECK(decode_twin(twin("DELETE", "/notifications/twin/properties/desired", " "))->operation ==
        twin_operation::unsubscribe_desired);
}

TEST_CASE("twin requests the hub cannot do are answered 400; unanswerable ones are refused") {
  for (const auto& m : {twin("POST", nullptr, " "), twin("PATCH", "/properties/desired", "{}"),
                        twin("PATCH", "/properties/reported", "[1]"),
                        twin("PATCH", "/properties/reported", "{bad")}) {
    const auto r = decode_twin(m);
    REQUIRE(r);
    CHECK(r->operation == twin_operation::invalid);
    CHECK_FALSE(r->problem.empty());
  }
  auto no_id = twin("GET", nullptr, " ");
  no_id.correlation_id(proton::message_id());
  const auto refused = decode_twin(no_id);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().condition == "amqp:invalid-field");

  auto value_body = twin("GET", nullptr, " ");
  value_body.body(std::string("a string"));
  const auto b = encode_message(value_body);  // not inferred: an amqp-value section
  REQUIRE(b);
  CHECK(decode_twin_request(std::span<const char>(*b)).error().condition == "amqp:decode-error");
}

TEST_CASE("a twin answer: the request's correlation-id and type, int status, long version") {
  const auto u = proton::uuid::random();
  const auto m = decoded_back(encode_twin_response(proton::message_id(u), 204, 7, ""));
  CHECK(m.correlation_id().type() == proton::UUID);
  CHECK(proton::get<proton::uuid>(m.correlation_id()) == u);
  const auto status = m.message_annotations().get(proton::symbol("status"));
  CHECK(status.type() == proton::INT);
  CHECK(proton::get<std::int32_t>(status) == 204);
  const auto version = m.message_annotations().get(proton::symbol("version"));
  CHECK(version.type() == proton::LONG);
  CHECK(proton::get<std::int64_t>(version) == 7);
  CHECK(m.body().type() == proton::BINARY);

  const auto get = decoded_back(
      encode_twin_response(proton::message_id("x"), 200, std::nullopt, R"({"desired":{}})"));
  CHECK_FALSE(get.message_annotations().exists(proton::symbol("version")));
  CHECK(proton::get<proton::binary>(get.body()) ==
        proton::binary(std::string(R"({"desired":{}})")));

  const auto note = decoded_back(encode_desired_notification(5, R"({"$version":5})"));
  CHECK(note.correlation_id().empty());  // Node tells a notification by its missing id
  CHECK(note.message_annotations().get(proton::symbol("version")).type() == proton::LONG);
}

TEST_CASE("a method call carries a uuid naming the call; the answer finds it") {
  const auto call = decoded_back(encode_method_request(42, "reboot", ""));
  REQUIRE(call.correlation_id().type() == proton::UUID);
  CHECK(call.properties().get("IoThub-methodname") == proton::value(std::string("reboot")));
  CHECK(proton::get<proton::binary>(call.body()) == proton::binary(std::string("null")));
  CHECK(message_id_to_string(call.correlation_id()) == method_call_uuid(42));

  proton::message answer;
  answer.correlation_id(call.correlation_id());
  answer.properties().put("IoThub-status", std::int32_t{201});
  answer.body(proton::binary(std::string(R"({"ok":true})")));
  auto b = bytes_of(answer);
  auto r = decode_method_response(std::span<const char>(b));
  REQUIRE(r);
  CHECK(r->call_id == 42u);
  CHECK(r->status == 201);
  CHECK(r->payload == R"({"ok":true})");

  // Node re-encodes the id as a uuid, but a string in uuid form (any case) names the call too.
  std::string upper = method_call_uuid(42);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  answer.correlation_id(upper);
  b = bytes_of(answer);
  CHECK(decode_method_response(std::span<const char>(b))->call_id == 42u);

  // Someone else's uuid names no call; the answer is still well-formed.
  answer.correlation_id(proton::uuid::random());
  b = bytes_of(answer);
  CHECK_FALSE(decode_method_response(std::span<const char>(b))->call_id.has_value());

  // Without an integer IoThub-status it is not an answer.
  answer.properties().put("IoThub-status", std::string("201"));
  b = bytes_of(answer);
  CHECK(decode_method_response(std::span<const char>(b)).error().condition == "amqp:invalid-field");
}

TEST_CASE(
    "a message whose annotation key is a string is refused, never thrown out of the decoder") {
  // AMQP 1.0 §3.2.10: annotation keys are symbols or ulongs; Proton's C++ message throws when
  // it meets another key while reading the map. Built with the C API, which does not check.
  pn_message_t* m = pn_message();
  pn_data_t* ann = pn_message_annotations(m);
  pn_data_put_map(ann);
  pn_data_enter(ann);
  pn_data_put_string(ann, pn_bytes(9, "operation"));
  pn_data_put_string(ann, pn_bytes(3, "GET"));
  pn_data_exit(ann);
  pn_data_put_string(pn_message_id(m), pn_bytes(2, "id"));
  pn_data_t* correlation = pn_message_correlation_id(m);
  pn_data_put_string(correlation, pn_bytes(2, "c1"));
  pn_data_put_binary(pn_message_body(m), pn_bytes(1, " "));
  pn_message_set_inferred(m, true);
  std::vector<char> buf(1024);
  std::size_t size = buf.size();
  REQUIRE(pn_message_encode(m, buf.data(), &size) == 0);
  pn_message_free(m);
  buf.resize(size);
  const std::span<const char> bytes(buf);

  const auto twin = decode_twin_request(bytes);
  REQUIRE_FALSE(twin);
  CHECK(twin.error().condition == "amqp:decode-error");
  CHECK_FALSE(decode_device_telemetry(bytes));
  (void)decode_method_response(bytes);  // whatever it says, it says it without throwing
}
