"""Webhook URLs on loopback, private, link-local or reserved addresses are refused, when the
webhook is registered and again at every attempt, unless LEADGRAPH_WEBHOOK_ALLOW_PRIVATE=1."""

from __future__ import annotations

import dataclasses

import pytest
from leadgraph.services.addresses import refusal

from .helpers import (
    FAST,
    contact_updated,
    create,
    deliveries,
    delivering,
    happened,
    receiving,
    until,
)


@pytest.fixture
def strict(server, monkeypatch):
    """The server as configured without LEADGRAPH_WEBHOOK_ALLOW_PRIVATE."""
    state = server.state.leadgraph
    monkeypatch.setattr(
        state, "settings", dataclasses.replace(state.settings, webhook_allow_private=False)
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8000/hook", "127.0.0.1 is a loopback address"),
        ("http://localhost:8000/hook", "localhost resolves to"),
        ("http://[::1]/hook", "::1 is a loopback address"),
        ("http://10.1.2.3/hook", "is a private address"),
        ("https://192.168.0.10/hook", "is a private address"),
        ("http://169.254.169.254/latest/meta-data", "is a link-local address"),
        ("http://[::ffff:127.0.0.1]/hook", "is a loopback address"),
        ("http://0.0.0.0/hook", "is not a public address"),
        ("http://100.64.0.1/hook", "is not a public address"),
        ("http://unknown-host.invalid/hook", "does not resolve"),
    ],
)
async def test_private_urls_are_refused_without_the_setting(api, strict, url, reason):
    out = await create(api, url, ["*"])
    assert (out["__typename"], out["field"]) == ("ValidationError", "input.url"), out
    assert reason in out["fields"][0]["message"]
    assert await api.db.webhooks.count_documents({}) == 0


async def test_a_public_address_is_accepted(api, strict):
    out = await create(api, "https://93.184.215.14/hook", ["*"])
    assert out["__typename"] == "WebhookPayload"


def test_every_kind_of_address_is_classified():
    assert refusal("93.184.215.14") is None
    assert refusal("2606:2800:21f:cb07:6820:80da:af6b:8b2c") is None
    for address in ("127.0.0.2", "fe80::1%eth0", "fd00::1", "224.0.0.1", "240.0.0.1", "::"):
        assert refusal(address) is not None, address


async def test_the_address_is_checked_again_when_sending(api):
    """Registered while private addresses were allowed, then sent by a worker without the
    setting (as a name rebound to a private address would be): nothing reaches it."""
    async with receiving() as rx:
        hook = (await create(api, rx.url, ["*"]))["webhook"]
        async with delivering(api.db, FAST, webhook_allow_private=False):
            await happened(api.db, contact_updated())
            found = await until(lambda: _attempted(api, hook["id"]))
        assert rx.got == []
    assert found["status"] == "PENDING"
    assert found["lastResponseCode"] is None
    assert "refused: 127.0.0.1 is a loopback address" in found["lastError"]


async def _attempted(api, hook_id):
    done = [d for d in await deliveries(api, hook_id) if d["attempts"] >= 1]
    return done[0] if done else None
