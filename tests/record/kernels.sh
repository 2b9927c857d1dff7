#!/bin/bash
# The draw kernels give the same record: a mixture job (scaled normals, component
# words, tie keys) with every sample archived, on 2 ranks with an odd chunk size, under
# each kernel forced by QZ_DRAW_KERNEL; the records are identical except draw_kernel,
# which names the kernel that ran. A kernel this CPU lacks is said so and not compared.
source "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

job kern '"seed": 1301, "q": 0.003, "samples": 300001, "chunk_size": 29999,
  "generator": {"kind": "mixture", "components": [
    {"weight": 0.7, "cost": 0, "generator": {"kind": "normal", "mean": 0.5, "stddev": 3}},
    {"weight": 0.2, "cost": 1, "generator": {"kind": "lognormal"}},
    {"weight": 0.1, "cost": 2, "generator": {"kind": "uniform", "low": -1, "high": 4}}]},
  "utility": {"kind": "value"}, "cost": {"kind": "component"},
  "output": {"archive": "all"}'

have_avx512=0
grep -qw avx512f /proc/cpuinfo && grep -qw avx512dq /proc/cpuinfo &&
    grep -qw avx512vl /proc/cpuinfo && have_avx512=1
have_avx2=0
grep -qw avx2 /proc/cpuinfo && have_avx2=1

ran=()
for k in portable avx2 avx512; do
    if [ "$k" = avx512 ] && [ "$have_avx512" = 0 ]; then
        echo "this CPU has no AVX-512 (F, DQ, VL): the avx512 kernel is not compared"
        continue
    fi
    if [ "$k" = avx2 ] && [ "$have_avx2" = 0 ]; then
        echo "this CPU has no AVX2: the avx2 kernel is not compared"
        continue
    fi
    export QZ_DRAW_KERNEL=$k
    check "kern under QZ_DRAW_KERNEL=$k" qz_mpi 2 run kern.json -o "kern-$k.h5" --no-progress
    unset QZ_DRAW_KERNEL
    check "kern-$k records draw_kernel $k" test "$(attr "kern-$k.h5" kern draw_kernel)" = "$k"
    [ "$k" = portable ] || check "kern: $k record identical to portable" \
        h5same kern-portable.h5 kern "kern-$k.h5" kern --ignore draw_kernel
    ran+=("$k")
done
check "the archive holds every sample" test "$(h5q len kern-portable.h5 runs/kern/samples/value)" = 300001
# Without QZ_DRAW_KERNEL the fastest kernel the CPU has runs.
check "kern with the default kernel" qz_mpi 1 run kern.json -o kern-default.h5 --no-progress
check "the default is the fastest kernel here (${ran[-1]})" \
    test "$(attr kern-default.h5 kern draw_kernel)" = "${ran[-1]}"
finish
