#!/usr/bin/env bash
# CI gate for the wire schema in proto/:
#   1. buf lint is clean;
#   2. the committed generated code in packages/proto/src/gen is what `buf generate` produces
#      (no modified, deleted or untracked file there afterwards);
#   3. buf breaking (WIRE rules, see buf.yaml) finds no wire-incompatible change against the
#      previous commit. Skipped, with the reason printed, when there is no usable previous
#      commit: a shallow clone, a first commit, or a previous commit without proto/.
# Needs the repository's node_modules (npm ci); tools run through npx so that the pinned
# Node 22 from node_modules/.bin is the `node` on PATH for protoc-gen-es.
set -euo pipefail

root=$(git rev-parse --show-toplevel)
cd "$root"

if [ ! -x node_modules/.bin/buf ] || [ ! -x node_modules/.bin/protoc-gen-es ]; then
  echo "check-proto: node_modules/.bin/buf or protoc-gen-es missing: run 'npm ci' first" >&2
  exit 1
fi

gen=packages/proto/src/gen

echo "check-proto: buf lint"
npx --no-install buf lint

echo "check-proto: buf generate must reproduce $gen"
npx --no-install buf generate
drift=$(git status --porcelain --untracked-files=all -- "$gen")
if [ -n "$drift" ]; then
  echo "check-proto: $gen differs from 'buf generate' output; regenerate and commit it:" >&2
  echo "$drift" >&2
  git --no-pager diff --stat -- "$gen" >&2
  exit 1
fi

echo "check-proto: buf breaking against the previous commit"
skip=""
if [ "$(git rev-parse --is-shallow-repository)" = "true" ]; then
  skip="shallow clone (fetch with full history, e.g. fetch-depth: 0, to enable it)"
elif ! prev=$(git rev-parse --verify --quiet 'HEAD~1^{commit}'); then
  skip="HEAD has no parent commit"
elif ! git cat-file -e "$prev:proto" 2>/dev/null; then
  skip="previous commit ${prev:0:12} has no proto/ directory"
elif ! git cat-file -e "$prev:buf.yaml" 2>/dev/null; then
  skip="previous commit ${prev:0:12} has no buf.yaml"
fi

if [ -n "$skip" ]; then
  echo "check-proto: SKIPPED buf breaking: $skip"
else
  # The previous commit's buf.yaml and proto/, extracted with git itself: this works the same
  # in plain clones and in worktrees (where .git is a file, not a directory).
  against=$(mktemp -d)
  trap 'rm -rf "$against"' EXIT
  git archive "$prev" buf.yaml proto | tar -x -C "$against"
  npx --no-install buf breaking --against "$against"
  echo "check-proto: no breaking change against ${prev:0:12}"
fi

echo "check-proto: OK"
