"""Mutation check of T21's guarantees: each named mutation breaks one guarantee in a temporary
copy of the source, the tests that prove the guarantee run against that copy, and the check
fails if any mutant survives (its tests still pass) or no longer applies (the code it mutates
was changed: update the mutation with it). A baseline run first shows the same tests pass on
the unmutated copy. The baseline and the mutants run side by side, `--jobs` at a time (one per
core by default), each in its own copy and pytest process with only its own tests; a chaos test
among them runs at a small size (T21_TEST_CHAOS_SIZE, unless set). Run by `.ci/run`; by hand:
`.venv/bin/python -m tests.mutation.run` (`--only NAME` for one mutant). Uses
T21_TEST_DATABASE_URL / T21_TEST_REDIS_URL when set.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COPIED = ("src", "tests", "pyproject.toml", "alembic.ini")
# Per run of a mutant's tests: on a loaded machine a pytest start-up alone took 75 s (load 12).
MUTANT_TIMEOUT_S = 480
# A mutant proved by the chaos test needs second sends seen, not volume (CI's self-check shows
# a small run sees them): about 150 targets over every network, settled or not within 120 s.
CHAOS_ENV = {"T21_TEST_CHAOS_SIZE": "0.1", "T21_TEST_CHAOS_SETTLE_S": "120"}


@dataclass(frozen=True)
class Mutation:
    name: str
    guarantee: str
    path: str
    edits: tuple[tuple[str, str], ...]  # (original, replacement); each original occurs once
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation(
        name="claim-cas",
        guarantee="a publish job takes its target only from queued (never published twice)",
        path="src/t21/publishing/service/claim.py",
        edits=(
            (
                "targets = [target for target in targets if target.status is TargetStatus.QUEUED]",
                "targets = list(targets)",
            ),
            (
                "status == TargetStatus.QUEUED if guarded else true(),",
                "true(),",
            ),
        ),
        tests=(
            "tests/publishing/test_publishing.py::test_a_duplicate_delivery_publishes_once",
            "tests/publishing/test_publishing.py::"
            "test_two_sessions_taking_the_same_queued_target_at_once_make_one_attempt",
        ),
    ),
    Mutation(
        name="tenant-filter",
        guarantee="lists show only the caller's organizations' rows",
        path="src/t21/organizations/tenancy.py",
        edits=(
            (
                "restricted: S = statement.where("
                "organization_column.in_(principal.organization_ids))",
                "restricted: S = statement",
            ),
        ),
        tests=(
            "tests/posts/test_lists.py::"
            "test_without_a_brand_filter_each_tenant_lists_only_its_own_posts",
            "tests/social/test_connect.py::test_each_tenant_lists_only_its_own_social_accounts",
        ),
    ),
    Mutation(
        name="stripe-signature-digest",
        guarantee="a webhook not signed with the endpoint's secret is refused",
        path="src/t21/billing/stripe_gateway.py",
        edits=(
            (
                "found |= hmac.compare_digest("
                'expected.encode(), signature.encode("utf-8", "replace"))',
                "found = True",
            ),
        ),
        tests=(
            "tests/billing/test_subscriptions.py::test_a_signature_with_another_secret_is_refused",
            "tests/billing/test_subscriptions.py::test_a_body_changed_after_signing_is_refused",
        ),
    ),
    Mutation(
        name="stripe-signature-age",
        guarantee="a webhook signed more than 300 s away from now is refused (no replays)",
        path="src/t21/billing/stripe_gateway.py",
        edits=(
            (
                "if abs(clock.now().timestamp() - int(timestamp)) > SIGNATURE_TOLERANCE_S:",
                "if False:",
            ),
        ),
        tests=(
            "tests/billing/test_subscriptions.py::test_a_signature_older_than_five_minutes_is_refused",
            "tests/billing/test_subscriptions.py::test_a_signature_five_minutes_ahead_is_refused",
        ),
    ),
    Mutation(
        name="x-counter-links",
        guarantee="T21 counts every link as 23 toward X's 280",
        path="src/t21/platforms/text.py",
        edits=(("X_URL_LENGTH = 23", "X_URL_LENGTH = 22"),),
        tests=("tests/platforms/test_x_counting.py",),
    ),
    Mutation(
        name="x-counter-emoji",
        guarantee="T21 counts an emoji sequence as 2 toward X's 280",
        path="src/t21/platforms/text.py",
        edits=(
            (
                "        if _EMOJI.search(cluster):\n            total += X_DEFAULT_WEIGHT",
                "        if _EMOJI.search(cluster):\n            total += X_SCALE",
            ),
        ),
        tests=("tests/platforms/test_x_counting.py",),
    ),
    Mutation(
        name="fake-x-counter",
        guarantee="the fake X measures text on its own, as X does",
        path="src/t21/sandbox/twitter/counting.py",
        edits=(("URL_WEIGHT = 23 * SCALE", "URL_WEIGHT = 24 * SCALE"),),
        tests=("tests/platforms/test_x_counting.py",),
    ),
)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def copy_tree(into: Path) -> None:
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, into / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        else:
            shutil.copy2(source, into / name)


def apply(mutation: Mutation, into: Path) -> str | None:
    """Apply the mutation's edits in the copy; a reason when one doesn't apply."""
    target = into / mutation.path
    text = target.read_text()
    for original, replacement in mutation.edits:
        found = text.count(original)
        if found != 1:
            return f"`{original[:60]}` occurs {found} times in {mutation.path}"
        text = text.replace(original, replacement)
    target.write_text(text)
    return None


def environment(copy: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "T21_TEST_DISABLE_CLAIM_CAS"}
    env = CHAOS_ENV | env
    env["PYTHONPATH"] = str(copy / "src")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_tests(copy: Path, tests: tuple[str, ...]) -> tuple[bool, str]:
    """Whether the tests pass in the copy, and the tail of their output."""
    command = [sys.executable, "-m", "pytest", "-n", "0", "-q", "-x", "-p", "no:cacheprovider"]
    try:
        done = subprocess.run(
            [*command, *tests],
            cwd=copy,
            env=environment(copy),
            capture_output=True,
            text=True,
            timeout=MUTANT_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return False, f"timed out after {MUTANT_TIMEOUT_S} s"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode == 0, lines[-1] if lines else ""


def imports_the_copy(copy: Path) -> bool:
    """The copy's `t21` is the one imported, not the installed one."""
    found = subprocess.run(
        [sys.executable, "-c", "import t21; print(t21.__file__)"],
        cwd=copy,
        env=environment(copy),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return found.startswith(str(copy))


def check(mutation: Mutation, folder: Path) -> tuple[str, str, str]:
    """The mutant's verdict (killed, SURVIVED or NOT APPLIED) from its own copy and tests."""
    copy = folder / mutation.name
    copy_tree(copy)
    try:
        problem = apply(mutation, copy)
        if problem is not None:
            return mutation.name, "NOT APPLIED", problem
        survived, tail = run_tests(copy, mutation.tests)
        return mutation.name, "SURVIVED" if survived else "killed", tail
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def baseline(every_test: tuple[str, ...], folder: Path) -> tuple[bool, str]:
    """Whether the mutants' tests pass on an unmutated copy, and the tail of their output."""
    base = folder / "base"
    copy_tree(base)
    return run_tests(base, every_test)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="run only this mutant (repeatable)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="test runs at a time (default: one per core)",
    )
    arguments = parser.parse_args()
    chosen = arguments.only
    mutations = [m for m in MUTATIONS if not chosen or m.name in chosen]
    if chosen and len(mutations) != len(chosen):
        say(f"unknown mutants: {sorted(set(chosen) - {m.name for m in MUTATIONS})}")
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="t21-mutation-") as name:
        folder = Path(name)
        probe = folder / "probe"
        copy_tree(probe)
        if not imports_the_copy(probe):
            say("the copy's t21 is not the one imported: check PYTHONPATH")
            return 2
        shutil.rmtree(probe)
        every_test = tuple(sorted({test for m in mutations for test in m.tests}))
        with ThreadPoolExecutor(max_workers=max(1, arguments.jobs)) as pool:
            # The baseline first in the queue: the longest run, and the one that must pass.
            unmutated = pool.submit(baseline, every_test, folder)
            verdicts = [pool.submit(check, mutation, folder) for mutation in mutations]
            passed, tail = unmutated.result()
            report = [verdict.result() for verdict in verdicts]
    if not passed:
        say(f"baseline: the tests fail without any mutation ({tail})")
        return 1
    say(f"baseline: {len(every_test)} test selections pass unmutated ({tail})")
    width = max(len(name) for name, _, _ in report)
    say(f"\nmutation check ({time.monotonic() - started:.0f} s, {arguments.jobs} at a time):")
    for name, verdict, detail in report:
        guarantee = next(m.guarantee for m in MUTATIONS if m.name == name)
        say(f"  {name:<{width}}  {verdict:<11}  {guarantee}\n  {'':<{width}}  {'':<11}  {detail}")
    bad = [name for name, verdict, _ in report if verdict != "killed"]
    if bad:
        say(f"\nFAILED: {len(bad)} mutants not killed: {', '.join(bad)}")
        return 1
    say(f"\nevery mutant killed ({len(report)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
