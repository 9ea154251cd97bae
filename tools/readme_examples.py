"""The README's console examples, run for real.

Every fenced ``console`` block of README.md is a sequence of ``$ planner ...`` commands (a line
ending in ``\\`` continues on the next) each followed by the output it prints. Blocks run in
order in one scratch directory (so a later ``planner compare runs/base ...`` finds the run an
earlier block wrote), with ``scenarios/`` of the repository beside them. A fenced block of any
other kind (yaml, csv, ...) whose first line is ``# file: NAME`` is written, without that line, to
NAME there first.

``python tools/readme_examples.py --update`` runs them and writes the output into README.md;
``tests/test_readme.py`` runs them and fails when README.md differs from what the program prints.
Lines that change from run to run compare as patterns: the solve time, and a line ``...`` in
README.md stands for any number of lines.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(\w*)\s*$")
#: output that differs between runs of the same command: (pattern, replacement)
VOLATILE = [(re.compile(r"^( time\s+)\d[\d,]*\.\d s$"), r"\1<seconds> s")]


@dataclass
class Block:
    start: int                       # line number of the opening fence (0-based)
    end: int                         # line number of the closing fence
    kind: str                        # console, or the language of a file block (yaml, csv, ...)
    lines: list[str] = field(default_factory=list)

    def commands(self) -> list[tuple[str, list[str]]]:
        """(command text, expected output lines) of a console block."""
        out: list[tuple[str, list[str]]] = []
        i = 0
        while i < len(self.lines):
            line = self.lines[i]
            if not line.startswith("$ "):
                raise ValueError(f"README.md line {self.start + 2 + i}: console block output before any command")
            cmd = [line[2:]]
            while cmd[-1].endswith("\\") and i + 1 < len(self.lines):
                i += 1
                cmd[-1] = cmd[-1][:-1]
                cmd.append(self.lines[i].strip())
            i += 1
            expected = []
            while i < len(self.lines) and not self.lines[i].startswith("$ "):
                expected.append(self.lines[i])
                i += 1
            out.append((" ".join(c.strip() for c in cmd), expected))
        return out


def blocks(text: str) -> list[Block]:
    found, current = [], None
    for n, line in enumerate(text.splitlines()):
        m = FENCE.match(line)
        if m and current is None:
            current = Block(start=n, end=-1, kind=m.group(1))
        elif line.strip() == "```" and current is not None:
            current.end = n
            if current.kind == "console" or (current.lines and current.lines[0].startswith("# file: ")):
                found.append(current)
            current = None
        elif current is not None:
            current.lines.append(line)
    return found


def run(command: str, cwd: Path) -> list[str]:
    """Run a README command the way a user would (``planner`` is this Python's planner), stdout and
    stderr together; return its output lines without trailing white space."""
    args = shlex.split(command, comments=True)
    if not args or args[0] != "planner":
        raise ValueError(f"README console commands start with 'planner': {command!r}")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "planner", *args[1:]], cwd=cwd, capture_output=True,
                          text=True, timeout=1800, env=env, check=False)
    text = proc.stdout + proc.stderr
    return [line.rstrip() for line in text.rstrip("\n").splitlines()]


def normalize(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        line = line.rstrip()
        for pattern, repl in VOLATILE:
            line = pattern.sub(repl, line)
        out.append(line)
    return out


def matches(expected: list[str], actual: list[str]) -> bool:
    """``expected`` (README lines, ``...`` = any lines) against ``actual``, after :func:`normalize`."""
    exp, act = normalize(expected), normalize(actual)
    return _match(exp, act)


def _match(exp: list[str], act: list[str]) -> bool:
    if not exp:
        return not act
    if exp[0].strip() == "...":
        return any(_match(exp[1:], act[k:]) for k in range(len(act) + 1))
    return bool(act) and exp[0] == act[0] and _match(exp[1:], act[1:])


def _write_file(block: Block, cwd: Path) -> None:
    (cwd / block.lines[0].removeprefix("# file: ").strip()).write_text("\n".join(block.lines[1:]) + "\n")


def scratch(cwd: Path) -> None:
    """The directory the examples run in: the repository's scenarios beside them."""
    cwd.mkdir(parents=True, exist_ok=True)
    link = cwd / "scenarios"
    if not link.exists():
        link.symlink_to(REPO / "scenarios", target_is_directory=True)


_OUT = re.compile(r"--out\s+(\S+)")


def chains(text: str) -> list[list[tuple[str, list[str]]]]:
    """The README's commands (command, expected output) in independent chains: a command joins
    the chain of every earlier command whose ``--out`` directory it names (``planner compare
    runs/base runs/whatif`` runs after the two solves that wrote them, in one directory); chains
    share nothing and may run side by side. Each chain keeps the README's order."""
    groups: list[list[tuple[str, list[str]]]] = []
    owner: dict[str, int] = {}  # --out directory -> its chain
    for block in blocks(text):
        if block.kind != "console":
            continue
        for command, expected in block.commands():
            words = shlex.split(command, comments=True)
            uses = {owner[w.rstrip("/")] for w in words if w.rstrip("/") in owner}
            if uses:
                first, *rest = sorted(uses)
                for other in rest:  # a command joining two chains merges them
                    groups[first] += groups[other]
                    groups[other] = []
                    owner.update({d: first for d, g in owner.items() if g == other})
                k = first
            else:
                groups.append([])
                k = len(groups) - 1
            groups[k].append((command, expected))
            for out in _OUT.findall(command):
                owner[out.rstrip("/")] = k
    return [g for g in groups if g]


def write_files(text: str, cwd: Path) -> None:
    """The README's file blocks (``# file: NAME``) into ``cwd``, beside the shipped scenarios."""
    scratch(cwd)
    names = set()
    for block in blocks(text):
        if block.kind != "console":
            name = block.lines[0].removeprefix("# file: ").strip()
            if name in names:
                raise ValueError(f"README.md line {block.start + 1}: a second file block named {name}")
            names.add(name)
            _write_file(block, cwd)


def check_chain(readme: Path, cwd: Path, index: int) -> list[str]:
    """Run the commands of one chain (:func:`chains`) in ``cwd``; describe each whose output differs."""
    text = readme.read_text()
    write_files(text, cwd)
    problems = []
    for command, expected in chains(text)[index]:
        actual = run(command, cwd)
        if not matches(expected, actual):
            problems.append(f"$ {command}\n--- README.md\n" + "\n".join(expected)
                            + "\n--- the program prints\n" + "\n".join(actual))
    return problems


def check(readme: Path, cwd: Path) -> list[str]:
    """Run every example, chain after chain, each in its own directory under ``cwd``; return a
    description of each one whose output differs."""
    n = len(chains(readme.read_text()))
    return [p for k in range(n) for p in check_chain(readme, cwd / f"chain{k}", k)]


def update(readme: Path, cwd: Path) -> None:
    """Run every example and write what the program prints into README.md (a ``...`` line of
    the README, and the lines it stands for, are kept as they are written)."""
    scratch(cwd)
    original = readme.read_text()
    lines = original.splitlines()
    new_lines: list[str] = []
    pos = 0
    for block in blocks("\n".join(lines)):
        new_lines += lines[pos:block.start + 1]
        if block.kind != "console":
            _write_file(block, cwd)
            new_lines += block.lines
        else:
            raw = lines[block.start + 1:block.end]
            for command, expected in block.commands():
                actual = run(command, cwd)
                head = next(i for i, line in enumerate(raw) if line.startswith("$ "))
                n_cmd = 1
                while raw[head + n_cmd - 1].endswith("\\"):
                    n_cmd += 1
                new_lines += raw[head:head + n_cmd]
                raw = raw[head + n_cmd + len(expected):]
                new_lines += expected if matches(expected, actual) else actual
        new_lines.append(lines[block.end])
        pos = block.end + 1
    new_lines += lines[pos:]
    if readme.read_text() != original:  # edited while the examples ran: writing would lose the edit
        raise SystemExit(f"{readme} changed while the examples ran; nothing written: run --update again")
    readme.write_text("\n".join(new_lines) + "\n")


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="write the program's output into README.md")
    parser.add_argument("--dir", type=Path, default=None, help="scratch directory (default: a new temporary one)")
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="planner-readme-"))
    if args.update:
        update(REPO / "README.md", work)
        print(f"README.md updated (commands ran in {work})")
    else:
        issues = check(REPO / "README.md", work)
        print("\n\n".join(issues) if issues else "every README example matches")
        sys.exit(1 if issues else 0)
