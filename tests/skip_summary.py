"""One line per distinct skip reason, with its count, at the end of a test run (conftest.py's
``pytest_terminal_summary``): pytest's own ``-rs`` prints one line per test file and reason, which on a
machine without torch is ~190 lines of "backend 'torch' unavailable" before the summary."""

from __future__ import annotations

from collections import Counter


def reason_of(report):
    """The skip message of a test report ("Skipped: " dropped)."""
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ").strip()


def summarize_skips(terminalreporter, exitstatus=None, config=None):
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if getattr(r, "longrepr", None) is not None]
    if not skipped:
        return
    counts = Counter(reason_of(r) for r in skipped)
    terminalreporter.section(f"{len(skipped)} skipped, by reason (pytest -rs lists them one by one)", sep="-")
    for reason, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        terminalreporter.write_line(f"{n:5d} skipped: {reason}")
