"""Every result file README.md and docs/*.md quote exists in benchmarks/results and is in its README.md index
(the command, commit and machine that made it). docs/experiments/ (the training history) is out of scope."""

from __future__ import annotations

import fnmatch
import re

from ..conftest import REPO

RESULTS = REPO / "benchmarks" / "results"
# a file name with an underscore, braces {a,b} and globs allowed; not part of a longer path other than results/
NAME = re.compile(r"(?<![/\w{},.*-])[\w{},.*-]*\w_[\w{},.*-]*\.(?:json|png|txt|csv)")
PLACEHOLDER = re.compile(r"[A-Z]{2,}|\.\.\.|\{[^,{}]*\}")  # NAME, SIZE, ..., {SIZE}: a pattern, not a file


def expand(name: str) -> list[str]:
    """`a_{b,c}_d{0,1}.json` -> the four names it stands for."""
    m = re.search(r"\{([^{}]*)\}", name)
    if not m:
        return [name]
    return [n for alt in m.group(1).split(",") for n in expand(name[:m.start()] + alt + name[m.end():])]


def quoted(text: str, files: list[str]) -> tuple[set[str], set[str]]:
    """(result files the text names, names that look like result files but match none)."""
    prefixes = {f.split("_")[0] + "_" for f in files}
    found, missing = set(), set()
    for token in NAME.findall(text.replace("benchmarks/results/", " ")):
        if PLACEHOLDER.search(token.replace("{,", "{x,")):
            continue
        for name in expand(token):
            hits = fnmatch.filter(files, name)
            found.update(hits)
            if not hits and name.startswith(tuple(prefixes)):
                missing.add(name)
    return found, missing


def test_expand_and_quoted_read_the_doc_forms():
    files = ["realtex_a_seed0.json", "realtex_a_seed1.json", "paired_b_seed0.json", "default_model_x.json"]
    assert expand("x_{a,b}_s{0,1}.json") == ["x_a_s0.json", "x_a_s1.json", "x_b_s0.json", "x_b_s1.json"]
    text = ("see `realtex_a_seed{0,1}.json` and benchmarks/results/paired_b_seed*.json, `realtex_c_seed0.json`; "
            "not training/recipes/default_model.json, nor `realtex_NAME_seedS.json`, OUT/config.json")
    assert quoted(text, files) == ({"realtex_a_seed0.json", "realtex_a_seed1.json", "paired_b_seed0.json"},
                                   {"realtex_c_seed0.json"})


def test_every_quoted_result_exists_and_is_indexed():
    files = sorted(p.name for p in RESULTS.iterdir() if p.name != "README.md")
    index, _ = quoted((RESULTS / "README.md").read_text(), files)
    docs = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    unindexed, missing = {}, {}
    for doc in docs:
        found, absent = quoted(doc.read_text(), files)
        if found - index:
            unindexed[doc.name] = sorted(found - index)
        if absent:
            missing[doc.name] = sorted(absent)
    assert not missing, f"quoted but not in benchmarks/results: {missing}"
    assert not unindexed, f"quoted but not in benchmarks/results/README.md: {unindexed}"
