#pragma once
// Hand-written, byte-annotated encodings of every MQTT 3.1.1 packet type with the value each
// must decode to. Shared by the fixture, round-trip and streaming tests.
#include <string>
#include <vector>

#include "tests/unit/mqtt_codec/test_bytes.hpp"

namespace emu::mqtt::test {

struct fixture {
  std::string name;
  bytes wire;
  packet value;
};

// sdk-wire §1.2: the Node SDK's user name for device `dev1`, HostName `localhost`.
inline const std::string node_username =
    "localhost/dev1/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4%20(node%"
    "20v20.20.2%3B%20Debian%2012%3B%20x64)";
// sdk-wire §1.3 shape (sr, sig, se; no skn for a device key).
inline const std::string node_password =
    "SharedAccessSignature sr=localhost%2Fdevices%2Fdev1&sig=Vx6Z3bWvQHkFtS2kq4lA0nq3mYy8ZpL%"
    "2BcYbq9vXn0kQ%3D&se=1700003600";

inline std::vector<fixture> all_fixtures() {
  std::vector<fixture> f;

  // CONNECT as the Node SDK sends it (sdk-wire §1.1, §1.2): clean 0, keep-alive 180.
  f.push_back({"connect (Node SDK)",
               bytes{
                   0x10,        // CONNECT, flags 0000
                   0x89, 0x02,  // remaining length 265 = 0x09 + 0x02 * 128
                   0x00, 0x04,  // protocol name length 4
               } + str("MQTT") +
                   bytes{
                       0x04,        // protocol level 4 (3.1.1)
                       0xC0,        // flags: user name, password; no will; clean session 0
                       0x00, 0xB4,  // keep alive 180 s
                       0x00, 0x04,  // client id length 4
                   } +
                   str("dev1") +
                   bytes{
                       0x00, 0x7F,  // user name length 127
                   } +
                   str(node_username) +
                   bytes{
                       0x00, 0x76,  // password length 118
                   } +
                   str(node_password),
               connect{"MQTT", 4, false, 180, "dev1", std::nullopt, node_username, node_password}});

  // CONNECT with a Will (QoS 1, retain), a user name and no password, clean session 1.
  f.push_back(
      {"connect (will)",
       bytes{
           0x10,        // CONNECT
           0x1B,        // remaining length 27
           0x00, 0x04,  // "MQTT"
           'M', 'Q', 'T', 'T',
           0x04,                       // level 4
           0xAE,                       // user name 0x80 | will retain 0x20 | will QoS 1 0x08 |
                                       // will 0x04 | clean session 0x02
           0x00, 0x3C,                 // keep alive 60 s
           0x00, 0x02, 'c', '1',       // client id "c1"
           0x00, 0x03, 'w', '/', 't',  // will topic "w/t"
           0x00, 0x03, 'b', 'y', 'e',  // will message "bye"
           0x00, 0x01, 'u',            // user name "u"
       },
       connect{"MQTT", 4, true, 60, "c1",
               will_message{"w/t", "bye", qos_level::at_least_once, true}, "u", std::nullopt}});

  // Smallest CONNECT: clean session, empty client id (allowed with clean session 1,
  // MQTT-3.1.3-7), no keep-alive.
  f.push_back({"connect (minimal)",
               bytes{
                   0x10, 0x0C,                      // CONNECT, remaining length 12
                   0x00, 0x04, 'M', 'Q', 'T', 'T',  // protocol name
                   0x04,                            // level 4
                   0x02,                            // clean session
                   0x00, 0x00,                      // keep alive 0
                   0x00, 0x00,                      // client id ""
               },
               connect{"MQTT", 4, true, 0, "", std::nullopt, std::nullopt, std::nullopt}});

  f.push_back({"connack accepted",
               bytes{
                   0x20, 0x02,  // CONNACK, remaining length 2
                   0x00,        // acknowledge flags: session present 0
                   0x00,        // return code 0 accepted
               },
               connack{false, connect_return_code::accepted}});
  f.push_back({"connack session present",
               bytes{0x20, 0x02,
                     0x01,   // session present 1
                     0x00},  // accepted
               connack{true, connect_return_code::accepted}});
  f.push_back({"connack not authorized",
               bytes{0x20, 0x02,
                     0x00,   // session present 0 (MQTT-3.2.2-4)
                     0x05},  // 5 not authorized: IoT Hub's only refusal (spec §3.3)
               connack{false, connect_return_code::not_authorized}});

  // Telemetry at QoS 0: no packet id on the wire.
  f.push_back(
      {"publish qos0",
       bytes{
           0x30,        // PUBLISH, DUP 0, QoS 0, RETAIN 0
           0x21,        // remaining length 33
           0x00, 0x1D,  // topic length 29
       } + str("devices/dev1/messages/events/") +
           str("{}"),  // payload: the rest of the packet
       publish{false, qos_level::at_most_once, false, "devices/dev1/messages/events/", 0, "{}"}});
  f.push_back({"publish qos1 dup retain",
               bytes{
                   0x3B,           // PUBLISH, DUP 1 (0x08), QoS 1 (0x02), RETAIN 1 (0x01)
                   0x09,           // remaining length 9
                   0x00, 0x03,     // topic length 3
                   'a', '/', 'b',  // topic "a/b"
                   0x12, 0x34,     // packet id 0x1234
                   'h', 'i',       // payload "hi"
               },
               publish{true, qos_level::at_least_once, true, "a/b", 0x1234, "hi"}});
  f.push_back({"publish qos2 empty payload",
               bytes{
                   0x34,        // PUBLISH, QoS 2 (0x04)
                   0x05,        // remaining length 5
                   0x00, 0x01,  // topic length 1
                   'q',         // topic "q"
                   0x00, 0x01,  // packet id 1
                                // empty payload
               },
               publish{false, qos_level::exactly_once, false, "q", 1, ""}});

  f.push_back({"puback",
               bytes{0x40, 0x02,   // PUBACK, remaining length 2
                     0x12, 0x34},  // packet id 0x1234
               puback{0x1234}});
  f.push_back({"pubrec",
               bytes{0x50, 0x02,   // PUBREC, remaining length 2
                     0x00, 0x07},  // packet id 7
               pubrec{7}});
  f.push_back({"pubrel",
               bytes{0x62, 0x02,   // PUBREL, flags 0010 (MQTT-3.6.1-1), remaining length 2
                     0x00, 0x07},  // packet id 7
               pubrel{7}});
  f.push_back({"pubcomp",
               bytes{0x70, 0x02,   // PUBCOMP, remaining length 2
                     0x00, 0x07},  // packet id 7
               pubcomp{7}});

  // The C2D subscription every SDK sends (sdk-wire §1.4).
  f.push_back(
      {"subscribe (C2D)",
       bytes{
           0x82,        // SUBSCRIBE, flags 0010 (MQTT-3.8.1-1)
           0x28,        // remaining length 40
           0x4A, 0x21,  // packet id 0x4A21
           0x00, 0x23,  // filter length 35
       } + str("devices/dev1/messages/devicebound/#") +
           bytes{0x01},  // requested QoS 1
       subscribe{0x4A21, {{"devices/dev1/messages/devicebound/#", qos_level::at_least_once}}}});
  f.push_back({"subscribe (two filters)",
               bytes{
                   0x82, 0x1F,  // SUBSCRIBE, remaining length 31
                   0x00, 0x02,  // packet id 2
                   0x00, 0x12,  // filter length 18
               } + str("$iothub/twin/res/#") +
                   bytes{
                       0x00,                     // requested QoS 0
                       0x00, 0x05,               // filter length 5
                       'a', '/', '+', '/', 'c',  // "a/+/c"
                       0x02,                     // requested QoS 2
                   },
               subscribe{2,
                         {{"$iothub/twin/res/#", qos_level::at_most_once},
                          {"a/+/c", qos_level::exactly_once}}}});

  f.push_back({"suback",
               bytes{0x90, 0x03,  // SUBACK, remaining length 3
                     0x4A, 0x21,  // packet id 0x4A21
                     0x01},       // granted QoS 1
               suback{0x4A21, {suback_return_code::granted_qos1}}});
  f.push_back({"suback (failure)",
               bytes{0x90, 0x04,  // SUBACK, remaining length 4
                     0x00, 0x02,  // packet id 2
                     0x80,        // failure (MQTT 3.9.3)
                     0x00},       // granted QoS 0
               suback{2, {suback_return_code::failure, suback_return_code::granted_qos0}}});

  f.push_back({"unsubscribe",
               bytes{
                   0xA2, 0x0A,                 // UNSUBSCRIBE, flags 0010 (MQTT-3.10.1-1), length 10
                   0x00, 0x03,                 // packet id 3
                   0x00, 0x03, 'a', '/', '+',  // filter "a/+"
                   0x00, 0x01, '#',            // filter "#"
               },
               unsubscribe{3, {"a/+", "#"}}});
  f.push_back({"unsuback",
               bytes{0xB0, 0x02,   // UNSUBACK, remaining length 2
                     0x00, 0x03},  // packet id 3
               unsuback{3}});

  f.push_back({"pingreq", bytes{0xC0, 0x00}, pingreq{}});        // PINGREQ, length 0
  f.push_back({"pingresp", bytes{0xD0, 0x00}, pingresp{}});      // PINGRESP, length 0
  f.push_back({"disconnect", bytes{0xE0, 0x00}, disconnect{}});  // DISCONNECT, length 0
  return f;
}

}  // namespace emu::mqtt::test
