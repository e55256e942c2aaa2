#!/usr/bin/env bash
# Installs what the Redis registry tests (src/manager/registry-redis/*.test.ts,
# src/cli/cli-redis.test.ts) and the netns suite (test/netns/, npm run test:netns) need:
#   redis-server  the server, and Sentinel (`redis-server <conf> --sentinel`: Debian's
#                 separate redis-sentinel package only adds a system service, not needed)
#   redis-tools   redis-cli (the netns suite asks the Sentinels and the replica with it)
#   iproute2      ip netns / ip link (the netns suite's hosts)
#   openssl       the test certificates
# The tests start and stop their own redis-servers on free ports with temp dirs, so
# nothing is started here and no system service is needed. Debian/Ubuntu: apt-get as
# root (CI runs as root), apt-get update first, and only for what is missing (running
# it again installs nothing); elsewhere it says what to install.
set -euo pipefail

have() {
  case "$1" in
    redis-server) command -v redis-server >/dev/null 2>&1 ;;
    redis-tools) command -v redis-cli >/dev/null 2>&1 ;;
    iproute2) command -v ip >/dev/null 2>&1 ;;
    openssl) command -v openssl >/dev/null 2>&1 ;;
  esac
}

missing=()
for pkg in redis-server redis-tools iproute2 openssl; do
  have "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The redis-server package may start a system instance on 6379; the tests do not use it.
  else
    echo "setup-redis: missing ${missing[*]}: install them (Debian/Ubuntu: sudo apt-get install ${missing[*]};" >&2
    echo "macOS: brew install redis openssl; the netns suite needs Linux), or point WIRECALL_REDIS_SERVER at a redis-server binary" >&2
    exit 1
  fi
fi
echo "redis-server: $(redis-server --version)"
echo "redis-cli: $(redis-cli --version)"
echo "ip: $(ip -V)"
