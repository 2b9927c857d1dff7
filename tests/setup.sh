#!/usr/bin/env bash
# Install what quantilize needs (Debian 12, as root) and build it into $QZ_BUILD
# (default: build/ in the source tree). Sourced by jobs/demo.sh and tests/run.sh;
# running it alone just sets up and builds.
set -euo pipefail
QZ_SOURCE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QZ_BUILD=${QZ_BUILD:-$QZ_SOURCE/build}
QZ_PACKAGES=(build-essential cmake pkg-config libopenmpi-dev openmpi-bin libhdf5-openmpi-dev
    hdf5-tools libcurl4-openssl-dev libcjson-dev python3-h5py python3-numpy curl)

missing=()
for p in "${QZ_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$QZ_BUILD"
if ! { cmake -S "$QZ_SOURCE" -B "$QZ_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQZ_WERROR=ON \
    ${QZ_CMAKE_ARGS:-} && cmake --build "$QZ_BUILD" -j"$(nproc)"; } > "$QZ_BUILD/build.log" 2>&1; then
    cat "$QZ_BUILD/build.log" >&2
    echo "setup: the build failed (log above, also in $QZ_BUILD/build.log)" >&2
    exit 1
fi

# As root, mpirun refuses to start without these two variables (or --allow-run-as-root).
if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
