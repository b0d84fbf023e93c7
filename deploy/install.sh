#!/bin/sh
# Installs T21 the way its container image does, into the virtual environment named by $1:
# the locked runtime dependencies, checked against their hashes, then T21's own wheel, built with
# its locked build backend. The Dockerfile runs this script; CI runs it into a fresh environment
# so the image's steps are exercised where containers can't run.
set -eu
venv="${1:?usage: deploy/install.sh <virtualenv directory>}"
here="$(cd "$(dirname "$0")/.." && pwd)"
uv="${UV:-uv}"
dist="$(mktemp -d)"
trap 'rm -rf "$dist"' EXIT

$uv venv --quiet --python "${PYTHON:-python3}" "$venv"
$uv pip sync --quiet --require-hashes --python "$venv/bin/python" "$here/requirements-prod.lock"
# The build backend comes from the development lock, hash-checked too; it stays out of $venv.
$uv build --quiet --wheel --build-constraints "$here/requirements.lock" --require-hashes \
  -o "$dist" "$here"
$uv pip install --quiet --no-deps --python "$venv/bin/python" "$dist"/t21-*.whl
"$venv/bin/t21" version
