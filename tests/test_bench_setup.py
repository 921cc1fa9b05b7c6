"""The benchmarks' set-up retry (``bench/_harness.setup``): a transient database error is
retried up to the limit, printed each time; anything else, and the last failure, is raised."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pymongo.errors import AutoReconnect, OperationFailure

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from _harness import setup


class Flaky:
    """A set-up step that fails with ``error`` the first ``failures`` times it runs."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


async def test_transient_errors_are_retried_and_said(capsys: pytest.CaptureFixture[str]) -> None:
    step = Flaky(2, AutoReconnect("connection reset"))
    assert await setup("indexes", step, attempts=3, backoff_s=0) == "done"
    assert step.calls == 3
    out = capsys.readouterr().out
    assert "set-up: indexes failed (AutoReconnect: connection reset); retry 1 of 2" in out
    assert "retry 2 of 2" in out


async def test_the_limit_holds(capsys: pytest.CaptureFixture[str]) -> None:
    step = Flaky(10, AutoReconnect("down"))
    with pytest.raises(AutoReconnect):
        await setup("seeding", step, attempts=3, backoff_s=0)
    assert step.calls == 3
    assert "set-up: seeding failed 3 times; giving up" in capsys.readouterr().out


async def test_a_real_error_is_not_retried() -> None:
    step = Flaky(1, OperationFailure("bad index spec", code=67))
    with pytest.raises(OperationFailure):
        await setup("indexes", step, attempts=3, backoff_s=0)
    assert step.calls == 1


async def test_a_retryable_label_is_retried() -> None:
    error = OperationFailure("primary stepped down", code=189)
    error._add_error_label("RetryableWriteError")
    step = Flaky(1, error)
    assert await setup("API key", step, attempts=2, backoff_s=0) == "done"
    assert step.calls == 2


def test_every_bench_sets_up_through_the_retrying_harness() -> None:
    """No bench creates indexes or API keys but through ``_harness`` (which retries), and every
    seeding call of a bench sits in a step handed to ``setup``: a bench that called them bare
    would die on the first transient error again (issue 21 point 4)."""
    bench = Path(__file__).resolve().parent.parent / "bench"
    for path in sorted(bench.glob("*.py")):
        if path.name == "_harness.py":
            continue
        text = path.read_text()
        assert "ensure_indexes(" not in text, f"{path.name}: use _harness.indexes"
        assert "keys.create(" not in text, f"{path.name}: use _harness.api_key"
        if "seed_demo(" in text or "regenerate(" in text:
            assert "setup(" in text, f"{path.name}: seed inside _harness.setup"
