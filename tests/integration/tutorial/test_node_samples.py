"""The tutorial with the Node samples (clients/node/) and the official SDK packages pinned in
tests/node: simulated_device.js (azure-iot-device + azure-iot-device-mqtt) receives what
send_c2d.js (azure-iothub) sends through a fresh emulator, and read_telemetry.js
(@azure/event-hubs) prints the telemetry devices send, read from the Event Hubs-compatible
endpoint. The CA is trusted the only way the service client allows, NODE_EXTRA_CA_CERTS;
ephemeral ports go into GatewayHostName (device) and HostName (service), as sdk-wire §8
describes; the Event Hubs-compatible connection string is used as the emulator prints it."""
import json
import os
import re
import unittest

from tutorial_support import (EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, EXIT_REJECTED, EXIT_TIMEOUT,
                              EXIT_TLS, EXIT_UNAUTHORIZED, NODE_SAMPLES, OTHER_DEVICE,
                              TELEMETRY_DEVICE, WRONG_KEY, Sample, TutorialTestCase,
                              generated_certs, node_available, node_env, parse_events,
                              replace_key, run, send_telemetry, start_emulator,
                              start_telemetry_emulator, telemetry_messages, with_part)

DEVICE = "myDevice"
SIMULATED_DEVICE_JS = os.path.join(NODE_SAMPLES, "simulated_device.js")
SEND_C2D_JS = os.path.join(NODE_SAMPLES, "send_c2d.js")
READ_TELEMETRY_JS = os.path.join(NODE_SAMPLES, "read_telemetry.js")

_NODE_MISSING = node_available()
_EVENT_HUBS_MISSING = node_available(("@azure/event-hubs",))


def device_env(emu, ca=None, cs=None, **extra):
    cs = cs or emu.ready["connectionStrings"]["devices"][DEVICE]
    return node_env({
        "IOTHUB_DEVICE_CONNECTION_STRING": with_part(cs, "GatewayHostName",
                                                     "localhost:%d" % emu.ports["mqtt"]),
        "NODE_EXTRA_CA_CERTS": ca or emu.ready["caCertificate"],
        **extra})


def service_env(emu, ca=None, cs=None, device=DEVICE, **extra):
    cs = cs or emu.ready["connectionStrings"]["service"]
    host = re.search(r"HostName=([^;:]*)", cs).group(1)
    return node_env({
        "IOTHUB_CONNECTION_STRING": cs.replace("HostName=" + host,
                                               "HostName=%s:%d" % (host, emu.ports["amqp"])),
        "IOTHUB_DEVICE_ID": device,
        "NODE_EXTRA_CA_CERTS": ca or emu.ready["caCertificate"],
        **extra})


def reader_env(emu, ca=None, cs=None, **extra):
    return node_env({
        "EVENTHUB_CONNECTION_STRING": cs or emu.ready["connectionStrings"]["eventHubsCompatible"],
        "NODE_EXTRA_CA_CERTS": ca or emu.ready["caCertificate"],
        **extra})


