# shellcheck shell=bash
# Sourced by the benchmarks that compare with wrk (http_bench.sh, server_bench.sh):
# builds the Release tree in build-bench/ (tests/setup.sh, installing packages if
# needed), installs wrk when it is missing, and defines wrk_post.
QZ_BUILD=${QZ_BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build-bench}
QZ_CMAKE_ARGS="-DCMAKE_BUILD_TYPE=Release"
. "$(dirname "${BASH_SOURCE[0]}")/../setup.sh"
if ! dpkg-query -W -f='${Status}' wrk 2>/dev/null | grep -q 'install ok installed'; then
    echo "$(basename "$0" .sh): installing wrk" >&2
    SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi

# wrk_post RECORD RUN LUA: writes LUA, a wrk script posting the request body that the
# run RUN in the record file RECORD sent (its generator_request), with seed 1 (the test
# server's work does not depend on the seed's value).
wrk_post() {
    /usr/bin/python3 - "$1" "$2" "$3" <<'EOF'
import h5py, json, sys
req = json.loads(h5py.File(sys.argv[1], "r")["runs/" + sys.argv[2]].attrs["generator_request"])
text = json.dumps(dict(req["body"], seed=1), separators=(",", ":"))
assert "]==]" not in text
with open(sys.argv[3], "w") as f:
    f.write('wrk.method = "POST"\n')
    f.write(f"wrk.body = [==[{text}]==]\n")
    f.write('wrk.headers["Content-Type"] = "application/json"\n')
EOF
}
