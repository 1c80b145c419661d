"""The tutorial with the C++ samples (clients/): simulated-device (libmosquitto, MQTT) receives
what send-c2d (Qpid Proton, AMQP) sends through a fresh emulator, read-telemetry (Qpid Proton,
AMQP) prints the telemetry devices send, read from the Event Hubs-compatible endpoint, and all
three fail clearly when the connection string, the key or the certificate is wrong."""
import os
import re
import subprocess
import unittest

from tutorial_support import (EXIT_BAD_INPUT, EXIT_CONNECTION, EXIT_FAILURE, EXIT_OK,
                              EXIT_REJECTED, EXIT_TIMEOUT, EXIT_TLS, EXIT_UNAUTHORIZED,
                              OTHER_DEVICE, READ_TELEMETRY, SEND_C2D, SIMULATED_DEVICE,
                              TELEMETRY_DEVICE, WRONG_KEY, Sample, TlsServer, TutorialTestCase,
                              device_certs, free_port, generated_certs, parse_events, replace_key, run,
                              send_telemetry, start_emulator, start_telemetry_emulator,
                              telemetry_messages, with_part)

DEVICE = "myDevice"


def device_cmd(emu, *extra, cs=None):
    cs = cs or emu.ready["connectionStrings"]["devices"][DEVICE]
    return [SIMULATED_DEVICE, "--connection-string", cs, "--ca-file", emu.ready["caCertificate"],
            "--port", str(emu.ports["mqtt"]), *extra]


def reader_cmd(emu, *extra, cs=None):
    # The Event Hubs-compatible connection string as the emulator prints it (its Endpoint has
    # the ephemeral port).
    cs = cs or emu.ready["connectionStrings"]["eventHubsCompatible"]
    return [READ_TELEMETRY, "--connection-string", cs, "--ca-file", emu.ready["caCertificate"],
            *extra]


def sender_cmd(emu, *extra, cs=None, device=DEVICE):
    cs = cs or emu.ready["connectionStrings"]["service"]
    return [SEND_C2D, "--connection-string", cs, "--ca-file", emu.ready["caCertificate"],
            "--port", str(emu.ports["amqp"]), "--device-id", device, *extra]


class EndToEnd(TutorialTestCase):
    def test_device_receives_messages_and_sender_gets_success_feedback(self):
        emu = start_emulator(self, needs=("mqtt", "amqp"))
        device = Sample(self, device_cmd(emu, "--count", "2", "--timeout", "90"))
        device.wait_for_line(r"^Subscribed to cloud-to-device messages", 30)

        sender = Sample(self, sender_cmd(emu, "--count", "2", "--timeout", "90"))
        self.assertExit(sender.wait(120), EXIT_OK, sender.text())
        self.assertExit(device.wait(60), EXIT_OK, device.text())

        out = sender.stdout()
        self.assertIn("Authenticated as policy 'service' (CBS status 200)", out)
        ids = re.findall(r"Send outcome for (message_\d+_\w+): accepted", out)
        self.assertEqual(len(ids), 2, out)
        for message_id in ids:
            self.assertRegex(out, r"originalMessageId: %s, statusCode: Success, description: "
                                  r"Success, deviceId: %s" % (message_id, DEVICE))
        self.assertIn("Feedback received for all 2 messages: Success", out)

        got = device.stdout()
        self.assertEqual(got.count("Message received"), 2, got)
        for i, message_id in enumerate(sorted(ids)):
            self.assertIn("Properties: {'Property': 'PropMsg_%d'}" % i, got)
            self.assertIn("'messageId': '%s'" % message_id, got)
            self.assertIn("'correlationId': '%s'" % message_id.replace("message_", "correlation_"),
                          got)
        self.assertIn("'ack': 'full'", got)
        self.assertRegex(got, r"Data: <<\{\"service client sent a message\": \d+\.\d\d\}>>")
        self.assertIn("Total calls received: 2", got)

    def test_messages_wait_for_a_device_that_connects_later(self):
        # The tutorial's order is device first; a back-end that sends first works too: the hub
        # queues the message, and feedback follows once the device completes it.
        emu = start_emulator(self, needs=("mqtt", "amqp"))
        sender = Sample(self, sender_cmd(emu, "--timeout", "90"))
        sender.wait_for_line(r"waiting for delivery feedback", 60)
        # GatewayHostName=host:port: the endpoint from the connection string, no --port.
        cs = with_part(emu.ready["connectionStrings"]["devices"][DEVICE], "GatewayHostName",
                       "localhost:%d" % emu.ports["mqtt"])
        code, out, err = run(self, [SIMULATED_DEVICE, "--connection-string", cs, "--ca-file",
                                    emu.ready["caCertificate"], "--count", "1", "--timeout", "60"])
        self.assertExit(code, EXIT_OK, out + err)
        self.assertIn("Properties: {'Property': 'PropMsg_0'}", out)
        self.assertExit(sender.wait(90), EXIT_OK, sender.text())
        self.assertIn("statusCode: Success", sender.stdout())

    def test_sender_without_feedback_and_unknown_device(self):
        emu = start_emulator(self, needs=("amqp",))
        code, out, err = run(self, sender_cmd(emu, "--no-feedback", "--timeout", "60"))
        self.assertExit(code, EXIT_OK, out + err)
        self.assertIn("All 1 messages accepted (not waiting for feedback)", out)

        code, out, err = run(self, sender_cmd(emu, "--timeout", "60", device="noSuchDevice"))
        self.assertExit(code, EXIT_REJECTED, out + err)
        self.assertRegex(out, r"Send outcome for message_0_\w+: rejected \(amqp:not-found")
        self.assertIn("1 of 1 messages were not accepted", err)


