#!/usr/bin/python3
"""An example generator for quantilize's "exec" kind (stdlib and testio.py only).

Protocol: read one JSON request per line, {"first": F, "count": N, "seed": S}, and
answer N lines, one per sample i = F .. F+N-1 in order:
    {"index": i, "text": "..."}     (default)
    {"index": i, "value": 0.123}    (--numbers)
    {"index": i, "error": "why"}    (a failed sample: every --fail-every-th index)
Sample i depends only on (S, i), so quantilize gives the same record at any rank count.

Test options that misbehave on purpose:
    --crash-on-request K [--marker FILE]  exit(3) on the K-th request (with --marker, only
                                          the process that creates FILE: once in all)
    --wrong-index-at I                    answer sample I with index I + 1
    --garbage-at I                        answer sample I with a line that is not JSON
"""

import argparse
import hashlib
import json
import os
import sys

from testio import crash_once, say

WORDS = ["alpha", "beta", "gamma", "delta", "quote\"d", "back\\slash", "tab\there",
         "line\nbreak", "caf\u00e9", "\u65e5\u672c", "emoji\U0001F600", "a", "good", "fine"]


def unit(seed, i):
    """A number in [0, 1) from (seed, i) alone."""
    h = hashlib.sha256(f"{seed}:{i}".encode()).digest()
    return int.from_bytes(h[:8], "little") / 2.0**64


def text(seed, i):
    """A text of 1 to 8 words from (seed, i) alone."""
    h = hashlib.sha256(f"text:{seed}:{i}".encode()).digest()
    return " ".join(WORDS[b % len(WORDS)] for b in h[1:2 + h[0] % 8])


def failed(i, every):
    return every > 0 and i % every == every - 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--numbers", action="store_true")
    ap.add_argument("--fail-every", type=int, default=0)
    ap.add_argument("--crash-on-request", type=int, default=0)
    ap.add_argument("--marker")
    ap.add_argument("--wrong-index-at", type=int, default=-1)
    ap.add_argument("--garbage-at", type=int, default=-1)
    a = ap.parse_args()
    say(f"generator.py: ready (pid {os.getpid()})")
    requests = 0
    for line in sys.stdin:
        req = json.loads(line)
        requests += 1
        if requests == a.crash_on_request and crash_once(a.marker):
            say("generator.py: crashing on purpose")
            sys.exit(3)
        first, count, seed = req["first"], req["count"], req["seed"]
        out = []
        for i in range(first, first + count):
            if i == a.garbage_at:
                out.append("this is not JSON")
                continue
            index = i + 1 if i == a.wrong_index_at else i
            if failed(i, a.fail_every):
                out.append(json.dumps({"index": index, "error": "failed on purpose"}))
            elif a.numbers:
                out.append(json.dumps({"index": index, "value": unit(seed, i)}))
            else:
                t = text(seed, i)
                out.append(json.dumps({"index": index, "text": t,
                                       "logprob_sum": -0.5 * len(t), "tokens": len(t.split())}))
        sys.stdout.write("\n".join(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
