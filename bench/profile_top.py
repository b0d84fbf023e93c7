"""The top costs of a py-spy profile in collapsed-stack form (`py-spy record --format raw`).

Each line of such a file is one distinct stack (frames from the outermost, separated by `;`,
each `function (file:line)`) and the number of samples it was seen in. This prints, as shares of
the samples with a stack (py-spy's `--nonblocking` leaves some empty): the self samples by
package (the module where the sample was taken: `sqlalchemy`, `asyncpg`, `t21`, ...), the
functions where the samples were taken (self), and the functions on the stack (inclusive:
counted once per sample however deep they recur), grouped by function and file (lines dropped),
paths shortened to the package. SQLAlchemy's async API runs its work in greenlets, whose stacks
start at the session's method (`Session.execute`), not at the request: so inclusive shares of
request code leave that work out, and the package and self lists are the ones to read.

Run: `.venv/bin/python bench/profile_top.py /tmp/profile/list-10.txt --top 25`
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<path>.*?)(?::\d+)?\)$")
_PACKAGES = ("site-packages/", "/src/", "/lib/python3.11/")


def frame_name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["path"]
    for marker in _PACKAGES:
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['function']} ({path})"


def package(name: str) -> str:
    """`sqlalchemy` of `instances (sqlalchemy/orm/loading.py)`; the module of the standard
    library (`asyncio`, `json`, ...)."""
    path = name.rsplit(" (", 1)[-1].rstrip(")")
    return path.split("/", 1)[0].removesuffix(".py")


def read(path: Path) -> tuple[Counter[str], Counter[str], Counter[str], int]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_name(frame) for frame in stack.split(";") if frame]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        packages[package(frames[-1])] += count
        for name in set(frames):
            inclusive[name] += count
    return own, inclusive, packages, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--match", default="", help="inclusive list: only functions whose name holds this text"
    )
    args = parser.parse_args()
    own, inclusive, packages, total = read(args.profile)
    print(f"{total} samples\n\nself, by package:")
    for name, count in packages.most_common(args.top):
        print(f"  {count / total:6.1%}  {name}")
    print("\nself:")
    for name, count in own.most_common(args.top):
        print(f"  {count / total:6.1%}  {name}")
    print("\ninclusive:")
    shown = [(name, count) for name, count in inclusive.most_common() if args.match in name]
    for name, count in shown[: args.top]:
        print(f"  {count / total:6.1%}  {name}")


if __name__ == "__main__":
    main()
