#!/usr/bin/python3
"""A slow text generator for quantilize's "exec" kind (tests/stop/stop.sh).

    slow_gen.py SECONDS_PER_SAMPLE [COUNT_FILE [HANG_INDEX MARKER]]

Answers each request {"first": F, "count": N, "seed": S} after sleeping N times
SECONDS_PER_SAMPLE, with one line per sample i: {"index": i, "text": T} where T
depends only on (S, i). With COUNT_FILE (or "-"), appends one line "N" per answered
request (O_APPEND: several processes may share it), so a test can count the samples
drawn. With HANG_INDEX and MARKER: a request holding sample HANG_INDEX, when the file
MARKER does not exist yet, creates it and never answers (until killed).
"""

import hashlib
import json
import os
import sys
import time

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
         "kappa", "lambda", "mu", "banana", "caf\u00e9", "\u65e5\u672c"]


def text(seed, i):
    h = hashlib.sha256(f"slow:{seed}:{i}".encode()).digest()
    return " ".join(WORDS[b % len(WORDS)] for b in h[1:2 + h[0] % 12])


def main():
    delay = float(sys.argv[1])
    count_file = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] != "-" else None
    hang = int(sys.argv[3]) if len(sys.argv) > 4 else -1
    marker = sys.argv[4] if len(sys.argv) > 4 else None
    for line in sys.stdin:
        req = json.loads(line)
        first, count, seed = req["first"], req["count"], req["seed"]
        if first <= hang < first + count:
            try:
                os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                time.sleep(3600)
            except FileExistsError:
                pass
        time.sleep(delay * count)
        out = [json.dumps({"index": i, "text": text(seed, i)}) for i in range(first, first + count)]
        sys.stdout.write("\n".join(out) + "\n")
        sys.stdout.flush()
        if count_file:
            fd = os.open(count_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(fd, f"{count}\n".encode())
            os.close(fd)


if __name__ == "__main__":
    main()
