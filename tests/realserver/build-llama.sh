#!/usr/bin/env bash
# Builds llama.cpp's llama-server from the source bundle inside the npm package
# node-llama-cpp (pinned below) and prints the binary's path on stdout (progress goes
# to stderr). The build is cached outside the source tree:
#
#   ${QZ_LLAMA_CACHE:-$HOME/.cache/quantilize/llama-3.22.1-<arch>-generic}/
#       bin/llama-server   the server (static apart from libgomp/libstdc++)
#       gguf-py/           the bundle's Python GGUF writer (make-tiny-gguf.py uses it)
#       BUILD-INFO         version, commit, CMake options, build seconds
#
# The second call returns at once. Two concurrent callers build once (flock), and a
# cache directory exists only once it is complete (built in a temporary directory
# beside it, then renamed). The build is not tuned for this CPU (GGML_NATIVE=OFF and
# every x86 instruction-set extension off), so a cache copied to, or shared with,
# another machine never dies with an illegal instruction; the tiny test model does not
# need the speed.
#
# Environment: QZ_LLAMA_CACHE (the cache directory), QZ_LLAMA_TARBALL (an already
# downloaded node-llama-cpp-3.22.1.tgz; otherwise `npm pack` fetches it),
# QZ_LLAMA_JOBS (parallel compile jobs, default 2).
set -euo pipefail

version=3.22.1
# sha256 of node-llama-cpp-3.22.1.tgz as the npm registry serves it (its
# dist.integrity is sha512-bltIipuWmc123H7tMIgDGKSsSrhmhlQYeVUC48XTjVW7XGJJiJJyCdlTMzQ/
# LiWoPkGDpcL4FviDpgw7qfTiDw==).
tarball_sha256=a0d9dd80eacd2ab1cfe71aee57ac8a806487fd70b3d2a38fbec637752d9e5c5f

arch=$(uname -m)
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/quantilize
cache=${QZ_LLAMA_CACHE:-$cache_root/llama-$version-$arch-generic}
server=$cache/bin/llama-server

log() { printf 'build-llama: %s\n' "$*" >&2; }

done_already() { [ -x "$server" ] && [ -f "$cache/gguf-py/gguf/__init__.py" ]; }

if done_already; then
    echo "$server"
    exit 0
fi

# Debian packages the build needs; apt-get only runs when one is missing.
need_packages() {
    local missing=() pkg
    for pkg in build-essential cmake git python3-numpy curl flock; do
        case $pkg in
            flock) command -v flock > /dev/null || missing+=(util-linux) ;;
            curl) command -v curl > /dev/null || missing+=(curl) ;;
            *) dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null | grep -q 'install ok installed' ||
                missing+=("$pkg") ;;
        esac
    done
    command -v npm > /dev/null || [ -n "${QZ_LLAMA_TARBALL:-}" ] || missing+=(npm)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        local sudo=
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >&2
    fi
}
need_packages

mkdir -p "$(dirname "$cache")"
exec 9> "$cache.lock"
log "waiting for the build lock $cache.lock"
flock 9
if done_already; then # another caller built it while we waited
    echo "$server"
    exit 0
fi

work=$(mktemp -d "$cache.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The pinned tarball: a given copy, or npm's (npm keeps its own download cache).
tgz=${QZ_LLAMA_TARBALL:-}
if [ -z "$tgz" ]; then
    log "fetching node-llama-cpp@$version with npm pack"
    (cd "$work" && npm pack --silent "node-llama-cpp@$version" > /dev/null)
    tgz=$work/node-llama-cpp-$version.tgz
fi
if ! echo "$tarball_sha256  $tgz" | sha256sum -c --quiet - >&2; then
    log "$tgz is not node-llama-cpp@$version as published (sha256 differs)"
    exit 1
fi
tar -xzf "$tgz" -C "$work" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json
git -c advice.detachedHead=false clone --quiet "$work/package/llama/gitRelease.bundle" "$work/src" >&2
commit=$(git -C "$work/src" rev-parse HEAD)
log "llama.cpp source $commit ($(tr -d '\n ' < "$work/package/llama/llama.cpp.info.json"))"

cmake_options=(-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF
    -DGGML_SSE42=OFF -DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_AVX512=OFF -DGGML_BMI2=OFF
    -DGGML_FMA=OFF -DGGML_F16C=OFF
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_UI=OFF
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF
    -DLLAMA_CURL=OFF)
start=$(date +%s)
log "configuring (${cmake_options[*]})"
nice -n 10 cmake -S "$work/src" -B "$work/build" "${cmake_options[@]}" > "$work/cmake.log" 2>&1 ||
    { tail -40 "$work/cmake.log" >&2; exit 1; }
log "compiling llama-server with ${QZ_LLAMA_JOBS:-2} jobs (about 10 minutes on 2 cores)"
nice -n 10 cmake --build "$work/build" -j "${QZ_LLAMA_JOBS:-2}" --target llama-server \
    > "$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; exit 1; }
seconds=$(($(date +%s) - start))

out=$work/out
mkdir -p "$out/bin"
cp "$work/build/bin/llama-server" "$out/bin/"
strip "$out/bin/llama-server"
cp -r "$work/src/gguf-py" "$out/gguf-py"
"$out/bin/llama-server" --version > "$work/version.txt" 2>&1 || true
{
    echo "node-llama-cpp $version"
    echo "llama.cpp commit $commit"
    grep -m1 -i 'version' "$work/version.txt" || true
    echo "cmake ${cmake_options[*]}"
    echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m) in $seconds s"
} > "$out/BUILD-INFO"
# An incomplete directory at that name (not made by this script) is moved aside.
[ ! -e "$cache" ] || mv -T "$cache" "$work/stale"
mv -T "$out" "$cache"
log "built in $seconds s: $server"
echo "$server"
