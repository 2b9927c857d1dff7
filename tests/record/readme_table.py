#!/usr/bin/python3
"""Check the README's table of run attributes against the record's field table.

    readme_table.py FIELDS_DUMP README.md

FIELDS_DUMP is the fields_dump program (tests/record/fields_dump.c). The README table
is the one whose header row is `| attribute | type | units | meaning |`: each row
names one or more attributes in backticks in its first cell (`selected/NAME` for an
attribute of the selected/ group), and its type and units (— for none) hold for
every name in the row. Every field must be in the README with the same type and
units, and the README must list no attribute the program lacks. Also checks the
table itself: names unique per group, sections in display order. Exit 0 when all
agree, 1 listing each difference.
"""

import re
import subprocess
import sys

SECTIONS = ["run", "safety", "selected", "timing", "checkpoints", "generator", "source",
            "provenance", "job"]


def program_fields(dump):
    rows = []
    for line in subprocess.run([dump], check=True, capture_output=True, text=True).stdout.splitlines():
        group, name, type_, units, section = line.split("\t")
        rows.append((group, name, type_, units, section))
    return rows


def readme_fields(path):
    """{(group, name): (type, units)} from the README's attribute table."""
    lines = open(path, encoding="utf-8").read().splitlines()
    header = [i for i, l in enumerate(lines)
              if [c.strip() for c in l.strip().strip("|").split("|")] == ["attribute", "type", "units", "meaning"]]
    if len(header) != 1:
        raise SystemExit(f"{path}: expected one table headed | attribute | type | units | meaning |, found {len(header)}")
    fields, problems = {}, []
    for line in lines[header[0] + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4:
            problems.append(f"README row with {len(cells)} cells: {line}")
            continue
        names = re.findall(r"`([^`]+)`", cells[0])
        units = "" if cells[2] in ("—", "-", "") else cells[2]
        if not names:
            problems.append(f"README row names no attribute: {line}")
        for n in names:
            group, name = ("selected", n[len("selected/"):]) if n.startswith("selected/") else ("run", n)
            if (group, name) in fields:
                problems.append(f"README lists {n} twice")
            fields[(group, name)] = (cells[1], units)
    return fields, problems


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    rows = program_fields(sys.argv[1])
    readme, problems = readme_fields(sys.argv[2])
    seen, last = set(), -1
    for group, name, type_, units, section in rows:
        shown = name if group == "run" else f"selected/{name}"
        if (group, name) in seen:
            problems.append(f"the field table lists {shown} twice")
        seen.add((group, name))
        if SECTIONS.index(section) < last:
            problems.append(f"{shown}: section {section} out of display order")
        last = max(last, SECTIONS.index(section))
        if (group, name) not in readme:
            problems.append(f"{shown}: in the field table, not in the README")
        elif readme[(group, name)] != (type_, units):
            problems.append(f"{shown}: README says {readme[(group, name)]}, the field table ({type_!r}, {units!r})")
    for key in sorted(set(readme) - seen):
        problems.append(f"{key[1] if key[0] == 'run' else 'selected/' + key[1]}: in the README, not in the field table")
    for p in problems:
        print(p)
    print(f"{len(rows)} fields, {len(readme)} README attributes, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
