#!/usr/bin/env bash
# Runs every test bosun has. Installs what npm does not bring, from Debian's packages,
# when it is missing: nats-server (the NATS tests start their own servers), and netcat
# (openbsd) and tree, with which steward's README examples are sent and run as written.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  echo "nats-server is missing; installing it from Debian's packages" >&2
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get install -y nats-server >/dev/null 2>&1 \
    || { $sudo_cmd apt-get update >/dev/null && $sudo_cmd apt-get install -y nats-server >/dev/null; }
fi

for tool in nc:netcat-openbsd tree:tree; do
  if ! command -v "${tool%%:*}" >/dev/null 2>&1; then
    echo "${tool%%:*} is missing; installing ${tool#*:} from Debian's packages" >&2
    sudo_cmd=""
    [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get install -y "${tool#*:}" >/dev/null 2>&1 \
      || { $sudo_cmd apt-get update >/dev/null && $sudo_cmd apt-get install -y "${tool#*:}" >/dev/null; }
  fi
done

[ -d node_modules ] || npm ci --no-audit --no-fund

npx tsc --noEmit
npx vitest run --reporter=default --reporter=json --outputFile.json=.test-results.json "$@"
