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
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'