@unittest.skipIf(_NODE_MISSING is not None, _NODE_MISSING or "")
class EndToEnd(TutorialTestCase):
    def test_device_receives_messages_and_sender_gets_success_feedback(self):
        emu = start_emulator(self, needs=("mqtt", "amqp"))
        device = Sample(self, ["node", SIMULATED_DEVICE_JS],
                        env=device_env(emu, IOTHUB_MESSAGE_COUNT="2",
                                       IOTHUB_TIMEOUT_SECONDS="90"))
        device.wait_for_line(r"IoTHubDeviceClient waiting for commands", 60)

        sender = Sample(self, ["node", SEND_C2D_JS],
                        env=service_env(emu, IOTHUB_MESSAGE_COUNT="2",
                                        IOTHUB_TIMEOUT_SECONDS="90"))
        self.assertExit(sender.wait(120), EXIT_OK, sender.text())
        self.assertExit(device.wait(60), EXIT_OK, device.text())

        out = sender.stdout()
        self.assertIn("Service client connected", out)
        ids = re.findall(r"Send outcome for (message_\d+_\w+): MessageEnqueued", out)
        self.assertEqual(len(ids), 2, out)
        for message_id in ids:
            self.assertRegex(out, r"originalMessageId: %s, statusCode: Success, description: "
                                  r"Success, deviceId: %s" % (message_id, DEVICE))
        self.assertIn("Feedback received for all 2 messages: Success", out)

        got = device.stdout()
        self.assertEqual(got.count("Message received"), 2, got)
        properties = [json.loads(m) for m in re.findall(r"Properties: (\{.*\})", got)]
        system = [json.loads(m) for m in re.findall(r"System properties: (\{.*\})", got)]
        for i, message_id in enumerate(sorted(ids)):
            # The Node SDK keeps iothub-ack among the properties (sdk-wire §1.4).
            self.assertIn({"iothub-ack": "full", "Property": "PropMsg_%d" % i}, properties)
            self.assertIn({"messageId": message_id,
                           "correlationId": message_id.replace("message_", "correlation_")},
                          system)
        self.assertRegex(got, r'Data: <<\{"service client sent a message":\d+(\.\d+)?\}>>')
        self.assertIn("Total calls received: 2", got)

    def test_unknown_device_is_rejected(self):
        emu = start_emulator(self, needs=("amqp",))
        code, out, err = run(self, ["node", SEND_C2D_JS],
                             env=service_env(emu, device="noSuchDevice",
                                             IOTHUB_TIMEOUT_SECONDS="60"))
        self.assertExit(code, EXIT_REJECTED, out + err)
        self.assertIn("DeviceNotFoundError", out)


