#!/usr/bin/env bash
# Rank-count invariance (README, Semantics): the same job gives bit-identical records
# on 1, 2, 3 and 4 ranks (every dataset and attribute except times and the rank
# count), and, for the generators a short numpy program can reproduce, the record
# equals a full sort of all samples.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

job mixture '"seed": 11, "q": 0.003, "samples": 100003, "chunk_size": 1000,
  "generator": {"kind": "mixture", "components": [
    {"weight": 0.999, "generator": {"kind": "normal"}},
    {"weight": 0.001, "cost": 1, "generator": {"kind": "normal", "mean": 3}}]},
  "cost": {"kind": "component"}'
job ties '"seed": 12, "q": 0.05, "samples": 54321, "chunk_size": 777,
  "generator": {"kind": "discrete_uniform", "low": 0, "high": 9}'
job exclude '"seed": 13, "q": 0.01, "samples": 50000, "chunk_size": 999, "invalid": "exclude",
  "generator": {"kind": "mixture", "components": [
    {"weight": 0.98, "generator": {"kind": "uniform", "low": 0, "high": 1}},
    {"weight": 0.02, "cost": 2, "generator": {"kind": "fail"}}]},
  "cost": {"kind": "component"}'
job argmax '"seed": 14, "q": 1e-6, "samples": 20000, "chunk_size": 333,
  "generator": {"kind": "pareto", "scale": 1, "shape": 1.5}'
job everything '"seed": 15, "q": 1, "samples": 5000, "chunk_size": 64,
  "generator": {"kind": "uniform", "low": -1, "high": 1}'
job lognormal '"seed": 16, "q": 0.0123, "samples": 77777, "chunk_size": 4096,
  "generator": {"kind": "lognormal", "mu": 0, "sigma": 2}'

for name in mixture ties exclude argmax everything lognormal; do
    same_at "$name" 1 2 3 4
done

# An independent numpy implementation of Philox and the order checks the records
# of the generators it can reproduce exactly (uniform, discrete_uniform, fail).
for name in ties exclude everything; do
    check "$name: equals a full sort of all samples (numpy reference)" \
        "$QZ_PYTHON" "$QZ_SOURCE/tests/tools/reference.py" "$name-3.h5" "$name"
done

# The ranks' records do record the rank count.
check "ranks attribute records 3" h5q assert mixture-3.h5 runs/mixture "a['ranks'] == 3"
finish