class X509Device(TutorialTestCase):
    """simulated-device as an X.509 device (README "Identities"): `x509=true` in its connection
    string, --cert/--key; the device and the CA come from the config file, with certificates
    made by certs/gen.sh --device."""

    def config(self, certs):
        sha1 = subprocess.run(["openssl", "x509", "-in", os.path.join(certs, "devices",
                                                                          "x509dev-self.crt"),
                               "-noout", "-fingerprint", "-sha1"], check=True,
                              capture_output=True, text=True).stdout
        thumbprint = sha1.strip().split("=", 1)[1].replace(":", "")
        return {
            "devices": [
                {"deviceId": DEVICE, "primaryKey": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
                {"deviceId": "x509dev", "authentication": "selfSigned",
                 "primaryThumbprint": thumbprint.lower()},
                {"deviceId": "cadev", "authentication": "certificateAuthority"},
            ],
            "caCertificates": [{"name": "device-ca",
                                "file": os.path.join(certs, "device-ca.crt")}],
        }

    def test_self_signed_and_ca_signed_devices_receive_c2d(self):
        certs = device_certs()
        emu = start_emulator(self, needs=("mqtt", "amqp"), config=self.config(certs))
        strings = emu.ready["connectionStrings"]["devices"]
        self.assertEqual(strings["x509dev"],
                         "HostName=%s;DeviceId=x509dev;x509=true" % emu.ready["hostName"])
        for device, cert in (("x509dev", "x509dev-self"), ("cadev", "cadev")):
            with self.subTest(device=device):
                sample = Sample(self, device_cmd(
                    emu, "--cert", os.path.join(certs, "devices", cert + ".crt"),
                    "--key", os.path.join(certs, "devices", cert + ".key"),
                    "--count", "1", "--timeout", "60", cs=strings[device]))
                sample.wait_for_line(r"^Subscribed to cloud-to-device messages", 30)
                sender = Sample(self, sender_cmd(emu, "--count", "1", "--timeout", "60",
                                                 device=device))
                self.assertExit(sender.wait(90), EXIT_OK, sender.text())
                self.assertExit(sample.wait(60), EXIT_OK, sample.text())
                self.assertIn("Message received", sample.stdout())

    def test_wrong_certificate_is_not_authorized(self):
        certs = device_certs()
        emu = start_emulator(self, needs=("mqtt",), config=self.config(certs))
        # cadev's certificate is CA-signed with CN=cadev: it does not admit x509dev.
        code, out, err = run(self, device_cmd(
            emu, "--cert", os.path.join(certs, "devices", "cadev.crt"),
            "--key", os.path.join(certs, "devices", "cadev.key"), "--timeout", "30",
            cs=emu.ready["connectionStrings"]["devices"]["x509dev"]))
        self.assertExit(code, EXIT_UNAUTHORIZED, out + err)
        code, out, err = run(self, device_cmd(
            emu, "--timeout", "30", cs=emu.ready["connectionStrings"]["devices"]["x509dev"]))
        self.assertExit(code, EXIT_BAD_INPUT, out + err)
        self.assertIn("needs --cert and --key", err)


class Telemetry(TutorialTestCase):
    def test_reader_prints_a_devices_telemetry_from_now_and_exits_after_n_events(self):
        emu = start_telemetry_emulator(self)
        send_telemetry(emu, TELEMETRY_DEVICE, telemetry_messages("before", 1))
        reader = Sample(self, reader_cmd(emu, "--device-id", TELEMETRY_DEVICE, "--count", "3",
                                         "--timeout", "90"))
        reader.wait_for_line(r"^Reading partitions 0, 1, 2, 3 of '%s'" % emu.ready["hubName"], 60)
        send_telemetry(emu, OTHER_DEVICE, telemetry_messages("other", 1))
        sent = telemetry_messages("run", 3)
        send_telemetry(emu, TELEMETRY_DEVICE, sent)
        self.assertExit(reader.wait(60), EXIT_OK, reader.text())

        out = reader.stdout()
        self.assertIn("Authenticated as policy 'service' (CBS status 200)", out)
        self.assertIn("Start position    = now (", out)
        events = parse_events(out)
        self.assertEqual([e["message_id"] for e in events], [m[0] for m in sent], out)
        for event, (_, properties, body) in zip(events, sent):
            self.assertEqual(event["device"], TELEMETRY_DEVICE)
            self.assertEqual(event["properties"], properties)
            self.assertEqual(event["body"], body)
            self.assertRegex(event["enqueued"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        # One device, one partition, in order; the event from before the reader started and the
        # other device's are not printed.
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
        code, out, err = run(self, reader_cmd(emu, "--start", "earliest", "--count", "3",
                                              "--timeout", "60"))
        self.assertExit(code, EXIT_OK, out + err)
        events = parse_events(out)
        self.assertEqual(sorted((e["device"], e["message_id"]) for e in events),
                         sorted([(OTHER_DEVICE, "other-0"), (TELEMETRY_DEVICE, "early-0"),
                                 (TELEMETRY_DEVICE, "early-1")]), out)
        self.assertEqual(sorted(e["total"] for e in events), [1, 2, 3])

    def test_reader_times_out_without_events(self):
        emu = start_telemetry_emulator(self)
        code, out, err = run(self, reader_cmd(emu, "--count", "1", "--timeout", "2"))
        self.assertExit(code, EXIT_TIMEOUT, out + err)
        self.assertIn("timed out after 2 s with 0 of 1 events", err)


class Errors(TutorialTestCase):
    def test_wrong_device_key_is_not_authorized(self):
        emu = start_emulator(self, needs=("mqtt",))
        cs = replace_key(emu.ready["connectionStrings"]["devices"][DEVICE], WRONG_KEY)
        code, out, err = run(self, device_cmd(emu, "--count", "1", "--timeout", "30", cs=cs))
        self.assertExit(code, EXIT_UNAUTHORIZED, out + err)
        self.assertIn("CONNACK 5", err)
        self.assertIn("not authorized", err)
        self.assertNoSecret(out + err, WRONG_KEY)

    def test_wrong_service_key_is_not_authorized(self):
        emu = start_emulator(self, needs=("amqp",))
        cs = replace_key(emu.ready["connectionStrings"]["service"], WRONG_KEY)
        code, out, err = run(self, sender_cmd(emu, "--timeout", "30", cs=cs))
        self.assertExit(code, EXIT_UNAUTHORIZED, out + err)
        self.assertIn("not authorized: CBS put-token answered 401", err)
        self.assertNoSecret(out + err, WRONG_KEY)

    def test_wrong_event_hubs_key_is_not_authorized(self):
        emu = start_emulator(self, needs=("amqp",))
        cs = replace_key(emu.ready["connectionStrings"]["eventHubsCompatible"], WRONG_KEY)
        code, out, err = run(self, reader_cmd(emu, "--timeout", "30", cs=cs))
        self.assertExit(code, EXIT_UNAUTHORIZED, out + err)
        self.assertIn("not authorized: CBS put-token answered 401", err)
        self.assertNoSecret(out + err, WRONG_KEY)

    def test_reader_refusals(self):
        emu = start_emulator(self, needs=("amqp",))
        code, out, err = run(self, reader_cmd(emu, "--consumer-group", "nosuch", "--timeout",
                                              "30"))
        self.assertExit(code, EXIT_FAILURE, out + err)
        self.assertIn("amqp:not-found", err)
        self.assertIn("consumer group 'nosuch' does not exist", err)
        untrusted = os.path.join(generated_certs(), "untrusted-ca.crt")
        code, out, err = run(self, [READ_TELEMETRY, "--connection-string",
                                    emu.ready["connectionStrings"]["eventHubsCompatible"],
                                    "--ca-file", untrusted, "--timeout", "30"])
        self.assertExit(code, EXIT_TLS, out + err)
        self.assertIn("certificate verify failed", err)

    def test_device_with_untrusted_ca(self):
        emu = start_emulator(self, needs=("mqtt",))
        untrusted = os.path.join(generated_certs(), "untrusted-ca.crt")
        code, out, err = run(self, [SIMULATED_DEVICE, "--connection-string",
                                    emu.ready["connectionStrings"]["devices"][DEVICE], "--ca-file",
                                    untrusted, "--port", str(emu.ports["mqtt"]), "--count", "1",
                                    "--timeout", "30"])
        self.assertExit(code, EXIT_TLS, out + err)
        self.assertIn("certificate verify failed", err)

    def test_sender_with_untrusted_ca(self):
        emu = start_emulator(self, needs=("amqp",))
        untrusted = os.path.join(generated_certs(), "untrusted-ca.crt")
        code, out, err = run(self, [SEND_C2D, "--connection-string",
                                    emu.ready["connectionStrings"]["service"], "--ca-file",
                                    untrusted, "--port", str(emu.ports["amqp"]), "--device-id",
                                    DEVICE, "--timeout", "30"])
        self.assertExit(code, EXIT_TLS, out + err)
        self.assertIn("certificate verify failed", err)

    def test_untrusted_certificate_any_tls_server(self):
        # No front needed: openssl s_server presents a certificate from another CA.
        certs = generated_certs()
        ca = os.path.join(certs, "ca.crt")
        for binary, cs in ((SIMULATED_DEVICE, "HostName=localhost;DeviceId=d;SharedAccessKey=" +
                            WRONG_KEY),
                           (SEND_C2D, "HostName=localhost;SharedAccessKeyName=service;"
                                      "SharedAccessKey=" + WRONG_KEY)):
            with self.subTest(binary=os.path.basename(binary)):
                server = TlsServer(self, os.path.join(certs, "untrusted-server.crt"),
                                   os.path.join(certs, "untrusted-server.key"))
                cmd = [binary, "--connection-string", cs, "--ca-file", ca, "--port",
                       str(server.port), "--timeout", "30"]
                if binary == SEND_C2D:
                    cmd += ["--device-id", "d"]
                code, out, err = run(self, cmd)
                self.assertExit(code, EXIT_TLS, out + err)
                self.assertIn("certificate verify failed", err)
                server.sample.kill()

    def test_refused_connection(self):
        port = str(free_port())
        code, out, err = run(self, [SIMULATED_DEVICE, "--connection-string",
                                    "HostName=127.0.0.1;DeviceId=d;SharedAccessKey=" + WRONG_KEY,
                                    "--port", port, "--timeout", "30"])
        self.assertExit(code, EXIT_CONNECTION, out + err)
        self.assertIn("cannot connect to 127.0.0.1:%s" % port, err)
        code, out, err = run(self, [SEND_C2D, "--connection-string",
                                    "HostName=127.0.0.1;SharedAccessKeyName=service;"
                                    "SharedAccessKey=" + WRONG_KEY, "--port", port,
                                    "--device-id", "d", "--timeout", "30"])
        self.assertExit(code, EXIT_CONNECTION, out + err)
        self.assertIn("cannot connect to 127.0.0.1:%s" % port, err)
        code, out, err = run(self, [READ_TELEMETRY, "--connection-string",
                                    "Endpoint=sb://127.0.0.1:%s/;SharedAccessKeyName=service;"
                                    "SharedAccessKey=%s;EntityPath=hub" % (port, WRONG_KEY),
                                    "--timeout", "30"])
        self.assertExit(code, EXIT_CONNECTION, out + err)
        self.assertIn("cannot connect to 127.0.0.1:%s" % port, err)

    def test_malformed_connection_strings(self):
        device_cases = {
            "garbage": "no 'Name=value' form",
            "DeviceId=d;SharedAccessKey=" + WRONG_KEY: "HostName is missing",
            "HostName=h;SharedAccessKey=" + WRONG_KEY: "DeviceId is missing",
            "HostName=h;SharedAccessKeyName=service;SharedAccessKey=" + WRONG_KEY:
                "this looks like a hub/service connection string",
            "HostName=h;DeviceId=d": "SharedAccessKey is missing",
            "HostName=h;DeviceId=d;SharedAccessKey=not*base64": "SharedAccessKey is not base64",
            "HostName=h:notaport;DeviceId=d;SharedAccessKey=" + WRONG_KEY: "bad port",
        }
        for cs, problem in device_cases.items():
            with self.subTest(device=cs):
                code, out, err = run(self, [SIMULATED_DEVICE, "--connection-string", cs])
                self.assertExit(code, EXIT_BAD_INPUT, out + err)
                self.assertIn("bad device connection string", err)
                self.assertIn(problem, err)
                self.assertNoSecret(out + err, WRONG_KEY)
        service_cases = {
            "HostName=h;DeviceId=d;SharedAccessKey=" + WRONG_KEY:
                "this looks like a device connection string",
            "HostName=h;SharedAccessKeyName=service": "SharedAccessKey is missing",
            ";;": "HostName is missing",
        }
        for cs, problem in service_cases.items():
            with self.subTest(service=cs):
                code, out, err = run(self, [SEND_C2D, "--connection-string", cs, "--device-id",
                                            "d"])
                self.assertExit(code, EXIT_BAD_INPUT, out + err)
                self.assertIn("bad hub connection string", err)
                self.assertIn(problem, err)
                self.assertNoSecret(out + err, WRONG_KEY)
        event_hubs_cases = {
            "HostName=h;SharedAccessKeyName=service;SharedAccessKey=" + WRONG_KEY:
                "this looks like an IoT Hub connection string",
            "Endpoint=sb://h/;SharedAccessKeyName=service;SharedAccessKey=" + WRONG_KEY:
                "EntityPath is missing",
            "Endpoint=sb://h/;SharedAccessKeyName=service;EntityPath=hub":
                "SharedAccessKey is missing",
            "Endpoint=sb://h:notaport/;SharedAccessKeyName=service;SharedAccessKey=%s;"
            "EntityPath=hub" % WRONG_KEY: "bad port",
        }
        for cs, problem in event_hubs_cases.items():
            with self.subTest(event_hubs=cs):
                code, out, err = run(self, [READ_TELEMETRY, "--connection-string", cs])
                self.assertExit(code, EXIT_BAD_INPUT, out + err)
                self.assertIn("bad Event Hubs-compatible connection string", err)
                self.assertIn(problem, err)
                self.assertNoSecret(out + err, WRONG_KEY)

    def test_missing_settings(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("IOTHUB_")}
        sample = Sample(self, [SIMULATED_DEVICE], env=env)
        self.assertExit(sample.wait(30), EXIT_BAD_INPUT, sample.text())
        self.assertIn("IOTHUB_DEVICE_CONNECTION_STRING", sample.stderr())
        sample = Sample(self, [SEND_C2D, "--device-id", "d"], env=env)
        self.assertExit(sample.wait(30), EXIT_BAD_INPUT, sample.text())
        self.assertIn("IOTHUB_CONNECTION_STRING", sample.stderr())
        sample = Sample(self, [SEND_C2D, "--connection-string",
                               "HostName=h;SharedAccessKeyName=s;SharedAccessKey=" + WRONG_KEY],
                        env=env)
        self.assertExit(sample.wait(30), EXIT_BAD_INPUT, sample.text())
        self.assertIn("no device id", sample.stderr())
        sample = Sample(self, [READ_TELEMETRY], env=env)
        self.assertExit(sample.wait(30), EXIT_BAD_INPUT, sample.text())
        self.assertIn("EVENTHUB_CONNECTION_STRING", sample.stderr())
        sample = Sample(self, [READ_TELEMETRY, "--connection-string",
                               "Endpoint=sb://h/;SharedAccessKeyName=s;SharedAccessKey=%s;"
                               "EntityPath=hub" % WRONG_KEY, "--start", "yesterday"], env=env)
        self.assertExit(sample.wait(30), EXIT_BAD_INPUT, sample.text())
        self.assertIn("must be now, earliest, latest or an ISO 8601 time", sample.stderr())
        sample = Sample(self, [SIMULATED_DEVICE, "--ca-file", "/nonexistent/ca.crt",
                               "--connection-string",
                               "HostName=h;DeviceId=d;SharedAccessKey=" + WRONG_KEY], env=env)
        self.assertExit(sample.wait(30), EXIT_BAD_INPUT, sample.text())
        self.assertIn("cannot read '/nonexistent/ca.crt'", sample.stderr())


if __name__ == "__main__":
    unittest.main()
