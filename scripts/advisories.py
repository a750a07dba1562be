#!/usr/bin/env python3
"""The RustSec advisories that apply to what the function ships.

Reads the function's normal dependency tree (`cargo tree -e normal`, the
function's own package only: no dev or build dependencies) and matches every
crate and version against a dated snapshot of the RustSec advisory database,
offline:

- `$ADVISORY_DB`, else `../shared/advisory-db` beside the repository (the
  snapshot this workplace keeps), else `tests/data/advisory-db` (the advisories
  of the crates in Cargo.lock, copied from that snapshot by `--vendor`, so a
  clone without the snapshot still checks).

A vulnerability (an advisory that is not `informational` and not withdrawn)
fails the check. An informational notice (unmaintained, unsound) is printed,
and fails too unless docs/design.md names its id with the reason it stays.

Usage: scripts/advisories.py [--vendor]
"""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDORED = ROOT / "tests/data/advisory-db"


def database():
    for candidate in [os.environ.get("ADVISORY_DB"), ROOT.parent / "shared/advisory-db"]:
        if candidate and (Path(candidate) / "crates").is_dir():
            return Path(candidate)
    if (VENDORED / "crates").is_dir():
        return VENDORED
    sys.exit("advisories: no advisory database (set ADVISORY_DB, or run --vendor once)")


def version_tuple(text):
    """`1.2.3-alpha.1` -> ((1, 2, 3), is_release, pre): a pre-release sorts first."""
    core, _, pre = text.strip().partition("-")
    core = core.partition("+")[0]
    parts = [int(p) for p in core.split(".")] + [0, 0, 0]
    return (tuple(parts[:3]), pre == "", pre)


def satisfies(version, requirement):
    """Whether `version` meets a semver requirement as RustSec writes them:
    comparators joined by commas (`>= 1.2.0, < 1.3.0`), `^`, `~`, `=`."""
    v = version_tuple(version)
    for comparator in requirement.split(","):
        comparator = comparator.strip()
        if not comparator or comparator == "*":
            continue
        match = re.fullmatch(r"(>=|<=|>|<|=|\^|~)?\s*([0-9][0-9A-Za-z.+-]*)", comparator)
        if not match:
            raise ValueError(f"cannot read the requirement {requirement!r}")
        op, bound_text = match.group(1) or "^", match.group(2)
        bound = version_tuple(bound_text)
        given = len(bound_text.partition("-")[0].split("."))
        if op == ">=" and not v >= bound:
            return False
        if op == ">" and not v > bound:
            return False
        if op == "<=" and not v <= bound:
            return False
        if op == "<" and not v < bound:
            return False
        if op == "=" and v[0][:given] != bound[0][:given]:
            return False
        if op in ("^", "~"):
            major, minor, patch = bound[0]
            if op == "~":
                upper = (major, minor + 1, 0) if given >= 2 else (major + 1, 0, 0)
            elif major > 0 or given == 1:
                upper = (major + 1, 0, 0)
            elif minor > 0 or given == 2:
                upper = (0, minor + 1, 0)
            else:
                upper = (0, 0, patch + 1)
            if not (v >= bound and v[0] < upper):
                return False
    return True


def front_matter(path):
    text = path.read_text(encoding="utf-8")
    match = re.match(r"\s*```toml\n(.*?)\n```", text, re.S)
    if not match:
        raise ValueError(f"{path}: no TOML front matter")
    return tomllib.loads(match.group(1))


