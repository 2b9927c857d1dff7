"""What the example exec programs (generator.py, scorer.py) share: whole stderr lines
and a crash that happens once among all the processes sharing a marker file."""

import os


def say(line):
    """One line to stderr in one write(2): under mpirun, other ranks' lines (and
    quantilize's) interleave only between whole lines. print() may write the text and
    the newline in two calls (it does with PYTHONUNBUFFERED=1)."""
    os.write(2, (line + "\n").encode())


def crash_once(marker):
    """True the first time any process asks with this marker file (created exclusively,
    so that of several co-processes racing for it, only one crashes); always True
    without a marker."""
    if not marker:
        return True
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True
