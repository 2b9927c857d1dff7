#!/usr/bin/env bash
# Any K: K = 1, 2, 10^5 and K past the gather limit (distributed selection and a
# collective top/ write) at 1 and 3 ranks give records equal to a full sort of all
# samples by an independent numpy reference; gathered and distributed paths agree.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

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
    same_at "$name" 1 2 3 || continue
    [ "$name" = knotop ] && continue
    for n in 1 3; do
        check "$name on $n ranks equals the numpy reference" \
            "$QZ_PYTHON" "$QZ_SOURCE/tests/tools/reference.py" "$name-$n.h5" "$name"
    done
done
check "distributed and gathered paths give the same record" \
    h5same kdist-3.h5 kdist kdist_gathered-3.h5 kdist_gathered --ignore job
check "top: false writes no top/ group, and the figures are still there" h5q assert knotop-3.h5 \
    runs/knotop "'top' not in g" "a['top_stored'] == 0" "a['top_count'] == 5000" "a['threshold'] > 0.94"
finish
