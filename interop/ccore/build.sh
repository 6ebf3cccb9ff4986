#!/usr/bin/env bash
# Compiles the wire's .proto files with Debian's protoc into a descriptor set the C-core peers
# load at run time (no generated Python modules: `io/prometheus/...` would shadow Python's `io`).
# Rebuilds only when a .proto file is newer than the descriptor set.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/gen/wire.desc"
if ! command -v protoc >/dev/null || ! /usr/bin/python3 -c "import grpc, google.protobuf" 2>/dev/null; then
  echo "interop/ccore: protoc or Debian's python3-grpcio/python3-protobuf missing (bash interop/ccore/install-deps.sh)" >&2
  exit 1
fi
if [ -f "$out" ] && [ -z "$(find "$root/proto" -name '*.proto' -newer "$out" | head -1)" ]; then
  echo "interop/ccore: up to date (gen/wire.desc)"
  exit 0
fi
mkdir -p "$here/gen"
protoc -I "$root/proto" -I /usr/include --include_imports --descriptor_set_out="$out.tmp" \
  vm/vm.proto vm/runtime/runtime.proto grpc/health/v1/health.proto
mv "$out.tmp" "$out"
echo "interop/ccore: built gen/wire.desc"
