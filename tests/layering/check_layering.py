#!/usr/bin/env python3
"""The module arrows of docs/architecture.md, checked against the build.

Every module publishes only its own folder (emu_module_includes in the top CMakeLists.txt), so
what a module's sources can include is decided by what it links. This test takes the real
compile command of one source file of each module from compile_commands.json and asks the
preprocessor whether that command can include a header of every other module: it must succeed
exactly for the modules the table below allows, and fail for the rest. A new global include
directory, or a link that turns an arrow around, makes it fail.

It also checks the pure modules' sources for system headers they must not use (the hub core
does no I/O: no Asio, Proton, SQLite, TLS or threads).

    check_layering.py <build dir with compile_commands.json> <source dir>
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

# module: (folder, a header in it, the modules its own sources may see, itself included)
MODULES = {
    "base": ("emulator/base", "result.hpp", {"base"}),
    "core": ("emulator/core", "hub.hpp", {"core", "base"}),
    "log": ("emulator/log", "log.hpp", {"log"}),
    "executor": ("emulator/executor", "hub_executor.hpp", {"executor", "core", "base", "log"}),
    "net": ("emulator/net", "stream_connection.hpp", {"net", "log"}),
    "storage": ("storage", "sqlite_store.hpp", {"storage", "core", "base"}),
    "mqtt_codec": ("emulator/mqtt/codec", "decoder.hpp", {"mqtt_codec"}),
    "mqtt_session": ("emulator/mqtt/session", "session.hpp",
                     {"mqtt_session", "mqtt_codec", "core", "base"}),
    "mqtt_gateway": ("emulator/mqtt/gateway", "gateway.hpp",
                     {"mqtt_gateway", "mqtt_session", "mqtt_codec", "core", "base", "executor",
                      "net", "log"}),
    "amqp": ("emulator/amqp", "amqp_front.hpp",
             {"amqp", "core", "base", "executor", "net", "log"}),
    "websocket": ("emulator/websocket", "websocket_stream.hpp", {"websocket", "net"}),
    "https": ("emulator/https", "https_front.hpp",
              {"https", "core", "base", "executor", "net", "log", "websocket"}),
    "app": ("emulator/app", "emulator.hpp", None),  # the wiring: sees everything
}

# What the pure modules' own sources must not include.
FORBIDDEN_SYSTEM = {
    "core": [r"<asio", r"<proton/", r"<sqlite3\.h>", r"<openssl/ssl\.h>", r"<thread>",
             r"<spdlog/", r"<chrono>.*system_clock::now"],
    "mqtt_codec": [r"<asio", r"<openssl/", r"<thread>", r"<spdlog/"],
    "mqtt_session": [r"<asio", r"<openssl/", r"<thread>", r"<spdlog/"],
    "base": [r"<asio", r"<openssl/", r"<thread>"],
}


def module_of(path, source_dir):
    rel = os.path.relpath(path, source_dir)
    best = None
    for name, (folder, _, _) in MODULES.items():
        if rel.startswith(folder + "/") and (best is None or len(folder) > len(MODULES[best][0])):
            best = name
    return best


def main():
    build, source = sys.argv[1], os.path.abspath(sys.argv[2])
    with open(os.path.join(build, "compile_commands.json")) as f:
        commands = json.load(f)
    command_of = {}
    for entry in commands:
        m = module_of(entry["file"], source)
        if m and m not in command_of:
            command_of[m] = entry
    problems = []
    # base is header-only: nothing of its own is compiled (its purity is checked by grep below).
    missing = set(MODULES) - set(command_of) - {"base"}
    if missing:
        problems.append("no compile command for " + ", ".join(sorted(missing)))

    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe.cpp")
        for name, entry in sorted(command_of.items()):
            args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
            # Keep the compiler and its include/define flags; preprocess the probe instead.
            flags = [a for a in args[1:] if a.startswith(("-I", "-isystem", "-D", "-std="))]
            flags += [args[i + 1] for i, a in enumerate(args[:-1]) if a == "-isystem"]
            allowed = MODULES[name][2]
            for other, (folder, header, _) in sorted(MODULES.items()):
                with open(probe, "w") as f:
                    f.write('#include "%s/%s"\n' % (folder, header))
                r = subprocess.run([args[0], "-E", "-o", os.devnull] + flags + [probe],
                                   cwd=entry["directory"], capture_output=True, text=True)
                visible = r.returncode == 0
                expected = allowed is None or other in allowed
                if visible != expected:
                    problems.append("%s %s include %s/%s" % (
                        name, "can" if visible else "cannot", folder, header))
                    if not visible:
                        problems.append("  " + r.stderr.strip().splitlines()[0])

    for name, patterns in FORBIDDEN_SYSTEM.items():
        folder = os.path.join(source, MODULES[name][0])
        for file in sorted(os.listdir(folder)):
            if not file.endswith((".hpp", ".cpp")):
                continue
            text = open(os.path.join(folder, file)).read()
            for p in patterns:
                for line in text.splitlines():
                    if line.startswith("#include") and re.search(p, line):
                        problems.append("%s/%s: %s" % (MODULES[name][0], file, line))

    if problems:
        print("module layering broken:\n" + "\n".join(problems))
        return 1
    print("module layering holds: %d modules, %d include checks" %
          (len(command_of), len(command_of) * len(MODULES)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
