"""A node on gRPC's C-core (Debian's python3-grpcio), written for vmre's interop tests.

It launches PLUGIN as avalanchego does (absolute path, cwd /, an environment with only the
engine address, its own process group), serves vm.runtime.Runtime for the handshake (an exact
protocol version check), then, as a client of the plugin's vm.VM: Version, grpc health, an
unknown method, ParseBlock with 1 KiB and 1 MiB, a SIGTERM before Shutdown (to be ignored),
Shutdown, SIGTERM. Prints one JSON line with what it saw.

usage: node.py [--protocol N] PLUGIN
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent import futures

import grpc

from wire import CHANNEL_OPTIONS, ENGINE_ADDR_ENV_NAMES, message, unary

Empty = message("google.protobuf.Empty")


def main(argv):
    protocol = 45
    if len(argv) >= 2 and argv[0] == "--protocol":
        protocol, argv = int(argv[1]), argv[2:]
    plugin = os.path.abspath(argv[0])
    result = {"ok": False}
    handshook = threading.Event()
    reported = {}

    def initialize(request, context):
        reported["protocolVersion"] = request.protocol_version
        reported["addr"] = request.addr
        handshook.set()
        if request.protocol_version != protocol:
            context.abort(
                grpc.StatusCode.UNKNOWN,
                f"handshake failed - protocol version mismatch - node {protocol} vm {request.protocol_version}",
            )
        return Empty()

    runtime = grpc.server(futures.ThreadPoolExecutor(max_workers=2), options=CHANNEL_OPTIONS)
    runtime.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("vm.runtime.Runtime", {
        "Initialize": grpc.unary_unary_rpc_method_handler(
            initialize,
            request_deserializer=message("vm.runtime.InitializeRequest").FromString,
            response_serializer=lambda m: m.SerializeToString(),
        )
    }),))
    port = runtime.add_insecure_port("127.0.0.1:0")
    runtime.start()
    env = {name: f"127.0.0.1:{port}" for name in ENGINE_ADDR_ENV_NAMES}
    started = time.monotonic()
    child = subprocess.Popen([plugin], cwd="/", env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        while not handshook.wait(0.02):
            if child.poll() is not None or time.monotonic() - started > 30:
                result["error"] = f"no handshake (exit {child.poll()})"
                return result
        result["handshakeMs"] = round((time.monotonic() - started) * 1000, 1)
        result["protocolVersion"] = reported["protocolVersion"]
        # As upstream, the runtime server closes after the handshake; the grace lets the answer out.
        runtime.stop(grace=2)
        if reported["protocolVersion"] != protocol:
            # The plugin was refused; it must exit on its own.
            try:
                result["pluginExit"] = child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                result["pluginExit"] = None
            result["mismatch"] = True
            result["ok"] = True
            return result

        with grpc.insecure_channel(reported["addr"], options=CHANNEL_OPTIONS) as channel:
            version = unary(channel, "/vm.VM/Version", "google.protobuf.Empty", "vm.VersionResponse")
            result["version"] = version(Empty(), timeout=10).version
            check = unary(channel, "/grpc.health.v1.Health/Check", "grpc.health.v1.HealthCheckRequest", "grpc.health.v1.HealthCheckResponse")
            result["health"] = check(message("grpc.health.v1.HealthCheckRequest")(service=""), timeout=10).status
            try:
                unary(channel, "/vm.VM/NoSuchMethod", "google.protobuf.Empty", "google.protobuf.Empty")(Empty(), timeout=10)
                result["unknownMethod"] = {"code": "OK"}
            except grpc.RpcError as error:
                result["unknownMethod"] = {"code": error.code().name, "details": error.details()}
            parse = unary(channel, "/vm.VM/ParseBlock", "vm.ParseBlockRequest", "vm.ParseBlockResponse")
            result["parseBlock"] = {}
            for size in (1024, 1024 * 1024):
                try:
                    answer = parse(message("vm.ParseBlockRequest")(bytes=b"p" * size), timeout=10)
                    result["parseBlock"][str(size)] = {"code": "OK", "height": answer.height}
                except grpc.RpcError as error:
                    result["parseBlock"][str(size)] = {"code": error.code().name, "details": error.details()}
            # Upstream plugins ignore SIGTERM until Shutdown.
            os.killpg(child.pid, signal.SIGTERM)
            time.sleep(0.3)
            result["aliveAfterEarlySigterm"] = child.poll() is None
            unary(channel, "/vm.VM/Shutdown", "google.protobuf.Empty", "google.protobuf.Empty")(Empty(), timeout=10)
        stopping = time.monotonic()
        os.killpg(child.pid, signal.SIGTERM)
        try:
            result["exit"] = child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            result["exit"] = None
        result["stopMs"] = round((time.monotonic() - stopping) * 1000, 1)
        result["ok"] = True
        return result
    except grpc.RpcError as error:
        result["error"] = f"{error.code().name}: {error.details()}"
        return result
    finally:
        if child.poll() is None:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            child.wait()


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])), flush=True)
