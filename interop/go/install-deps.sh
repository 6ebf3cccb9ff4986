#!/usr/bin/env bash
# Installs the Debian packages that interop/go/build.sh needs (Debian 12: Go 1.19, grpc-go
# 1.33, protobuf-go 1.28, protoc 3.21). Non-interactive and quiet; runs `apt-get update` only
# when a package is missing. Uses sudo when not run as root.
set -euo pipefail

PACKAGES=(
	golang-go                  # the Go toolchain
	protobuf-compiler          # protoc
	libprotobuf-dev            # google/protobuf/*.proto (well-known types) for protoc
	golang-google-grpc-dev     # grpc-go sources (+ x/net, x/sys, genproto, golang/protobuf)
	golang-google-protobuf-dev # protobuf-go APIv2 sources, incl. cmd/protoc-gen-go
)

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "interop/go: Debian packages already installed" >&2
	exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi
echo "interop/go: installing ${missing[*]}" >&2
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "interop/go: installed" >&2
