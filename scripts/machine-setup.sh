#!/usr/bin/env bash
# Makes a Debian machine ready for the full test suite: the Docker engine (started without a bridge: tests use
# `--network none` or `host`), the distribution registry, static busybox for FROM-scratch test images, skopeo (a
# benchmark anchor) and openssl (the token registry's test certificate). Idempotent: installs only what is missing.
set -euo pipefail

packages=(docker.io docker-registry busybox-static skopeo openssl python3)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "machine-setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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
echo "machine-setup: engine $(docker version --format '{{.Server.Version}}'), registry $(docker-registry --version 2>/dev/null | awk '{print $3}'), $(skopeo --version)"
