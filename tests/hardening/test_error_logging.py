"""What the server logs (issue 16 point 13): a client's bad request (validation, bad variables,
limits, bad JSON, a number of 4,400 digits, a persisted query over its size) is one INFO line
without a traceback; the server's own fault is an ERROR with its traceback.  A number too long
for Python's int() is refused in our words, not with Python's hint."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import pytest
from conftest import Api
from leadgraph.api import rules

BAD_REQUESTS: list[tuple[str, dict[str, Any] | None]] = [
    ("{ nope }", None),
    ("{ contacts(", None),
    ("query($n: Int!) { contacts(first: $n) { totalCount } }", {"n": "x"}),
    ("query($n: Int) { contacts(first: $n) { totalCount } }", {"n": 2**40}),
    ("{ contacts(first: 100000) { totalCount } }", None),
    ('{ node(id: "zzz") { id } }', None),
    ("{ contacts(first: " + "9" * 4400 + ") { totalCount } }", None),
]


def ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(("leadgraph", "strawberry"))]


async def test_client_errors_are_one_info_line_each_without_a_traceback(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for query, variables in BAD_REQUESTS:
        caplog.clear()
        answer = await api.post(query, variables, role="read-only")
        assert answer.status_code in (200, 400), answer.text
        assert answer.json()["errors"], answer.text
        records = ours(caplog)
        assert len(records) == 1, [r.getMessage() for r in records]
        (record,) = records
        assert record.levelno == logging.INFO and record.exc_info is None, record.getMessage()
        assert "\n" not in record.getMessage()


async def test_bad_json_and_a_too_large_persisted_query_are_info_lines(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    key = await api.key("read-only")
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    url = f"{api.base_url}/graphql"
    padded = "{ __typename }" + "#" * 30_000
    sha = hashlib.sha256(padded.encode()).hexdigest()
    persisted = {"version": 1, "sha256Hash": sha}
    for send in (
        {"content": b'{"query": "{ __typename }"'},
        {"content": b'{"query": "{ __typename }", "variables": {"n": NaN}}'},
        {"json": {"query": padded, "extensions": {"persistedQuery": persisted}}},
    ):
        caplog.clear()
        answer = await api.http.post(url, headers=headers, **send)
        assert answer.status_code == 400, answer.text
        (record,) = ours(caplog)
        assert record.levelno == logging.INFO and record.exc_info is None
        assert str(answer.json()["errors"][0]["extensions"]["code"]) in record.getMessage()


async def test_a_4400_digit_number_is_refused_in_our_words(api: Api) -> None:
    for literal in ("9" * 4400, "-" + "9" * 4400, "1." + "5" * 4400):
        answer = await api.post(
            f"{{ contacts(first: {literal}) {{ totalCount }} }}", role="read-only"
        )
        (error,) = answer.json()["errors"]
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "at most 100" in error["message"]
        assert "sys." not in answer.text and "4300" not in answer.text
        assert "Internal server error" not in answer.text


async def test_a_server_fault_is_an_error_with_its_traceback(
    api: Api, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(manager: Any) -> Any:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(rules, "_status", broken)
    caplog.set_level(logging.INFO)
    answer = await api.post("{ rulesStatus { version } }")
    (error,) = answer.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "a bug of ours" not in answer.text  # masked for the client
    (record,) = ours(caplog)
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert "rulesStatus" in record.getMessage()
    assert isinstance(record.exc_info[1], RuntimeError)
