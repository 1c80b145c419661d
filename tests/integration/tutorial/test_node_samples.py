"""The tutorial with the Node samples (clients/node/) and the official SDK packages pinned in
tests/node: simulated_device.js (azure-iot-device + azure-iot-device-mqtt) receives what
send_c2d.js (azure-iothub) sends through a fresh emulator. The CA is trusted the only way the
service client allows, NODE_EXTRA_CA_CERTS; ephemeral ports go into GatewayHostName (device)
and HostName (service), as sdk-wire §8 describes."""
import json
import os
import re
import unittest

from tutorial_support import (EXIT_BAD_INPUT, EXIT_OK, EXIT_REJECTED, EXIT_TLS,
                              EXIT_UNAUTHORIZED, NODE_SAMPLES, WRONG_KEY, Sample,
                              TutorialTestCase, generated_certs, node_available, node_env,
                              replace_key, run, start_emulator, with_part)

DEVICE = "myDevice"
SIMULATED_DEVICE_JS = os.path.join(NODE_SAMPLES, "simulated_device.js")
SEND_C2D_JS = os.path.join(NODE_SAMPLES, "send_c2d.js")

_NODE_MISSING = node_available()


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
