#!/usr/bin/python3
"""add_metrics.py FILE.h5 [--control]: add the metric groups and datasets of the
metrics schema (README "The record": metrics/, top/metrics/, sweep/metrics/,
samples/metrics/) to every run (not tasks jobs) of a record made by `quantilize run`,
with values chosen here, so that the readers (report, inspect, export) are tested on
what `run` cannot write: metric names that need escaping, a NaN in a sweep. Runs in
linked files are written through the record file
(h5py follows the external links, opened read-write like the record).

The metrics, in job order:
  gold        scope all, kind http, normal intervals: rises then falls with ln(1/q)
              (the Goodhart shape), while the proxy utility keeps rising
  correct     scope all, kind exact_match, Clopper-Pearson: an accuracy in [0, 1]
  <b>x<i>&"'  scope top, kind value, empirical-Bernstein: a name that needs escaping
  --control adds "ctl\\x1b[31m\\tname" (scope top) to test control characters.

Every value is a function of q (and the position in the top set), so a test
recomputes nothing: it reads the file back with h5py and compares."""
import math
import sys

import h5py
import numpy as np

WEIRD = "<b>x<i>&\"'"  # HDF5 names cannot hold "/"
CONTROL = "ctl\x1b[31m\tname"


def gold(q):
    x = math.log10(1 / q)
    return 1.0 + 1.5 * x - 0.5 * x * x


def correct(q):
    x = math.log10(1 / q)
    return min(1.0, max(0.0, 0.3 + 0.2 * x - 0.04 * x * x))


def weird(q):
    return 10.0 + 100.0 * q


def specs(control):
    m = [("gold", "all", "http", "normal", gold, 0.05),
         ("correct", "all", "exact_match", "clopper-pearson", correct, 0.02),
         (WEIRD, "top", "value", "empirical-bernstein", weird, 0.5)]
    if control:
        m.append((CONTROL, "top", "value", "normal", lambda q: -q, 0.01))
    return m


def add_run(g, control):
    q = float(g.attrs["q"])
    k = int(g.attrs["top_count"])
    n = int(g.attrs["valid_samples"]) if "valid_samples" in g.attrs else int(g.attrs["samples"])
    for order, (name, scope, kind, method, f, half) in enumerate(specs(control)):
        fn = f
        mg = g.require_group("metrics").create_group(name)
        mean = fn(q)
        mg.attrs["scope"] = scope
        mg.attrs["kind"] = kind
        mg.attrs["order"] = np.int32(order)
        mg.attrs["evaluated"] = np.uint64(n if scope == "all" else k)
        mg.attrs["invalid"] = np.uint64(order)
        mg.attrs["quantilized_mean"] = mean
        mg.attrs["quantilized_stderr"] = half / 1.96
        mg.attrs["quantilized_ci_low"] = mean - half
        mg.attrs["quantilized_ci_high"] = mean + half
        mg.attrs["ci_method"] = method
        if scope == "all":
            base = fn(1.0)
            mg.attrs["base_mean"] = base
            mg.attrs["base_stderr"] = half / 4
            mg.attrs["base_ci_low"] = base - half / 2
            mg.attrs["base_ci_high"] = base + half / 2
        if "top" in g:
            v = mean + 0.001 * np.arange(k, 0, -1, dtype="f8")
            if order == 0 and k > 1:
                v[1] = np.nan  # a top-set sample the metric could not score
            g["top"].require_group("metrics")[name] = v
        if "samples" in g and scope == "all":
            count = g["samples/utility"].shape[0]
            g["samples"].require_group("metrics")[name] = mean + 1e-6 * np.arange(count)
        if "sweep" in g:
            qs = g["sweep/q"][:]
            sm = g["sweep"].require_group("metrics").create_group(name)
            means = np.array([fn(float(x)) for x in qs])
            if order == 2:
                means[-1] = np.nan  # a q whose top set had a NaN value
            sm["mean"] = means
            sm["stderr"] = np.full(qs.size, half / 1.96)
            sm["ci_low"] = means - half * (1 + np.arange(qs.size)) / qs.size
            sm["ci_high"] = means + half * (1 + np.arange(qs.size)) / qs.size


def main():
    path = sys.argv[1]
    control = "--control" in sys.argv[2:]
    with h5py.File(path, "a") as f:
        for name in sorted(f["runs"]):
            g = f["runs"][name]
            if "tasks" not in g:  # a tasks job's metrics come from `run` itself
                add_run(g, control)


if __name__ == "__main__":
    main()
