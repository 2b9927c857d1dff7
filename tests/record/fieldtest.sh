#!/bin/bash
# Adding a figure is one row of the field table: quantilize_fieldtest is quantilize
# with one extra row (test_extra_field = 2 * samples, common/fields.c under
# QZ_FIELD_TEST), and the field shows up in the record, in inspect, in inspect --json
# and in the report without any other change; the plain binary writes no such field.
# Needs QZ_FIELDTEST_BIN.
source "$(dirname "$0")/../lib.sh"
: "${QZ_FIELDTEST_BIN:?the quantilize_fieldtest binary}"
cd "$QZ_TMP" || exit 1

cat > extra.json <<'JSON'
{"name": "extra", "seed": 3, "q": 0.01, "samples": 5000,
 "generator": {"kind": "normal", "mean": 0, "stddev": 1}}
JSON
check "the field-test binary runs a job" "$QZ_FIELDTEST_BIN" run extra.json -o extra.h5 --no-progress
check "the plain binary runs it too" "$QZ_BIN" run extra.json -o plain.h5 --no-progress

check "the record holds test_extra_field = 10000 (uint64)" "$QZ_PYTHON" - <<'PY'
import sys, h5py
a = h5py.File("extra.h5", "r")["runs/extra"].attrs
p = h5py.File("plain.h5", "r")["runs/extra"].attrs
v = a.get("test_extra_field")
print("extra:", v, a.get_id("test_extra_field").dtype if v is not None else None)
sys.exit(0 if v == 10000 and a.get_id("test_extra_field").dtype == "<u8"
         and "test_extra_field" not in p else 1)
PY
"$QZ_FIELDTEST_BIN" inspect extra.h5 > inspect.txt
check "inspect shows it under its label" grep -qx '  test extra field:  *10000' inspect.txt
"$QZ_FIELDTEST_BIN" inspect extra.h5 --json > inspect.json
check "inspect --json has it among the run's attributes" "$QZ_PYTHON" -c '
import json, sys
a = json.load(open("inspect.json"))["runs"][0]["attrs"]
sys.exit(0 if a.get("test_extra_field") == 10000 else 1)'
check "report writes a page" "$QZ_FIELDTEST_BIN" report extra.h5 -o extra.html
check "the report's figures table has its row" \
    grep -q '<tr data-attr="test_extra_field"><th>test extra field</th><td>10000</td></tr>' extra.html
"$QZ_BIN" inspect plain.h5 > plain.txt
check "the plain binary's inspect has no such line" bash -c '! grep -q "test extra field" plain.txt'
finish
