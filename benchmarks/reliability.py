"""Reliability report: loader fuzz, kill -9 crash/resume, property-based tests, determinism and the command line's
bad values, counted.

Runs ``tests/test_loader_fuzz.py``, ``tests/test_crash_resume.py``, ``tests/test_properties.py``,
``tests/test_determinism.py`` and ``tests/test_cli.py`` with pytest in a subprocess (``-m "not ray"``: the slow-marked variants run too), reads
the JUnit XML (each fuzz case records its loader, damage and outcome; each crash test its kill/resume cycles) and
hypothesis' statistics (passing examples per property test), and writes ``benchmarks/results/reliability.json``
(:func:`snnrl.results.write_result`): per loader the bad inputs tried, refused with the toolkit's error, loaded
(an undetectable flip) and passed; the failing-save cases per saver; crash-resume cycles; property examples; and
every (command, option) x bad value tried on ``snnrl`` and refused cleanly (rc 2, one line naming the flag, no work);
and whether everything passed.

Usage: ``.venv/bin/python benchmarks/reliability.py [--fast] [--out PATH]`` (``--fast`` skips the slow variants).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

from snnrl.results import write_result

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "reliability.json"
FILES = ("tests/test_loader_fuzz.py", "tests/test_crash_resume.py", "tests/test_properties.py",
         "tests/test_determinism.py", "tests/test_cli.py")


def _cases(junit: Path) -> list[dict[str, Any]]:
    """One dict per test case: file, test, status, time and its recorded properties."""
    cases = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        status = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                status = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        # The module from the class name: a decorated test's "file" may name the decorator's module.
        cases.append({"file": case.get("classname", "").replace(".", "/") + ".py",
                      "test": case.get("name"), "status": status, "time_s": round(float(case.get("time", 0)), 3),
                      **props})
    return cases


def _property_examples(output: str) -> dict[str, int]:
    """Passing examples per property test, from ``--hypothesis-show-statistics``."""
    examples = {}
    for block in re.split(r"\n(?=tests/test_properties\.py::)", output):
        head = re.match(r"(tests/test_properties\.py::\S+):", block)
        if head:  # one "N passing" line per phase that ran (generate, reuse, ...)
            examples[head.group(1).split("::", 1)[1]] = sum(int(n) for n in re.findall(r"- (\d+) passing", block))
    return examples


def summarise(cases: list[dict[str, Any]], examples: dict[str, int]) -> dict[str, Any]:
    """Counts per loader / saver / crash test / property test, and whether all passed."""
    loaders: dict[str, dict[str, int]] = defaultdict(lambda: {"tried": 0, "rejected": 0, "loaded": 0, "passed": 0})
    savers: dict[str, dict[str, int]] = defaultdict(lambda: {"tried": 0, "passed": 0})
    for case in cases:
        if case.get("loader"):
            entry = loaders[case["loader"]]
            entry["tried"] += 1
            entry["passed"] += case["status"] == "passed"
            if case.get("outcome") in ("rejected", "loaded"):
                entry[case["outcome"]] += 1
        elif case.get("saver"):
            savers[case["saver"]]["tried"] += 1
            savers[case["saver"]]["passed"] += case["status"] == "passed"
    crash = [c for c in cases if "test_crash_resume" in c["file"]]
    determinism = [c for c in cases if "test_determinism" in c["file"]]
    properties = [c for c in cases if "test_properties" in c["file"]]
    cli = [c for c in cases if c.get("cli_option")]
    per_command: dict[str, dict[str, int]] = defaultdict(lambda: {"options": 0, "bad_values": 0, "refused": 0})
    for option in sorted({c["cli_option"] for c in cli}):
        per_command[option.split(" ", 1)[0]]["options"] += 1
    for case in cli:
        entry = per_command[case["cli_option"].split(" ", 1)[0]]
        entry["bad_values"] += 1
        entry["refused"] += case["status"] == "passed"
    counted = lambda rows: sum(r["status"] == "passed" for r in rows)  # noqa: E731
    failed = [f"{c['file']}::{c['test']}" for c in cases if c["status"] in ("failed", "error")]
    return {
        "all_passed": not failed and bool(cases),
        "tests": len(cases), "passed": counted(cases), "failed": failed,
        "skipped": sum(c["status"] == "skipped" for c in cases),
        "loader_fuzz": {
            "bad_inputs": sum(v["tried"] for v in loaders.values()),
            "passed": sum(v["passed"] for v in loaders.values()),
            "per_loader": dict(sorted(loaders.items())),
        },
        "failing_saves": {"cases": sum(v["tried"] for v in savers.values()),
                          "kept_good_file": sum(v["passed"] for v in savers.values()),
                          "per_saver": dict(sorted(savers.items()))},
        "crash_resume": {
            "tests": len(crash), "passed": counted(crash),
            "cycles": sum(int(c.get("cycles", 0)) for c in crash),
            "cycles_passed": sum(int(c.get("cycles", 0)) for c in crash if c["status"] == "passed"),
            "per_test": {c["test"]: {"status": c["status"], "cycles": int(c.get("cycles", 0)),
                                     "kills": c.get("kills"), "time_s": c["time_s"]} for c in crash},
        },
        "properties": {"tests": len(properties), "passed": counted(properties),
                       "examples": sum(examples.values()), "per_test": examples},
        "cli_bad_values": {"options": len({c["cli_option"] for c in cli}), "bad_values": len(cli),
                           "refused_cleanly": counted(cli), "per_command": dict(sorted(per_command.items()))},
        "determinism": {"tests": len(determinism), "passed": counted(determinism),
                        "per_test": {c["test"]: c["status"] for c in determinism}},
        "time_s_per_file": {f: round(sum(c["time_s"] for c in cases if c["file"].endswith(f.split("/")[-1])), 1)
                            for f in FILES},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="skip the slow-marked variants (default: run them)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    marker = "not slow and not ray" if args.fast else "not ray"
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        command = [sys.executable, "-m", "pytest", *FILES, "-m", marker, "-p", "no:cacheprovider", "-q",
                   "--hypothesis-show-statistics", f"--junitxml={junit}", "-o", "junit_family=xunit1"]
        start = time.monotonic()
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        wall = time.monotonic() - start
        if not junit.is_file():
            print(run.stdout[-5000:], run.stderr[-5000:], sep="\n", file=sys.stderr)
            return 2
        cases = _cases(junit)
    examples = _property_examples(run.stdout)
    summary = summarise(cases, examples)
    summary["wall_s"] = round(wall, 1)
    config = {"files": list(FILES), "marker": marker, "pytest_exit_code": run.returncode,
              "command": "python -m pytest " + " ".join(FILES) + f" -m '{marker}'"}
    raw = [{k: v for k, v in c.items() if k != "file"} | {"file": Path(c["file"]).name} for c in cases]
    write_result(args.out, "reliability", config=config, raw=raw, summary=summary)
    fuzz, crash, props = summary["loader_fuzz"], summary["crash_resume"], summary["properties"]
    print(f"loader fuzz: {fuzz['passed']}/{fuzz['bad_inputs']} bad inputs handled")
    for name, v in fuzz["per_loader"].items():
        print(f"  {name:24s} {v['tried']:4d} tried, {v['rejected']:4d} refused, {v['loaded']:3d} loaded (flips), "
              f"{v['passed']:4d} passed")
    print(f"failing saves: {summary['failing_saves']['kept_good_file']}/{summary['failing_saves']['cases']} kept the "
          "good file")
    print(f"crash-resume: {crash['cycles_passed']}/{crash['cycles']} kill -9 cycles in {crash['passed']}/"
          f"{crash['tests']} tests")
    print(f"properties: {props['examples']} examples in {props['passed']}/{props['tests']} tests")
    print(f"determinism: {summary['determinism']['passed']}/{summary['determinism']['tests']} tests")
    bad = summary["cli_bad_values"]
    print(f"command line: {bad['refused_cleanly']}/{bad['bad_values']} bad values over {bad['options']} options refused "
          "cleanly (rc 2, one line naming the flag, before any work)")
    print(f"all passed: {summary['all_passed']} ({summary['passed']}/{summary['tests']} tests, {wall:.0f} s); "
          f"wrote {args.out}")
    return 0 if summary["all_passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
