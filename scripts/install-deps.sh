#!/usr/bin/env bash
# Installs what the tests use besides Go, when it is missing: redis-server (the
# Redis test helper), python3 with httpx (the Python SDK and its tests; pytest
# to run them by hand), chromium (the web console's browser tests) and make.
# Debian's apt only; it asks for nothing when everything is there.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v make >/dev/null 2>&1 || need+=(make)
# Debian's python3-httpx installs into /usr/bin/python3; a python3 earlier on
# PATH (pyenv, venv) may not see it, which is why /usr/bin/python3 is tried
# too (cmd/pm/sdk_python_test.go does the same).
has_py() {
  local p
  for p in python3 /usr/bin/python3; do
    command -v "$p" >/dev/null 2>&1 && "$p" -c "import $1" >/dev/null 2>&1 && return 0
  done
  return 1
}
has_py httpx || need+=(python3-httpx)
has_py pytest || need+=(python3-pytest)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing: ${need[*]} (install them; this script knows only Debian's apt-get)" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${need[@]}" >/dev/null
