#!/usr/bin/env bash
# Builds the Go interop peers (bin/plugin and bin/host) from Debian's packaged Go sources,
# offline: no module proxy, no network. Stubs are generated from the project's own protos at
# build time. Idempotent: does nothing when no input changed since the last build.
#
#   interop/go/build.sh           build if needed
#   interop/go/build.sh --force   rebuild even if up to date
#   interop/go/build.sh --check   only check the tools (exit 1 and name the packages if missing)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PROTO_DIR=$ROOT/proto
BUILD=$HERE/.build
BIN=$HERE/bin
GOCODE=/usr/share/gocode
WKT_DIR=/usr/include # google/protobuf/*.proto from libprotobuf-dev

# The protos we compile, relative to proto/, and the Go package each one becomes.
PROTOS=(
	vm/runtime/runtime.proto
	vm/vm.proto
	io/prometheus/client/metrics.proto
	grpc/health/v1/health.proto
	rpcdb/rpcdb.proto
	aliasreader/aliasreader.proto
	validatorstate/validatorstate.proto
	warp/warp.proto
	appsender/appsender.proto
	sharedmemory/sharedmemory.proto
	messenger/messenger.proto
	http/http.proto
	http/responsewriter/responsewriter.proto
	io/reader/reader.proto
)
GO_PACKAGES=(
	"vmre/gen/vm/runtime;runtimepb"
	"vmre/gen/vm;vmpb"
	"vmre/gen/io/prometheus/client;metricspb"
	"vmre/gen/grpc/health/v1;healthpb"
	"vmre/gen/rpcdb;rpcdbpb"
	"vmre/gen/aliasreader;aliasreaderpb"
	"vmre/gen/validatorstate;validatorstatepb"
	"vmre/gen/warp;warppb"
	"vmre/gen/appsender;appsenderpb"
	"vmre/gen/sharedmemory;sharedmemorypb"
	"vmre/gen/messenger;messengerpb"
	"vmre/gen/http;httppb"
	"vmre/gen/http/responsewriter;responsewriterpb"
	"vmre/gen/io/reader;readerpb"
)

# Our Go source directories (each one a package under vmre/interop/).
GO_DIRS=(internal plugin host)

force=0
check_only=0
for arg in "$@"; do
	case $arg in
	--force) force=1 ;;
	--check) check_only=1 ;;
	*) echo "usage: $0 [--force|--check]" >&2; exit 2 ;;
	esac
done

log() { echo "interop/go: $*" >&2; }

# --- tools -----------------------------------------------------------------------------
missing=()
command -v go >/dev/null 2>&1 || missing+=(golang-go)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
[ -f "$WKT_DIR/google/protobuf/timestamp.proto" ] || missing+=(libprotobuf-dev)
[ -f "$GOCODE/src/google.golang.org/grpc/cmd/protoc-gen-go-grpc/main.go" ] || missing+=(golang-google-grpc-dev)
[ -f "$GOCODE/src/google.golang.org/protobuf/cmd/protoc-gen-go/main.go" ] || missing+=(golang-google-protobuf-dev)
if [ ${#missing[@]} -gt 0 ]; then
	log "missing build tools. Install these Debian packages:"
	echo "  apt-get install -y ${missing[*]}" >&2
	log "(or run interop/go/install-deps.sh)"
	exit 1
fi
if [ $check_only = 1 ]; then
	log "tools present"
	exit 0
fi
for p in "${PROTOS[@]}"; do
	if [ ! -f "$PROTO_DIR/$p" ]; then
		log "missing proto/$p"
		exit 1
	fi
done

# GOPATH mode: Debian ships the Go libraries as sources under /usr/share/gocode, not as
# modules, and there is no proxy. Everything else is pinned so that the user's Go settings
# (GOFLAGS, GOPROXY, a go env file) cannot change the build. CGO is off: static binaries, no C
# compiler needed.
export GO111MODULE=off GOFLAGS= GOENV=off CGO_ENABLED=0
export GOPATH="$BUILD/gopath:$GOCODE"
export GOCACHE="$BUILD/gocache"

mkdir -p "$BUILD" "$BIN"
exec 9>"$BUILD/lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi # concurrent callers build once

# --- up to date? -----------------------------------------------------------------------
stamp() {
	{
		go version
		protoc --version
		dpkg-query -W golang-google-grpc-dev golang-google-protobuf-dev protobuf-compiler 2>/dev/null || true
		cd "$ROOT"
		for p in "${PROTOS[@]}"; do sha256sum "proto/$p"; done
		cd "$HERE"
		find "${GO_DIRS[@]}" build.sh -type f | LC_ALL=C sort | xargs sha256sum
	} | sha256sum | cut -d' ' -f1
}
want=$(stamp)
if [ $force = 0 ] && [ -x "$BIN/plugin" ] && [ -x "$BIN/host" ] &&
	[ "$(cat "$BUILD/stamp" 2>/dev/null)" = "$want" ]; then
	log "up to date (bin/plugin, bin/host)"
	exit 0
fi

start=$(date +%s%N)
rm -f "$BUILD/stamp"

# --- code generators, built from Debian's packaged sources --------------------------------
# protoc-gen-go (APIv2, from golang-google-protobuf-dev) and protoc-gen-go-grpc (from
# golang-google-grpc-dev). We build them rather than use /usr/bin/protoc-gen-go, because two
# Debian packages install that path and the APIv1 one (protoc-gen-go-1-3) cannot compile
# vm.proto (proto3 `optional`).
TOOLS=$BUILD/tools
mkdir -p "$TOOLS"
go build -o "$TOOLS/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$TOOLS/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc

# --- stubs ---------------------------------------------------------------------------------
SRC=$BUILD/gopath/src
rm -rf "$SRC/vmre/gen"
# Our own packages are importable as vmre/interop/<dir> through links to their directories
# (not to interop/go itself, which would make a link cycle through .build).
rm -rf "$SRC/vmre/interop"
mkdir -p "$SRC/vmre/interop"
for dir in "${GO_DIRS[@]}"; do ln -s "$HERE/$dir" "$SRC/vmre/interop/$dir"; done
mapping=""
for i in "${!PROTOS[@]}"; do
	mapping+="M${PROTOS[$i]}=${GO_PACKAGES[$i]},"
done
mapping=${mapping%,}
(cd "$PROTO_DIR" && protoc -I . -I "$WKT_DIR" \
	--plugin=protoc-gen-go="$TOOLS/protoc-gen-go" \
	--plugin=protoc-gen-go-grpc="$TOOLS/protoc-gen-go-grpc" \
	--go_out="$SRC" --go_opt="$mapping" \
	--go-grpc_out="$SRC" --go-grpc_opt="$mapping" \
	"${PROTOS[@]}")

# --- binaries (written aside, then renamed: a running test never sees half a file) ------------
for cmd in plugin host; do
	go build -trimpath -o "$BIN/.$cmd.tmp" "vmre/interop/$cmd"
	mv -f "$BIN/.$cmd.tmp" "$BIN/$cmd"
done

echo "$want" >"$BUILD/stamp"
ms=$((($(date +%s%N) - start) / 1000000))
log "built bin/plugin and bin/host in $((ms / 1000)).$(printf %03d $((ms % 1000)))s"
