"""A VM plugin on gRPC's C-core (Debian's python3-grpcio), written for vmre's interop tests.

It does what a Go plugin does: serves vm.VM on 127.0.0.1:0, calls vm.runtime.Runtime/Initialize
at the engine address from its environment, ignores SIGTERM and SIGINT until the node has called
Shutdown, and exits when its parent is gone. Its vm.VM is small: Version, Health, Shutdown,
ParseBlock (the answer describes the bytes received, 1 KiB or 1 MiB in the tests), GetBlock (the
first byte of the id chooses a 1 KiB or 1 MiB block) and BuildBlock (waits until the call is
cancelled or its deadline passes, and says so on stderr). Everything else is UNIMPLEMENTED, as
any gRPC server answers. PLUGIN_PROTOCOL sets the protocol version it reports (default 45).
"""
import hashlib
import os
import signal
import sys
import threading
import time
from concurrent import futures

import grpc

from wire import CHANNEL_OPTIONS, ENGINE_ADDR_ENV_NAMES, log, message, unary

Empty = message("google.protobuf.Empty")
BLOCK_SIZES = {1: 1024, 2: 1024 * 1024}

shutdown_called = threading.Event()
stop = threading.Event()


def on_signal(signum, _frame):
    if signum == signal.SIGTERM and shutdown_called.is_set():
        log("ccore plugin: stopping on SIGTERM after Shutdown")
        stop.set()
    else:
        log(f"ccore plugin: ignoring signal {signum} (the node has not called Shutdown)")


def timestamp(response):
    response.timestamp.seconds = 1_700_000_000


def version(_request, _context):
    return message("vm.VersionResponse")(version="ccore-plugin/1.0.0")


def health(_request, _context):
    return message("vm.HealthResponse")(details=b'{"healthy":true}')


def shutdown(_request, _context):
    shutdown_called.set()
    return Empty()


def parse_block(request, _context):
    response = message("vm.ParseBlockResponse")(
        id=hashlib.sha256(request.bytes).digest(), parent_id=bytes(32), height=len(request.bytes)
    )
    timestamp(response)
    return response


def get_block(request, _context):
    size = BLOCK_SIZES.get(request.id[0] if len(request.id) > 0 else 0, 0)
    response = message("vm.GetBlockResponse")(parent_id=bytes(32), bytes=b"b" * size, height=size)
    timestamp(response)
    return response


def build_block(_request, context):
    # Holds the call until the node gives up on it (deadline or cancellation), bounded.
    started = time.monotonic()
    while context.is_active() and time.monotonic() - started < 30:
        time.sleep(0.01)
    log(f"ccore plugin: BuildBlock ended by the node after {int((time.monotonic() - started) * 1000)} ms")
    return message("vm.BuildBlockResponse")()


METHODS = {
    "Version": (version, "google.protobuf.Empty"),
    "Health": (health, "google.protobuf.Empty"),
    "Shutdown": (shutdown, "google.protobuf.Empty"),
    "ParseBlock": (parse_block, "vm.ParseBlockRequest"),
    "GetBlock": (get_block, "vm.GetBlockRequest"),
    "BuildBlock": (build_block, "vm.BuildBlockRequest"),
}


def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    engine = next((os.environ[n] for n in ENGINE_ADDR_ENV_NAMES if os.environ.get(n)), None)
    if engine is None:
        log(f'required env var missing: "{ENGINE_ADDR_ENV_NAMES[0]}"')
        return 1
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=CHANNEL_OPTIONS)
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            fn, request_deserializer=message(request).FromString, response_serializer=lambda m: m.SerializeToString()
        )
        for name, (fn, request) in METHODS.items()
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("vm.VM", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    log(f"ccore plugin: serving vm.VM at 127.0.0.1:{port}")
    with grpc.insecure_channel(engine, options=CHANNEL_OPTIONS) as channel:
        initialize = unary(channel, "/vm.runtime.Runtime/Initialize", "vm.runtime.InitializeRequest", "google.protobuf.Empty")
        try:
            initialize(
                message("vm.runtime.InitializeRequest")(
                    protocol_version=int(os.environ.get("PLUGIN_PROTOCOL", "45")), addr=f"127.0.0.1:{port}"
                ),
                timeout=5,
            )
        except grpc.RpcError as error:
            log(f"handshake failed: {error.details()}")
            server.stop(grace=None)
            return 1
    parent = os.getppid()
    while not stop.wait(0.2):
        if os.getppid() != parent:
            log("ccore plugin: the node is gone")
            break
    server.stop(grace=1).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
