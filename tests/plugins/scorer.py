#!/usr/bin/python3
"""An example scorer for quantilize's "exec" kind (stdlib and testio.py only).

Protocol: read one JSON request per line, {"texts": [...]} or {"values": [...]}, and
answer one line {"scores": [...]} (the member name: --field) with one number or null
per sample, in order. null marks an invalid sample.

Scores: a text scores score_text(t) (its count of "a" and "o" plus its length / 1000);
a value v scores 1 - v. Texts containing --null-word score null.

Test options that misbehave on purpose:
    --crash-on-batch K [--marker FILE]  exit(3) on the K-th request of this process; with
                                        --marker only the process that creates FILE, so
                                        once across restarts and ranks
    --sleep-on-batch K --sleep S        sleep S seconds before answering the K-th request
    --nan                               answer NaN (which is not JSON)
    --short                             answer one score too few
"""

import argparse
import json
import os
import sys
import time

from testio import crash_once, say


def score_text(t):
    return t.count("a") + t.count("o") + len(t) / 1000.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--field", default="scores")
    ap.add_argument("--null-word")
    ap.add_argument("--crash-on-batch", type=int, default=0)
    ap.add_argument("--marker")
    ap.add_argument("--sleep-on-batch", type=int, default=0)
    ap.add_argument("--sleep", type=float, default=0)
    ap.add_argument("--nan", action="store_true")
    ap.add_argument("--short", action="store_true")
    a = ap.parse_args()
    say(f"scorer.py: ready (pid {os.getpid()})")
    batches = 0
    for line in sys.stdin:
        req = json.loads(line)
        batches += 1
        if batches == a.crash_on_batch and crash_once(a.marker):
            say(f"scorer.py: crashing on purpose at batch {batches}")
            sys.exit(3)
        if batches == a.sleep_on_batch:
            time.sleep(a.sleep)
        if "texts" in req:
            scores = [None if a.null_word and a.null_word in t else score_text(t)
                      for t in req["texts"]]
        else:
            scores = [1.0 - v for v in req["values"]]
        if a.nan:
            scores[0] = float("nan")
        if a.short:
            scores = scores[:-1]
        sys.stdout.write(json.dumps({a.field: scores}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