@unittest.skipIf(_EVENT_HUBS_MISSING is not None, _EVENT_HUBS_MISSING or "")
class Telemetry(TutorialTestCase):
    def test_reader_prints_a_devices_telemetry_from_now_and_exits_after_n_events(self):
        emu = start_telemetry_emulator(self)
        send_telemetry(emu, TELEMETRY_DEVICE, telemetry_messages("before", 1))
        reader = Sample(self, ["node", READ_TELEMETRY_JS],
                        env=reader_env(emu, IOTHUB_DEVICE_ID=TELEMETRY_DEVICE,
                                       IOTHUB_MESSAGE_COUNT="3", IOTHUB_TIMEOUT_SECONDS="90"))
        reader.wait_for_line(r"^Reading partitions 0, 1, 2, 3 of '%s'" % emu.ready["hubName"], 60)
        send_telemetry(emu, OTHER_DEVICE, telemetry_messages("other", 1))
        sent = telemetry_messages("run", 3)
        send_telemetry(emu, TELEMETRY_DEVICE, sent)
        self.assertExit(reader.wait(60), EXIT_OK, reader.text())

        out = reader.stdout()
        self.assertIn("Start position    = now (", out)
        events = parse_events(out)
        self.assertEqual([e["message_id"] for e in events], [m[0] for m in sent], out)
        for event, (_, properties, body) in zip(events, sent):
            self.assertEqual(event["device"], TELEMETRY_DEVICE)
            self.assertEqual(event["properties"], properties)
            # The body as the device sent it (not parsed as JSON and printed again).
            self.assertEqual(event["body"], body)
            self.assertRegex(event["enqueued"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(len({e["partition"] for e in events}), 1, out)
        first = events[0]["sequence"]
        self.assertEqual([e["sequence"] for e in events], [first, first + 1, first + 2])
        self.assertEqual([e["total"] for e in events], [1, 2, 3])
        self.assertNotIn("before-0", out)
        self.assertNotIn(OTHER_DEVICE, out)

    def test_reader_from_earliest_reads_every_device(self):
        emu = start_telemetry_emulator(self)
        send_telemetry(emu, TELEMETRY_DEVICE, telemetry_messages("early", 2))
        send_telemetry(emu, OTHER_DEVICE, telemetry_messages("other", 1))
        code, out, err = run(self, ["node", READ_TELEMETRY_JS],
                             env=reader_env(emu, EVENTHUB_START_POSITION="earliest",
                                            IOTHUB_MESSAGE_COUNT="3",
                                            IOTHUB_TIMEOUT_SECONDS="60"))
        self.assertExit(code, EXIT_OK, out + err)
        events = parse_events(out)
        self.assertEqual(sorted((e["device"], e["message_id"]) for e in events),
                         sorted([(OTHER_DEVICE, "other-0"), (TELEMETRY_DEVICE, "early-0"),
                                 (TELEMETRY_DEVICE, "early-1")]), out)

    def test_reader_times_out_without_events(self):
        emu = start_telemetry_emulator(self)
        code, out, err = run(self, ["node", READ_TELEMETRY_JS],
                             env=reader_env(emu, IOTHUB_MESSAGE_COUNT="1",
                                            IOTHUB_TIMEOUT_SECONDS="3"))
        self.assertExit(code, EXIT_TIMEOUT, out + err)
        self.assertIn("timed out after 3 s with 0 of 1 events", err)

    def test_wrong_key_is_not_authorized(self):
        emu = start_emulator(self, needs=("amqp",))
        cs = replace_key(emu.ready["connectionStrings"]["eventHubsCompatible"], WRONG_KEY)
        code, out, err = run(self, ["node", READ_TELEMETRY_JS],
                             env=reader_env(emu, cs=cs, IOTHUB_TIMEOUT_SECONDS="30"))
        self.assertExit(code, EXIT_UNAUTHORIZED, out + err)
        self.assertIn("could not connect", err)
        self.assertIn("signature does not match", err)
        self.assertNoSecret(out + err, WRONG_KEY)

    def test_refusals(self):
        emu = start_emulator(self, needs=("amqp",))
        code, out, err = run(self, ["node", READ_TELEMETRY_JS],
                             env=reader_env(emu, EVENTHUB_CONSUMER_GROUP="nosuch",
                                            IOTHUB_TIMEOUT_SECONDS="30"))
        self.assertExit(code, EXIT_FAILURE, out + err)
        self.assertIn("consumer group 'nosuch' does not exist", err)
        untrusted = os.path.join(generated_certs(), "untrusted-ca.crt")
        code, out, err = run(self, ["node", READ_TELEMETRY_JS],
                             env=reader_env(emu, ca=untrusted, IOTHUB_TIMEOUT_SECONDS="30"))
        self.assertExit(code, EXIT_TLS, out + err)
        self.assertIn("NODE_EXTRA_CA_CERTS", err)

    def test_malformed_settings(self):
        cases = (
            ({"EVENTHUB_CONNECTION_STRING": ""}, "EVENTHUB_CONNECTION_STRING is not set"),
            ({"EVENTHUB_CONNECTION_STRING": "HostName=h;SharedAccessKeyName=service;"
                                            "SharedAccessKey=" + WRONG_KEY},
             "this looks like an IoT Hub connection string"),
            ({"EVENTHUB_CONNECTION_STRING": "Endpoint=sb://h/;SharedAccessKeyName=service;"
                                            "SharedAccessKey=" + WRONG_KEY},
             "EntityPath is missing"),
            ({"EVENTHUB_CONNECTION_STRING": "Endpoint=sb://h/;SharedAccessKeyName=s;"
                                            "SharedAccessKey=%s;EntityPath=hub" % WRONG_KEY,
              "EVENTHUB_START_POSITION": "yesterday"},
             "must be now, earliest, latest or an ISO 8601 time"),
        )
        for env, problem in cases:
            with self.subTest(env=env):
                code, out, err = run(self, ["node", READ_TELEMETRY_JS], env=node_env(env),
                                     timeout=30)
                self.assertExit(code, EXIT_BAD_INPUT, out + err)
                self.assertIn(problem, err)
                self.assertNoSecret(out + err, WRONG_KEY)


@unittest.skipIf(_NODE_MISSING is not None, _NODE_MISSING or "")
class Errors(TutorialTestCase):
    def test_wrong_device_key_is_not_authorized(self):
        emu = start_emulator(self, needs=("mqtt",))
        cs = replace_key(emu.ready["connectionStrings"]["devices"][DEVICE], WRONG_KEY)
        code, out, err = run(self, ["node", SIMULATED_DEVICE_JS],
                             env=device_env(emu, cs=cs, IOTHUB_MESSAGE_COUNT="1",
                                            IOTHUB_TIMEOUT_SECONDS="30"))
        self.assertExit(code, EXIT_UNAUTHORIZED, out + err)
        self.assertIn("Not authorized", err)
        self.assertNoSecret(out + err, WRONG_KEY)

    def test_wrong_service_key_is_not_authorized(self):
        emu = start_emulator(self, needs=("amqp",))
        cs = replace_key(emu.ready["connectionStrings"]["service"], WRONG_KEY)
        code, out, err = run(self, ["node", SEND_C2D_JS],
                             env=service_env(emu, cs=cs, IOTHUB_TIMEOUT_SECONDS="30"))
        self.assertExit(code, EXIT_UNAUTHORIZED, out + err)
        self.assertIn("could not connect", err)
        self.assertNoSecret(out + err, WRONG_KEY)

    def test_device_with_untrusted_ca(self):
        emu = start_emulator(self, needs=("mqtt",))
        untrusted = os.path.join(generated_certs(), "untrusted-ca.crt")
        code, out, err = run(self, ["node", SIMULATED_DEVICE_JS],
                             env=device_env(emu, ca=untrusted, IOTHUB_MESSAGE_COUNT="1",
                                            IOTHUB_TIMEOUT_SECONDS="30"))
        self.assertExit(code, EXIT_TLS, out + err)
        self.assertIn("NODE_EXTRA_CA_CERTS", err)

    def test_sender_with_untrusted_ca(self):
        emu = start_emulator(self, needs=("amqp",))
        untrusted = os.path.join(generated_certs(), "untrusted-ca.crt")
        code, out, err = run(self, ["node", SEND_C2D_JS],
                             env=service_env(emu, ca=untrusted, IOTHUB_TIMEOUT_SECONDS="30"))
        self.assertExit(code, EXIT_TLS, out + err)
        self.assertIn("NODE_EXTRA_CA_CERTS", err)

    def test_malformed_connection_strings(self):
        cases = (
            (SIMULATED_DEVICE_JS, {"IOTHUB_DEVICE_CONNECTION_STRING":
                                   "HostName=h;SharedAccessKey=" + WRONG_KEY}, "DeviceId"),
            (SIMULATED_DEVICE_JS, {"IOTHUB_DEVICE_CONNECTION_STRING": "garbage"}, "HostName"),
            (SEND_C2D_JS, {"IOTHUB_CONNECTION_STRING": "HostName=h;SharedAccessKey=" + WRONG_KEY,
                           "IOTHUB_DEVICE_ID": "d"}, "SharedAccessKeyName"),
            (SEND_C2D_JS, {"IOTHUB_CONNECTION_STRING": "", "IOTHUB_DEVICE_ID": "d"},
             "IOTHUB_CONNECTION_STRING is not set"),
        )
        for script, env, problem in cases:
            with self.subTest(script=os.path.basename(script), env=env):
                code, out, err = run(self, ["node", script], env=node_env(env), timeout=30)
                self.assertExit(code, EXIT_BAD_INPUT, out + err)
                self.assertIn(problem, err)
                self.assertNoSecret(out + err, WRONG_KEY)


if __name__ == "__main__":
    unittest.main()
