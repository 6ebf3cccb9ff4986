#!/usr/bin/env bash
# gRPC's C-core for the interop tests, from Debian: Python's grpcio (C-core underneath),
# protobuf, and protoc.
set -euo pipefail
packages=(python3-grpcio python3-protobuf protobuf-compiler)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then echo "interop/ccore: ${packages[*]} installed"; exit 0; fi
sudo_=""; [ "$(id -u)" -ne 0 ] && sudo_="sudo"
$sudo_ apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}"
