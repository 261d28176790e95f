#!/usr/bin/env bash
# The OpenTelemetry Python SDK the `worm serve` tests send through (worm-cli/tests/serve.rs):
# a venv with pinned versions from PyPI, created once, reused after. Prints its python.
#
#   scripts/otel-venv.sh            create if missing; print the interpreter's path
#   WORM_OTEL_VENV=DIR              where (default: ~/.cache/worm/otel-venv-$VERSION)
set -euo pipefail
VERSION=1.45.2
venv="${WORM_OTEL_VENV:-$HOME/.cache/worm/otel-venv-$VERSION}"
py="$venv/bin/python"
if ! "$py" -c 'import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http, opentelemetry.exporter.otlp.proto.grpc' 2>/dev/null; then
  mkdir -p "$(dirname "$venv")"
  # Another test may be creating it at the same moment: one at a time.
  exec 9>"$venv.lock"
  flock 9
  if ! "$py" -c 'import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http, opentelemetry.exporter.otlp.proto.grpc' 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --disable-pip-version-check -q \
      "opentelemetry-sdk==$VERSION" \
      "opentelemetry-exporter-otlp-proto-http==$VERSION" \
      "opentelemetry-exporter-otlp-proto-grpc==$VERSION" >&2
  fi
fi
echo "$py"
