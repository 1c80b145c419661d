// CBS put-token requests and replies (spec §4.2, sdk-wire §2.3).
#include <doctest/doctest.h>

#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/scalar.hpp>
#include <proton/uuid.hpp>

#include "emulator/amqp/cbs_node.hpp"
#include "emulator/amqp/message_codec.hpp"

using namespace emu::amqp;

namespace {

proton::message node_request() {
  proton::message m;
  m.id(proton::message_id("4f4c6a1e-0000-4000-8000-000000000001"));
  m.to("$cbs");
  m.reply_to("cbs");
  m.properties().put("operation", "put-token");
  m.properties().put("type", "servicebus.windows.net:sastoken");
  m.properties().put("name", "emuhub.localhost");
  m.body(std::string("SharedAccessSignature sr=emuhub.localhost&sig=x&se=1&skn=iothubowner"));
  return m;
}

proton::message round_trip(const proton::message& m) {
  const auto bytes = m.encode();
  auto d = decode_message(std::span<const char>(bytes.data(), bytes.size()));
  REQUIRE(d.ok());
  return d->message;
}

}  // namespace

TEST_CASE("a Node put-token request parses") {
  auto r = parse_put_token(round_trip(node_request()));
  REQUIRE(r.ok());
  const auto& req = *r;
  CHECK(req.reply_to == "cbs");
  CHECK(req.audience == "emuhub.localhost");
  CHECK(req.token.rfind("SharedAccessSignature ", 0) == 0);
  CHECK(req.id.type() == proton::STRING);
}

TEST_CASE("C# token type is accepted; other operations and types get 400") {
  auto m = node_request();
  m.properties().put("type", "azure-devices.net:sastoken");
  CHECK(parse_put_token(round_trip(m)).ok());
  m.properties().put("type", "jwt");
  auto r = parse_put_token(round_trip(m));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == 400);
  m = node_request();
  m.properties().put("operation", "delete-token");
  CHECK_FALSE(parse_put_token(round_trip(m)).ok());
  m = node_request();
  m.body(proton::value());
  CHECK_FALSE(parse_put_token(round_trip(m)).ok());
}

TEST_CASE("replies echo the request id in its own AMQP type with an int status-code") {
  const proton::message_id ids[] = {proton::message_id(std::uint64_t{7}),
                                    proton::message_id(std::string("abc")),
                                    proton::message_id(proton::uuid::random())};
  for (const auto& id : ids) {
    const proton::message reply = round_trip(make_cbs_reply(id, "cbs-reply", 200, "OK"));
    CHECK(reply.correlation_id().type() == id.type());
    CHECK(reply.correlation_id() == id);
    CHECK(reply.to() == "cbs-reply");
    const proton::scalar code = reply.properties().get("status-code");
    CHECK(code.type() == proton::INT);
    CHECK(proton::get<std::int32_t>(code) == 200);
    CHECK(proton::get<std::string>(reply.properties().get("status-description")) == "OK");
  }
}
