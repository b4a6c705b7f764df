#!/usr/bin/env bash
# Installs, offline-capable from the package registries, the checkers the tests call:
# promtool (Debian's prometheus). Later checkers go to .tools/. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
if ! command -v promtool >/dev/null; then
  echo "tools: installing prometheus (for promtool)" >&2
  $SUDO apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
