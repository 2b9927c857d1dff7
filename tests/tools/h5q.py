#!/usr/bin/python3
"""Small queries on HDF5 files for the shell tests (h5py; strings come back as str).

    h5q.py attr FILE PATH NAME          print attribute NAME of the object at PATH
    h5q.py get FILE PATH                print a dataset's values, one per line
    h5q.py len FILE PATH                print a dataset's length
    h5q.py sum FILE PATH                print the sum of a dataset's values
    h5q.py keys FILE PATH               print a group's members, sorted, one per line
    h5q.py runs FILE                    print every run (and task run NAME/tasks/ID)
    h5q.py cmp FILE PATH FILE2 PATH2 NAME...
                                        attributes NAME... are equal on both objects
    h5q.py assert FILE PATH EXPR...     every Python expression EXPR is true

PATH is relative to the file's root ("runs/NAME", "runs/NAME/top/utility", "/" for
the root). In an assert expression:
    g       the object at PATH              a     its attributes (a dict, str not bytes)
    f       the file                        v(P)  the values of dataset P (relative to
    h5(F)   another file, opened to read          g; strings as a list of str)
    np, json, math
A failed cmp or assert prints the expression that is false and the value of every
operand of its comparisons, then exits 1. Exit 2: a file, path or name not found, or
an expression that raises (its error is printed).

h5py 3 returns variable-length strings as bytes from datasets (and str from
attributes); every value this tool hands out or prints is decoded to str.
"""

import ast
import json
import math
import os
import sys

import h5py
import numpy as np


def usage(message):
    os.write(2, f"h5q: {message}\n".encode())  # one write: a whole line, even under mpirun
    sys.exit(2)


def text(x):
    return x.decode("utf-8") if isinstance(x, bytes) else x


def decoded(value):
    """A value read from HDF5 with every byte string turned into str."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.dtype.kind in "OS":
        return [decoded(x) for x in value.tolist()]
    return value


def attrs(obj):
    return {k: decoded(obj.attrs[k]) for k in obj.attrs}


def dataset(obj, path):
    d = obj[path]
    if not isinstance(d, h5py.Dataset):
        usage(f"{d.name}: not a dataset")
    return decoded(d[()])


def open_file(name):
    try:
        return h5py.File(name, "r")
    except OSError as e:
        usage(f"{name}: cannot open: {e}")


def member(f, path):
    if path in ("", "/"):
        return f
    if path not in f:
        usage(f"{f.filename}: no {path}")
    return f[path]


def attr(obj, name):
    if name not in obj.attrs:
        usage(f"{obj.file.filename}: {obj.name} has no attribute {name}")
    return decoded(obj.attrs[name])


def show(value):
    """repr, shortened: what a failure message shows of a value."""
    s = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return s if len(s) <= 300 else s[:300] + f"... ({len(s)} characters)"


def explain(source, names):
    """The operands of every comparison in the false parts of expression `source`."""
    lines = []

    def walk(node):
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            for part in node.values:  # the first false operand is the reason
                if not evaluate(part):
                    walk(part)
                    return
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            walk(node.operand)
        elif isinstance(node, ast.Compare):
            for part in [node.left] + node.comparators:
                try:
                    ast.literal_eval(part)  # a literal shows itself
                except ValueError:
                    segment = ast.get_source_segment(source, part)
                    lines.append(f"    {segment} = {show(evaluate(part))}")

    def evaluate(node):
        try:
            return eval(compile(ast.Expression(node), "<expr>", "eval"), names)
        except Exception as e:  # noqa: BLE001 - shown, not handled
            return f"<{type(e).__name__}: {e}>"

    walk(ast.parse(source, mode="eval").body)
    return lines


def check(source, names):
    source = f"({source.strip()})"  # an expression may span lines
    try:
        ok = eval(source, names)
    except Exception as e:  # noqa: BLE001 - an expression that cannot run is a usage error
        usage(f"{source}: {type(e).__name__}: {e}")
    if isinstance(ok, np.ndarray):
        ok = ok.all()
    if ok:
        return True
    print(f"false: {source[1:-1]}")
    for line in explain(source, names):
        print(line)
    return False


def run_paths(group, prefix=""):
    """Every run below /runs, task runs as NAME/tasks/ID, sorted."""
    out = []
    for name in sorted(group):
        out.append(prefix + name)
        if "tasks" in group[name]:
            out += run_paths(group[name]["tasks"], prefix + name + "/tasks/")
    return out


def main(argv):
    if len(argv) == 2 and argv[0] == "runs":
        f = open_file(argv[1])
        for path in run_paths(f["runs"]) if "runs" in f else []:
            print(path)
        return 0
    if len(argv) < 3:
        usage("usage: h5q.py attr|get|len|sum|keys|runs|cmp|assert FILE PATH ... (see its docstring)")
    verb, f = argv[0], open_file(argv[1])
    obj = member(f, argv[2])
    rest = argv[3:]
    if verb == "attr" and len(rest) == 1:
        value = attr(obj, rest[0])
        print(" ".join(map(str, value)) if isinstance(value, (list, np.ndarray)) else value)
    elif verb == "get" and not rest:
        value = dataset(f, obj.name)
        for x in (value if isinstance(value, (list, np.ndarray)) else [value]):
            print(x)
    elif verb == "len" and not rest:
        print(len(obj))
    elif verb == "sum" and not rest:
        print(np.sum(obj[()]))
    elif verb == "keys" and not rest:
        for name in sorted(obj):
            print(name)
    elif verb == "cmp" and len(rest) >= 3:
        other = member(open_file(rest[0]), rest[1])
        same = True
        for name in rest[2:]:
            x, y = attr(obj, name), attr(other, name)
            if not np.array_equal(x, y):
                print(f"{name}: {show(x)} in {argv[1]} {argv[2]}, {show(y)} in {rest[0]} {rest[1]}")
                same = False
        return 0 if same else 1
    elif verb == "assert" and rest:
        names = {"f": f, "g": obj, "a": attrs(obj), "v": lambda p: dataset(obj, p),
                 "h5": open_file, "np": np, "json": json, "math": math, "text": text}
        results = [check(source, names) for source in rest]
        return 0 if all(results) else 1
    else:
        usage(f"{verb}: unknown verb or wrong arguments (see the docstring of {sys.argv[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
