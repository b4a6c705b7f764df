#!/usr/bin/env bash
# Brings up what llmrank needs on this machine: PostgreSQL on 127.0.0.1:5432 (user postgres,
# trust auth) and Redis on 127.0.0.1:6379. Starts them when installed but stopped; installs
# them from Debian's packages when absent. Safe to run again.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

apt_install() {
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! command -v pg_isready >/dev/null || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  if ! (command -v pg_isready >/dev/null && pg_up); then
    echo "services: installing PostgreSQL" >&2
    apt_install postgresql
  fi
fi
if ! pg_up; then
  version=$(ls /etc/postgresql | sort -n | tail -1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  # Local development: trust loopback connections (the Debian default asks for a password).
  if ! grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
    $SUDO sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  echo "services: starting PostgreSQL $version" >&2
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 50); do pg_up && break; sleep 0.2; done
fi
pg_up || { echo "services: PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
if ! command -v redis-server >/dev/null; then
  echo "services: installing Redis" >&2
  apt_install redis-server
fi
if ! redis_up; then
  echo "services: starting Redis" >&2
  mkdir -p /tmp/llmrank-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/llmrank-redis --logfile /tmp/llmrank-redis/redis.log >/dev/null
  for _ in $(seq 1 50); do redis_up && break; sleep 0.1; done
fi
redis_up || { echo "services: Redis did not come up on 127.0.0.1:6379" >&2; exit 1; }
echo "services: PostgreSQL 127.0.0.1:5432 and Redis 127.0.0.1:6379 are up" >&2
