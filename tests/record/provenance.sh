#!/bin/bash
# Provenance in the record: host, host count, source revision, compiler, the
# libraries loaded, the draw kernel, and the SHA-256 of the job file, of a plugin
# library and of an exec program (command[0] found on PATH); the same at 1 and 2
# ranks on one host; a select run records no job digest. inspect, inspect --json and
# report show them. Needs QZ_EXAMPLE_PLUGIN.
source "$(dirname "$0")/../lib.sh"
: "${QZ_EXAMPLE_PLUGIN:?path of the example plugin}"
cd "$QZ_TMP" || exit 1
cp "$QZ_SOURCE"/tests/plugins/{generator,testio}.py .

cat > prov.json <<JSON
{"name": "prov", "seed": 4, "q": 0.01, "samples": 20000, "chunk_size": 1000,
 "generator": {"kind": "plugin", "path": "$QZ_EXAMPLE_PLUGIN"},
 "output": {"archive": "utilities"}}
JSON
cat > gexec.json <<JSON
{"name": "gexec", "seed": 5, "q": 0.01, "samples": 600, "chunk_size": 100,
 "generator": {"kind": "exec", "command": ["python3", "$QZ_TMP/generator.py", "--numbers"],
               "text": false}}
JSON
check "prov on 1 rank" qz_mpi 1 run prov.json -o prov-1.h5 --no-progress
check "prov on 2 ranks" qz_mpi 2 run prov.json -o prov-2.h5 --no-progress
check "prov: 2 ranks identical to 1 rank, provenance included" h5same prov-1.h5 prov prov-2.h5 prov
check "gexec (exec generator) runs" qz_mpi 1 run gexec.json -o gexec.h5 --no-progress
check "select from prov's archive" "$QZ_BIN" select prov-1.h5 --run prov --q 0.1 -o sel.h5 --no-progress

# The python3 the ranks find: mpirun started by its full path puts its own directory
# first on their PATH.
ranks_python=$(timeout 60 "$QZ_MPIEXEC" -n 1 "$QZ_PYTHON" -c 'import shutil; print(shutil.which("python3"))')
check "the provenance attributes hold what they say" "$QZ_PYTHON" - "$QZ_EXAMPLE_PLUGIN" "$ranks_python" <<'PY'
import hashlib, socket, sys
import h5py
plugin, python3 = sys.argv[1], sys.argv[2]
sha = lambda path: hashlib.sha256(open(path, "rb").read()).hexdigest()
text = lambda v: v.decode() if isinstance(v, bytes) else v
fail = []
def want(what, ok):
    if not ok:
        fail.append(what)
a = {k: text(v) for k, v in h5py.File("prov-2.h5", "r")["runs/prov"].attrs.items()}
want("host_name %r" % a.get("host_name"), a.get("host_name") == socket.gethostname())
want("hosts %r" % a.get("hosts"), a.get("hosts") == 1)
want("source_revision %r" % a.get("source_revision"), bool(a.get("source_revision")))
want("compiler %r" % a.get("compiler"), a.get("compiler", "").split(" ")[0] in ("gcc", "clang"))
want("mpi_library %r" % a.get("mpi_library"), a.get("mpi_library") and "\n" not in a["mpi_library"])
want("hdf5_version %r" % a.get("hdf5_version"), a.get("hdf5_version") == h5py.version.hdf5_version)
for k in ("curl_version", "cjson_version", "glibc_version"):
    want("%s %r" % (k, a.get(k)), bool(a.get(k)) and a[k][0].isdigit())
want("draw_kernel %r" % a.get("draw_kernel"), a.get("draw_kernel") in ("avx512", "avx2", "portable"))
want("job_sha256", a.get("job_sha256") == sha("prov.json"))
want("generator_sha256 (plugin)", a.get("generator_sha256") == sha(plugin))
want("no tasks/utility/cost digests", not {"tasks_sha256", "utility_sha256", "cost_sha256"} & set(a))
g = {k: text(v) for k, v in h5py.File("gexec.h5", "r")["runs/gexec"].attrs.items()}
want("generator_sha256 (exec: %s on PATH)" % python3, g.get("generator_sha256") == sha(python3))
want("gexec job_sha256", g.get("job_sha256") == sha("gexec.json"))
s = h5py.File("sel.h5", "r")["runs"]
s = {k: text(v) for k, v in s[list(s.keys())[0]].attrs.items()}
want("select: no job or generator digest", not {"job_sha256", "generator_sha256"} & set(s))
want("select: host and versions", s.get("host_name") == socket.gethostname() and s.get("hdf5_version"))
for f in fail:
    print("wrong:", f)
sys.exit(1 if fail else 0)
PY

"$QZ_BIN" inspect prov-1.h5 > inspect.txt
check "inspect shows the provenance" bash -c "grep -q '^  job SHA-256:  *[0-9a-f]\{64\}\$' inspect.txt &&
    grep -q '^  hosts:  *1\$' inspect.txt && grep -q '^  draw kernel:  *\(avx512\|avx2\|portable\)\$' inspect.txt"
"$QZ_BIN" inspect prov-1.h5 --json > inspect.json
check "inspect --json has them" "$QZ_PYTHON" -c '
import json, sys
a = json.load(open("inspect.json"))["runs"][0]["attrs"]
sys.exit(0 if len(a["generator_sha256"]) == 64 and a["hosts"] == 1 else 1)'
check "report writes a page" "$QZ_BIN" report prov-1.h5 -o prov.html
check "report shows them" bash -c \
    "grep -q '<tbody class=\"provenance\">' prov.html && grep -q '<tr data-attr=\"job_sha256\">' prov.html"
finish
