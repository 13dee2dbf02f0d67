#!/usr/bin/env bash
# Installs the Debian packages BayesAgg builds and runs with (as root, Debian 12):
# OpenBLAS (BLAS and LAPACK), zlib (gzip IDX files), pkg-config (finds both) and the
# Fashion-MNIST data set. Does nothing when they are already there.
set -euo pipefail

packages=(libopenblas-dev zlib1g-dev pkg-config dataset-fashion-mnist)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$package")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
