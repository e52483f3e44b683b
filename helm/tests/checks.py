"""The tally both check scripts keep: each check passes or is printed as a failure."""

from __future__ import annotations

failures: list[str] = []
passed = 0


def check(condition: bool, what: str) -> None:
    global passed
    if condition:
        passed += 1
    else:
        failures.append(what)
        print(f"  FAIL {what}", flush=True)


def summary(name: str) -> int:
    """Prints the tally; the process's exit code."""
    print(f"\n{name}: {passed} passed, {len(failures)} failed")
    return 1 if failures else 0
