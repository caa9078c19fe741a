#!/usr/bin/env bash
# Everything a fresh Debian machine with python3 needs, idempotent: the real Prometheus tools
# the tests run (promtool, amtool, Alertmanager, Pushgateway), Chromium for the report test,
# git, and a virtual environment in .venv with coverage-audit installed in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(prometheus prometheus-alertmanager prometheus-pushgateway chromium git python3-venv)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
log=$(mktemp)
if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e '.[test]'; } >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
rm -f "$log"
# Byte-compiled as a regular install leaves it: with PYTHONDONTWRITEBYTECODE set, an editable
# install would compile every module from source on every run.
.venv/bin/python -m compileall -q coverage_audit >/dev/null

# The official SARIF 2.1.0 JSON schema, for the test that checks our SARIF output against it.
# Microsoft's jest-sarif package on the npm registry carries it; no other registry we reach does.
schema=.cache/sarif-schema-2.1.0.json
if [ ! -s "$schema" ] && command -v npm >/dev/null; then
  mkdir -p .cache/npm
  if (cd .cache/npm && npm pack --silent @microsoft/jest-sarif@1.0.0-beta.0 >/dev/null 2>&1 \
      && tar -xzf microsoft-jest-sarif-1.0.0-beta.0.tgz package/lib/schemas/sarif-2.1.0-rtm.5.json); then
    mv .cache/npm/package/lib/schemas/sarif-2.1.0-rtm.5.json "$schema"
  else
    echo "bootstrap: could not fetch the SARIF schema from the npm registry; its test will skip" >&2
  fi
  rm -rf .cache/npm
fi