def shipped():
    """(name, version) of every crate in the function's normal tree."""
    out = subprocess.run(
        ["cargo", "tree", "--locked", "-p", "author-stats-batch", "-e", "normal",
         "--target", "all", "--prefix", "none", "--format", "{p}"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    crates = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].startswith("v"):
            crates.add((parts[0], parts[1][1:]))
    return sorted(crates)


def affected(advisory, version):
    versions = advisory.get("versions", {})
    ranges = versions.get("patched", []) + versions.get("unaffected", [])
    return not any(satisfies(version, r) for r in ranges)


def vendor():
    source = None
    for candidate in [os.environ.get("ADVISORY_DB"), ROOT.parent / "shared/advisory-db"]:
        if candidate and (Path(candidate) / "crates").is_dir():
            source = Path(candidate)
    if source is None:
        sys.exit("advisories --vendor: no full database to copy from")
    lock = tomllib.loads((ROOT / "Cargo.lock").read_text())
    names = {p["name"] for p in lock["package"]}
    target = VENDORED / "crates"
    if target.exists():
        for old in sorted(target.rglob("*"), reverse=True):
            old.unlink() if old.is_file() else old.rmdir()
    target.mkdir(parents=True, exist_ok=True)
    copied = 0
    for name in sorted(names):
        folder = source / "crates" / name
        if folder.is_dir():
            (target / name).mkdir(exist_ok=True)
            for md in folder.glob("*.md"):
                (target / name / md.name).write_bytes(md.read_bytes())
                copied += 1
    readme = source / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    dated = re.search(r"commit ([0-9a-f]{40}) \((\d{4}-\d{2}-\d{2})\)", text)
    snapshot = f"commit {dated.group(1)} ({dated.group(2)})" if dated else "undated"
    (VENDORED / "README.md").write_text(
        "# The RustSec advisories of the crates in Cargo.lock\n\n"
        "Copied by `scripts/advisories.py --vendor` from the workplace's snapshot of the\n"
        "RustSec advisory database (public domain, CC0), so a clone without it still\n"
        f"checks. The snapshot: {snapshot}.\n",
        encoding="utf-8",
    )
    print(f"advisories: {copied} advisories of {len(names)} crates copied to {VENDORED}")


def self_test():
    """The requirement matcher on the shapes RustSec uses, checked every run."""
    cases = [
        ("0.3.27", ">= 0.4.16", False), ("0.4.16", ">= 0.4.16", True),
        ("0.101.7", ">= 0.103.12, < 0.104.0-alpha.1", False),
        ("0.103.12", ">= 0.103.12, < 0.104.0-alpha.1", True),
        ("0.104.0-alpha.2", ">= 0.103.12, < 0.104.0-alpha.1", False),
        ("0.3.5", "^0.3.1", True), ("0.4.0", "^0.3.1", False), ("0.0.3", "^0.0.2", False),
        ("1.2.9", "~1.2", True), ("1.3.0", "~1.2", False), ("2.0.0", "< 1.0.0", False),
        ("1.0.0", "= 1.0.0", True), ("1.0.1", "= 1.0.0", False),
    ]
    for version, requirement, want in cases:
        if satisfies(version, requirement) != want:
            sys.exit(f"advisories: self-test: {version} against {requirement!r} should be {want}")


def main():
    self_test()
    if "--vendor" in sys.argv[1:]:
        vendor()
        return
    db = database()
    design = (ROOT / "docs/design.md").read_text(encoding="utf-8")
    crates = shipped()
    vulnerable, notices, unjustified = [], [], []
    for name, version in crates:
        folder = db / "crates" / name
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.md")):
            meta = front_matter(path)
            advisory = meta["advisory"]
            if advisory.get("withdrawn") or not affected(meta, version):
                continue
            line = f"{advisory['id']} {name} {version}: {path.read_text(encoding='utf-8').split('# ', 1)[-1].splitlines()[0]}"
            if advisory.get("informational"):
                notices.append(f"{line} [{advisory['informational']}]")
                if advisory["id"] not in design:
                    unjustified.append(advisory["id"])
            else:
                vulnerable.append(line)
    print(f"advisories: {len(crates)} crates shipped, checked against {db}")
    for n in notices:
        print(f"  notice: {n}")
    for v in vulnerable:
        print(f"  VULNERABLE: {v}")
    if unjustified:
        print(f"  not justified in docs/design.md: {', '.join(unjustified)}")
    if vulnerable or unjustified:
        sys.exit(1)
    print("advisories: no known vulnerability in what ships")


if __name__ == "__main__":
    main()
