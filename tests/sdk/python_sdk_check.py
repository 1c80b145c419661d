"""The Azure IoT Python device SDK (azure-iot-device, from source) against a running emulator,
driven by tests/sdk/python-sdk.sh: C2D, telemetry, SAS renewal, twins and direct methods over
MQTT (and MQTT over WebSockets), with nothing but the printed connection string and the CA.

The service side uses what Azure offers a back-end: C2D over AMQP (python3-qpid-proton, SASL
PLAIN with a service token) and the twin/method REST API. Prints one line per check."""
import base64
import hashlib
import hmac
import http.client
import json
import ssl
import sys
import threading
import time
import urllib.parse

from azure.iot.device import IoTHubDeviceClient, MethodResponse
from proton import Message, SSLDomain
from proton.utils import BlockingConnection

ready = json.load(open(sys.argv[1]))
CA = ready["caCertificate"]
HOST = ready["hostName"]
DEVICE_CS = ready["connectionStrings"]["devices"]["myDevice"]
OWNER_KEY = dict(p.split("=", 1) for p in ready["connectionStrings"]["iothubowner"].split(";"))[
    "SharedAccessKey"]
API = "?api-version=2021-04-12"
results = []


def check(name, ok, detail=""):
    results.append((name, ok, detail))
    print("  %-52s %s%s" % (name, "pass" if ok else "FAIL", " (%s)" % detail if detail else ""),
          flush=True)


def owner_token(ttl=3600):
    se = int(time.time()) + ttl
    sr = urllib.parse.quote(HOST, safe="")
    sig = base64.b64encode(hmac.new(base64.b64decode(OWNER_KEY), ("%s\n%d" % (sr, se)).encode(),
                                    hashlib.sha256).digest()).decode()
    return "SharedAccessSignature sr=%s&sig=%s&se=%d&skn=iothubowner" % (
        sr, urllib.parse.quote(sig, safe=""), se)


def rest(method, path, body=None):
    ctx = ssl.create_default_context(cafile=CA)
    conn = http.client.HTTPSConnection(HOST, 443, context=ctx, timeout=60)
    conn.request(method, path + API, body=json.dumps(body) if body is not None else None,
                 headers={"Authorization": owner_token(), "Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    return r.status, (json.loads(data) if data else None)


def send_c2d(text):
    domain = SSLDomain(SSLDomain.MODE_CLIENT)
    domain.set_trusted_ca_db(CA)
    domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME)
    conn = BlockingConnection("amqps://%s:5671" % HOST, ssl_domain=domain,
                              user="iothubowner@sas.root.%s" % ready["hubName"],
                              password=owner_token(), allowed_mechs="PLAIN", timeout=30)
    try:
        sender = conn.create_sender("/messages/devicebound")
        sender.send(Message(address="/devices/myDevice/messages/devicebound",
                            body=text.encode(), inferred=True,
                            properties={"from": "python-sdk.sh"}))
    finally:
        conn.close()


def run(websockets):
    transport = "MQTT over WebSockets" if websockets else "MQTT"
    print("%s:" % transport, flush=True)
    # A short token: the SDK renews it 120 s before it expires, i.e. after 30 s here.
    client = IoTHubDeviceClient.create_from_connection_string(
        DEVICE_CS, server_verification_cert=open(CA).read(), websockets=websockets,
        sastoken_ttl=150)
    received = []
    got = threading.Event()

    def on_message(m):
        received.append(m)
        got.set()

    methods = []

    def on_method(req):
        methods.append(req)
        client.send_method_response(MethodResponse.create_from_method_request(
            req, 200, {"echo": req.payload}))

    patches = []
    patched = threading.Event()

    def on_patch(p):
        patches.append(p)
        patched.set()

    # Token renewal shows as a disconnect followed by a connect (the SDK reauthorizes).
    renewed = threading.Event()
    dropped = []

    def on_state_change():
        if not client.connected:
            dropped.append(True)
        elif dropped:
            renewed.set()

    client.on_connection_state_change = on_state_change
    client.on_message_received = on_message
    client.on_method_request_received = on_method
    client.on_twin_desired_properties_patch_received = on_patch
    client.connect()
    try:
        client.send_message("telemetry from the Python SDK")
        check("telemetry send (%s)" % transport, True)

        send_c2d("c2d-1")
        check("C2D receive (%s)" % transport, got.wait(30) and received[0].data == b"c2d-1",
              "properties %s" % (received[0].custom_properties if received else None))

        twin = client.get_twin()
        check("twin get (%s)" % transport, "desired" in twin and "reported" in twin)
        client.patch_twin_reported_properties({"pythonSdk": transport})
        status, t = rest("GET", "/twins/myDevice")
        check("twin reported patch (%s)" % transport,
              status == 200 and t["properties"]["reported"].get("pythonSdk") == transport)
        status, _ = rest("PATCH", "/twins/myDevice",
                         {"properties": {"desired": {"interval": len(transport)}}})
        check("twin desired notification (%s)" % transport,
              status == 200 and patched.wait(30) and patches[-1].get("interval") == len(transport))

        status, answer = rest("POST", "/twins/myDevice/methods",
                              {"methodName": "echo", "payload": {"n": 1},
                               "responseTimeoutInSeconds": 30})
        check("direct method (%s)" % transport,
              status == 200 and answer == {"status": 200, "payload": {"echo": {"n": 1}}},
              "%s %s" % (status, answer))

        # SAS renewal: 30 s after connecting the SDK reconnects with a new token, and the
        # connection receives C2D afterwards.
        if not renewed.wait(90):
            check("SAS token renewal, then C2D (%s)" % transport, False, "no reconnect in 90 s")
            return
        got.clear()
        send_c2d("c2d-2")
        check("SAS token renewal, then C2D (%s)" % transport,
              got.wait(30) and received[-1].data == b"c2d-2" and client.connected)
    finally:
        client.shutdown()


for ws in (False, True):
    try:
        run(ws)
    except Exception as e:  # a failed step fails its row, not the script
        check("%s run" % ("MQTT over WebSockets" if ws else "MQTT"), False, repr(e))
sys.exit(0 if all(ok for _, ok, _ in results) else 1)
