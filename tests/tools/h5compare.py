#!/usr/bin/python3
"""Compare two runs of quantilize record files, bit for bit.

    h5compare.py A.h5 RUN_A B.h5 RUN_B [--ignore NAME ...]

Walks /runs/RUN_A in A.h5 and /runs/RUN_B in B.h5 recursively and compares every
attribute and dataset: the same names on both sides, the same stored type and
shape, and the same values (floats bit for bit, except that NaN equals NaN).
Attributes that differ between otherwise identical runs are ignored by default:
started, finished, wall_seconds, samples_per_second, ranks, and the per-phase times
and peak memory (draw_seconds, select_seconds, write_seconds, peak_rss_bytes_max,
peak_rss_bytes_root), and how it was checkpointed (checkpoints, checkpoint_seconds,
resumes, samples_redone, outage_checkpoints). --ignore NAME adds
an attribute (or member) name, or a path relative to the run such as
"selected/cost" or "top/cost".

Prints each difference and exits 1 if there is any, else prints
"identical: N attributes, M datasets" and exits 0. Exit 2 on usage errors
(bad arguments, a file or run that cannot be opened).

Needs h5py and numpy: run it with /usr/bin/python3 on Debian.
"""

import argparse
import os
import sys

import h5py
import numpy as np

DEFAULT_IGNORED = ("started", "finished", "wall_seconds", "samples_per_second", "ranks",
                   "draw_seconds", "select_seconds", "write_seconds", "peak_rss_bytes_max",
                   "peak_rss_bytes_root", "checkpoints", "checkpoint_seconds", "resumes",
                   "samples_redone", "outage_checkpoints")


def type_key(dtype):
    """What must match about a stored type: numpy dtype and, for strings, encoding."""
    info = h5py.check_string_dtype(dtype)
    if info is not None:
        return ("string", info.encoding, info.length)
    return ("numeric", dtype.str, dtype.descr if dtype.fields else None)


def same_values(a, b):
    """Exact equality: bytes for fixed-size data (NaN == NaN), == for objects."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "O" or b.dtype.kind == "O" or a.dtype.kind in "US":
        if a.dtype.kind != b.dtype.kind:
            return False
        return all(x == y for x, y in zip(a.ravel().tolist(), b.ravel().tolist()))
    if a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc":
        nan = np.isnan(a) & np.isnan(b)
        if nan.any():
            a = np.where(nan, np.zeros_like(a), a)
            b = np.where(nan, np.zeros_like(b), b)
    return a.tobytes() == b.tobytes()


def show(value, limit=80):
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Comparison:
    def __init__(self, ignored):
        self.ignored = set(ignored)
        if "job" in self.ignored:  # the job file's digests differ with the job
            self.ignored |= {"job_sha256", "tasks_sha256"}
        self.differences = []
        self.attributes = 0
        self.datasets = 0

    def skip(self, rel, name):
        return name in self.ignored or rel in self.ignored

    def differ(self, rel, what):
        self.differences.append(f"{rel or '.'}: {what}")

    def names(self, rel, kind, a_names, b_names):
        """The names present on both sides (not ignored); reports the others."""
        a_names = {n for n in a_names if not self.skip(join(rel, n), n)}
        b_names = {n for n in b_names if not self.skip(join(rel, n), n)}
        for n in sorted(a_names - b_names):
            self.differ(join(rel, n), f"{kind} only in A")
        for n in sorted(b_names - a_names):
            self.differ(join(rel, n), f"{kind} only in B")
        return sorted(a_names & b_names)

    def compare_attrs(self, rel, a, b):
        for name in self.names(rel, "attribute", a.attrs.keys(), b.attrs.keys()):
            where = join(rel, name) if rel else name
            self.attributes += 1
            ta = type_key(a.attrs.get_id(name).dtype)
            tb = type_key(b.attrs.get_id(name).dtype)
            va, vb = a.attrs[name], b.attrs[name]
            if ta != tb:
                self.differ(where, f"attribute type {ta} != {tb}")
            elif not same_values(va, vb):
                self.differ(where, f"attribute {show(va)} != {show(vb)}")

    def compare(self, rel, a, b):
        self.compare_attrs(rel, a, b)
        if not isinstance(a, h5py.Group):
            return
        for name in self.names(rel, "member", a.keys(), b.keys()):
            where = join(rel, name)
            la, lb = a.get(name, getlink=True), b.get(name, getlink=True)
            if type(la) is not type(lb):
                self.differ(where, f"link {type(la).__name__} != {type(lb).__name__}")
                continue
            if isinstance(la, h5py.SoftLink):
                if la.path != lb.path:
                    self.differ(where, f"soft link {la.path} != {lb.path}")
                continue
            if isinstance(la, h5py.ExternalLink):
                if (la.filename, la.path) != (lb.filename, lb.path):
                    self.differ(where, "external link targets differ")
                continue
            oa, ob = a[name], b[name]
            if type(oa) is not type(ob):
                self.differ(where, f"{type(oa).__name__} != {type(ob).__name__}")
            elif isinstance(oa, h5py.Dataset):
                self.compare_dataset(where, oa, ob)
            else:
                self.compare(where, oa, ob)

    def compare_dataset(self, rel, a, b):
        self.datasets += 1
        self.compare_attrs(rel, a, b)
        ta, tb = type_key(a.dtype), type_key(b.dtype)
        if ta != tb:
            self.differ(rel, f"dataset type {ta} != {tb}")
        elif a.shape != b.shape:
            self.differ(rel, f"dataset shape {a.shape} != {b.shape}")
        else:
            va, vb = a[()], b[()]
            if not same_values(va, vb):
                self.differ(rel, f"dataset values differ ({first_difference(va, vb)})")


def first_difference(a, b):
    a, b = np.atleast_1d(np.asarray(a)), np.atleast_1d(np.asarray(b))
    for i, (x, y) in enumerate(zip(a.ravel().tolist(), b.ravel().tolist())):
        if not same_values(np.asarray([x]), np.asarray([y])):
            return f"first at [{i}]: {x!r} != {y!r}"
    return "bit patterns differ"


def join(rel, name):
    return f"{rel}/{name}" if rel else name


def open_run(path, run):
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise SystemExit(usage_error(f"{path}: cannot open: {e}"))
    key = f"runs/{run}"
    if key not in f or not isinstance(f[key], h5py.Group):
        f.close()
        raise SystemExit(usage_error(f"{path}: no run {run!r} under /runs"))
    return f, f[key]


def usage_error(message):
    os.write(2, f"h5compare: {message}\n".encode())  # one write(2): a whole line
    return 2


def main(argv):
    parser = argparse.ArgumentParser(
        description="Compare two quantilize runs bit for bit (exit 0 identical, 1 different, 2 usage)."
    )
    parser.add_argument("file_a")
    parser.add_argument("run_a")
    parser.add_argument("file_b")
    parser.add_argument("run_b")
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="NAME",
        help="also ignore this attribute/member name or run-relative path (repeatable)",
    )
    args = parser.parse_args(argv)  # exits 2 on usage errors

    fa, ra = open_run(args.file_a, args.run_a)
    fb, rb = open_run(args.file_b, args.run_b)
    try:
        cmp = Comparison(DEFAULT_IGNORED + tuple(args.ignore))
        cmp.compare("", ra, rb)
    finally:
        fa.close()
        fb.close()

    for d in cmp.differences:
        print(d)
    if cmp.differences:
        print(f"different: {len(cmp.differences)} difference(s)")
        return 1
    print(f"identical: {cmp.attributes} attributes, {cmp.datasets} datasets")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
