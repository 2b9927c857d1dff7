#!/usr/bin/env bash
# Any K: K = 1, 2, 10^5 and K past the gather limit (distributed selection and a
# collective top/ write) at 1 and 3 ranks give records equal to a full sort of all
# samples by an independent numpy reference; gathered and distributed paths agree.
. "$(dirname "$0")/../lib.sh"

job() { # job NAME BODY
    printf '{"name": "%s", %s}\n' "$1" "$2" > "$QZ_TMP/$1.json"
}
uni='"generator": {"kind": "uniform", "low": 0, "high": 1}'
job k1 "\"seed\": 21, \"q\": 1e-7, \"samples\": 200000, \"chunk_size\": 5000, $uni"
job k2 "\"seed\": 22, \"q\": 1e-5, \"samples\": 200000, \"chunk_size\": 5000, $uni"
job k100000 "\"seed\": 23, \"q\": 0.1, \"samples\": 1000000, $uni"
# K = 15001 (m = 15000.6) above a gather limit of 1000: distributed.
job kdist "\"seed\": 24, \"q\": 0.05, \"samples\": 300012, \"chunk_size\": 7001, $uni,
  \"output\": {\"top_gather_limit\": 1000}"
# The same samples gathered (limit above K): must give the same record.
job kdist_gathered "\"seed\": 24, \"q\": 0.05, \"samples\": 300012, \"chunk_size\": 7001, $uni"
# Heavy ties and excluded invalid samples on the distributed path.
job kties "\"seed\": 25, \"q\": 0.2, \"samples\": 100000, \"chunk_size\": 3333,
  \"invalid\": \"exclude\", \"generator\": {\"kind\": \"mixture\", \"components\": [
    {\"weight\": 0.97, \"generator\": {\"kind\": \"discrete_uniform\", \"low\": 0, \"high\": 20}},
    {\"weight\": 0.03, \"cost\": 1, \"generator\": {\"kind\": \"fail\"}}]},
  \"cost\": {\"kind\": \"component\"}, \"output\": {\"top_gather_limit\": 100}"
# Distributed, top/ not stored.
job knotop "\"seed\": 26, \"q\": 0.05, \"samples\": 100000, $uni,
  \"output\": {\"top_gather_limit\": 10, \"top\": false}"

for name in k1 k2 k100000 kdist kdist_gathered kties knotop; do
    for n in 1 3; do
        if ! qz_mpi "$n" run "$QZ_TMP/$name.json" -o "$QZ_TMP/$name-$n.h5" --no-progress \
            > "$QZ_TMP/out.txt" 2>&1; then
            bad "$name on $n ranks exited non-zero: $(cat "$QZ_TMP/out.txt")"
            continue
        fi
        [ "$name" = knotop ] && continue
        check "$name on $n ranks equals the numpy reference" \
            "$QZ_PYTHON" "$QZ_SOURCE/tests/tools/reference.py" "$QZ_TMP/$name-$n.h5" "$name"
    done
    check "$name: 3 ranks identical to 1 rank" \
        h5same "$QZ_TMP/$name-1.h5" "$name" "$QZ_TMP/$name-3.h5" "$name"
done
check "distributed and gathered paths give the same record" \
    h5same "$QZ_TMP/kdist-3.h5" kdist "$QZ_TMP/kdist_gathered-3.h5" kdist_gathered --ignore job
check "top: false writes no top/ group, and the figures are still there" "$QZ_PYTHON" -c "
import h5py, sys
g = h5py.File('$QZ_TMP/knotop-3.h5', 'r')['runs/knotop']
sys.exit(0 if 'top' not in g and g.attrs['top_stored'] == 0 and g.attrs['top_count'] == 5000
         and g.attrs['threshold'] > 0.94 else 1)"
finish
