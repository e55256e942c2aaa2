#!/usr/bin/env bash
# Installs redis-server for the Redis registry tests (src/manager/registry-redis/*.test.ts).
# The tests start and stop their own redis-server on a free port with a temp dir, so
# nothing is started here and no system service is needed. Debian/Ubuntu: apt-get as
# root (CI runs as root); elsewhere it says what to install.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  echo "redis-server: $(redis-server --version)"
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  # The package may start a system instance on 6379; the tests do not use it.
  echo "redis-server: $(redis-server --version)"
  exit 0
fi
echo "setup-redis: install redis-server (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)," >&2
echo "or point WIRECALL_REDIS_SERVER at a redis-server binary" >&2
exit 1
