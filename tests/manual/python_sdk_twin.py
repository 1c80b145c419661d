# The official Python device SDK (azure-iot-device, unmodified) against the emulator: get_twin,
# patch reported, a desired patch, a direct method (issue 13). A manual check, not part of CI:
# the SDK is not packaged for Debian and CI has no PyPI. Its dependencies are Debian packages
# (python3-paho-mqtt python3-deprecation python3-socks python3-requests-unixsocket
# python3-janus python3-typing-extensions); the SDK source from its repository goes on
# PYTHONPATH:  PYTHONPATH=azure-iot-sdk-python/azure-iot-device /usr/bin/python3 \
#   tests/manual/python_sdk_twin.py build/test/emulator/app/iothub-emulator
# Needs port 8883 (the SDK's fixed MQTT port).
import json, os, subprocess, sys, tempfile, threading, time, urllib.request, ssl
from azure.iot.device import IoTHubDeviceClient, MethodResponse

binary = sys.argv[1]
tmp = tempfile.mkdtemp()
proc = subprocess.Popen([binary, "--in-memory", "--data-dir", tmp, "--mqtt-port", "8883",
                         "--amqp-port", "0", "--https-port", "0", "--test-control",
                         "--ready-file", tmp + "/ready.json"],
                        stdout=subprocess.PIPE, stderr=open(tmp + "/err.log", "w"), text=True)
ready = None
for line in proc.stdout:
    if line.startswith("iothub-emulator ready "):
        ready = json.loads(line[len("iothub-emulator ready "):])
        break
try:
    ca = open(ready["caCertificate"]).read()
    cs = ready["connectionStrings"]["devices"]["myDevice"]
    client = IoTHubDeviceClient.create_from_connection_string(cs, server_verification_cert=ca)
    client.connect()
    twin = client.get_twin()
    print("get_twin:", json.dumps(twin))
    assert twin["desired"]["$version"] == 1 and twin["reported"]["$version"] == 1
    client.patch_twin_reported_properties({"python": True, "fw": "3.0"})
    got = threading.Event()
    patches = []
    def on_patch(p):
        patches.append(p); got.set()
    client.on_twin_desired_properties_patch_received = on_patch
    def on_method(req):
        client.send_method_response(MethodResponse.create_from_method_request(req, 200, {"echo": req.payload}))
    client.on_method_request_received = on_method
    time.sleep(0.5)  # let the SDK's subscriptions go out (manual check, not a test)
    ctx = ssl.create_default_context(cafile=ready["caCertificate"])
    port = ready["ports"]["https"]
    def admin(method, path, body=None):
        req = urllib.request.Request(f"https://localhost:{port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
            return json.loads(r.read() or b"null")
    t = admin("GET", "/admin/devices/myDevice/twin")
    print("reported on the service side:", t["twin"]["properties"]["reported"]["fw"])
    assert t["twin"]["properties"]["reported"]["python"] is True
    admin("PATCH", "/admin/devices/myDevice/twin", {"properties": {"desired": {"rate": 9}}})
    assert got.wait(10), "no desired patch"
    print("desired patch received:", patches[0])
    assert patches[0]["rate"] == 9
    import base64, hashlib, hmac, urllib.parse
    owner = dict(kv.split("=", 1) for kv in ready["connectionStrings"]["iothubowner"].split(";"))
    se = int(time.time()) + 600
    sr = urllib.parse.quote(owner["HostName"], safe="")
    sig = base64.b64encode(hmac.new(base64.b64decode(owner["SharedAccessKey"]),
                                    f"{sr}\n{se}".encode(), hashlib.sha256).digest()).decode()
    sas = f"SharedAccessSignature sr={sr}&sig={urllib.parse.quote(sig, safe='')}&se={se}&skn=iothubowner"
    req = urllib.request.Request(f"https://localhost:{port}/twins/myDevice/methods?api-version=2021-04-12",
                                 method="POST", data=json.dumps({"methodName": "hello", "payload": {"x": 1},
                                 "responseTimeoutInSeconds": 10}).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": sas})
    with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
        res = json.loads(r.read())
    print("method result:", res)
    assert res == {"status": 200, "payload": {"echo": {"x": 1}}}
    client.shutdown()
    print("PYTHON SDK OK")
finally:
    proc.terminate(); proc.wait(20)
    print(open(tmp + "/err.log").read()[-3000:])
