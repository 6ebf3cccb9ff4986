"""The rpcchainvm messages for the C-core peers, from the descriptor set build.sh makes with
Debian's protoc, and the small helpers both peers share."""
import os
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_HERE = os.path.dirname(os.path.abspath(__file__))

# Where a plugin finds the engine: the first of these that is set (avalanchego, luxd, older both).
ENGINE_ADDR_ENV_NAMES = ("LUX_VM_RUNTIME_ENGINE_ADDR", "VM_RUNTIME_ENGINE_ADDR", "AVALANCHE_VM_RUNTIME_ENGINE_ADDR")

# Unlimited message sizes, as the Go nodes run.
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


def _load():
    files = descriptor_pb2.FileDescriptorSet()
    with open(os.path.join(_HERE, "gen", "wire.desc"), "rb") as f:
        files.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for proto in files.file:
        pool.Add(proto)
    factory = message_factory.MessageFactory(pool)
    return lambda name: factory.GetPrototype(pool.FindMessageTypeByName(name))


message = _load()


def log(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def unary(channel, path, request_type, response_type):
    """A client stub of one unary method, by its wire path."""
    return channel.unary_unary(
        path,
        request_serializer=message(request_type).SerializeToString,
        response_deserializer=message(response_type).FromString,
    )
