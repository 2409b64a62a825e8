"""Print requirements.txt with every `==` pin dropped: the newest releases, for drift.yml.

Kept as bounds: Jupyter Book stays below 2 (2.x drops _config.yml/_toc.yml and Sphinx). Comments,
blank lines and `-e .` pass through. Usage: python .github/scripts/unpinned.py requirements.txt
"""

from __future__ import annotations

import re
import sys

# Upper bounds that unpinning must keep: the newest release would not be this book's tool.
BOUNDS = {"jupyter-book": "<2"}
PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.\[\]-]+)==[^\s;#]+(?P<rest>.*)$")


def unpin(line: str) -> str:
    match = PIN.match(line.strip())
    if not match:
        return line.rstrip("\n")
    name = match["name"]
    return f"{name}{BOUNDS.get(name.split('[')[0].lower(), '')}{match['rest']}".rstrip()


def main(path: str) -> int:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            print(unpin(line))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: unpinned.py REQUIREMENTS_FILE")
    sys.exit(main(sys.argv[1]))
