"""Sort the surviving mutants of ``scripts/mutation.sh`` by kind, and check each is explained.

    python scripts/mutation_survivors.py mutation-results/survivor_diffs.txt [KIND]

Reads the ``mutmut show`` diffs the script writes and the reviewed explanations in
``scripts/mutation_explained.tsv`` (one line per surviving mutant: name, kind letter,
why no test kills it). Prints how many survivors fall in each kind, how many of them
are explained, and the names of any that are not; with KIND (a letter), the names of
that kind's mutants. A survivor without an explanation is sorted by a pattern on the
mutated line, a first cut for review, not a proof of equivalence:

A  speed or placement only (device, NumPy fast path, chunking, buffers, copies)
B  a dtype conversion of data that already has that dtype
C  a branch for empty input that the callers never pass
D  a loop bound changed by one (an extra or a missing pass that does nothing)
E  a margin or error-bound constant changed (2**-40 -> 2**-41, gamma_{d+2} -> gamma_{d+3})
F  a boundary comparison (< for <=) at values the inputs do not hit exactly
G  a reported field (info keys, statistics)
H  anything else: a test should kill it
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

KINDS = {
    "A": "speed or placement only",
    "B": "dtype conversion of data already of that dtype",
    "C": "branch for empty input the callers never pass",
    "D": "loop bound changed by one",
    "E": "margin or error-bound constant",
    "F": "boundary comparison (< for <=)",
    "G": "reported field",
    "H": "other: a test should kill it",
}
_OP = re.compile(r"<=|>=|<|>|==|!=")
_NUM = re.compile(r"[0-9.]+")


def _blocks(text: str):
    name, minus, plus = None, [], []
    for line in text.splitlines():
        if line.startswith("# ") and line.rstrip().endswith(("survived", "no tests", "suspicious")):
            if name:
                yield name, " ".join(minus), " ".join(plus)
            name, minus, plus = line[2:].rsplit(":", 1)[0], [], []
        elif line.startswith("-") and not line.startswith("---"):
            minus.append(line[1:].strip())
        elif line.startswith("+") and not line.startswith("+++"):
            plus.append(line[1:].strip())
    if name:
        yield name, " ".join(minus), " ".join(plus)


def kind(minus: str, plus: str) -> str:
    """The letter of a mutant's kind, from its removed and added lines."""
    only_numbers = _NUM.sub("N", minus) == _NUM.sub("N", plus) and minus != plus
    only_op = _OP.sub("OP", minus) == _OP.sub("OP", plus) and minus != plus
    if re.search(
        r"device=|_is_numpy|numpy_path|grid_data|chunk_rows|bufs\[|out=|copy=|4096|_device\(", minus
    ):
        return "A"
    if "dtype=" in minus:
        return "B"
    if re.search(r"default=|\.size\b|if len\(|if out\b|if positive", minus) and re.search(
        r"default=|or True|and False|else", minus + plus
    ):
        return "C"
    if re.search(r'"[a-z_0-9]+":|stats\[|info\[', minus):
        return "G"
    if "range(" in minus and (only_numbers or "range(" in plus):
        return "D"
    if only_numbers or (only_op and re.search(r"_EPS|gamma|\*\*|noise|tiny|_SEARCH", minus)):
        return "E"
    if only_op:
        return "F"
    return "H"


EXPLAINED = Path(__file__).with_name("mutation_explained.tsv")


def explanations(path: Path = EXPLAINED) -> dict[str, tuple[str, str]]:
    """``{mutant name: (kind letter, reason)}`` from the reviewed list (``#`` comments skipped)."""
    out = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, letter, reason = (line.split("\t") + ["", ""])[:3]
        if letter not in KINDS or not reason.strip():
            raise SystemExit(
                f"{path.name}:{number}: expected NAME<tab>KIND<tab>REASON, got {line!r}"
            )
        out[name.strip()] = (letter, reason.strip())
    return out


def main(argv: list[str]) -> int:
    by_kind, missing, seen = defaultdict(list), [], set()
    known = explanations() if EXPLAINED.exists() else {}
    with open(argv[0], encoding="utf-8") as f:
        for name, minus, plus in _blocks(f.read()):
            seen.add(name)
            if name in known:
                by_kind[known[name][0]].append(name)
            else:
                by_kind[kind(minus, plus)].append(name)
                missing.append(name)
    if len(argv) > 1:
        print("\n".join(by_kind[argv[1]]))
        return 0
    for k, label in KINDS.items():
        print(f"  {k} {len(by_kind[k]):5d}  {label}")
    print(f"explained in {EXPLAINED.name}: {len(seen) - len(missing)} of {len(seen)} survivors")
    stale = len(set(known) - seen)
    if stale:
        print(
            f"{stale} explained mutants did not survive this run (killed, renumbered by an edit, or not mutated)"
        )
    if missing:
        print(f"not yet explained ({len(missing)}; sorted above by pattern):")
        print("\n".join(f"  {name}" for name in missing))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
