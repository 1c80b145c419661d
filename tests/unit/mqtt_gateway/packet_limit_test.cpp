// The gateway's packet size limit by session phase (issue 7): until the hub has accepted the
// CONNECT, an unauthenticated connection can make the gateway buffer at most
// max_connect_packet_size; from the CONNACK on, max_packet_size applies.
#include <doctest/doctest.h>

#include "emulator/mqtt/gateway/gateway_settings.hpp"

using namespace emu::mqtt;

TEST_CASE("before the CONNECT is accepted the CONNECT limit applies, then the packet limit") {
  gateway_settings s;
  s.max_packet_size = 512 * 1024;
  s.max_connect_packet_size = 80 * 1024;
  CHECK(packet_size_limit(s, session::phase::awaiting_connect) == 80 * 1024);
  CHECK(packet_size_limit(s, session::phase::authenticating) == 80 * 1024);
  CHECK(packet_size_limit(s, session::phase::closed) == 80 * 1024);
  CHECK(packet_size_limit(s, session::phase::connected) == 512 * 1024);
}

TEST_CASE("a packet limit below the CONNECT limit applies before the CONNECT too") {
  gateway_settings s;
  s.max_packet_size = 4096;
  s.max_connect_packet_size = 80 * 1024;
  CHECK(packet_size_limit(s, session::phase::awaiting_connect) == 4096);
  CHECK(packet_size_limit(s, session::phase::connected) == 4096);
}

TEST_CASE("the default CONNECT limit fits the largest Will a CONNECT can carry") {
  // MQTT 3.1.1 §3.1.3.3: the Will payload has a two-byte length. Add the longest device id
  // (128, spec §7) as client id and in the Will topic and user name, and a long SAS token.
  const gateway_settings s;
  const std::size_t device_id = 128;
  const std::size_t biggest_connect = 10                           // variable header
                                      + 2 + device_id              // client id
                                      + 2 + 30 + device_id + 2048  // Will topic with a bag
                                      + 2 + 65535                  // Will payload
                                      + 2 + 1024                   // user name
                                      + 2 + 1024;                  // SAS token
  CHECK(biggest_connect <= s.max_connect_packet_size);
  CHECK(s.max_connect_packet_size < s.max_packet_size);
}
