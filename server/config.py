"""Settings read from the environment (and overridden by CLI options)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .rules.limits import RuleLimits


def _default_rules_dir() -> Path:
    # A source checkout ships its rules beside the package; an installed wheel uses ./rules.
    here = Path(__file__).resolve().parent.parent / "rules"
    return here if here.is_dir() else Path.cwd() / "rules"


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know to start."""

    mongodb_uri: str | None = None
    db_name: str = "leadgraph"
    data_dir: Path = field(default_factory=lambda: Path.cwd() / ".leadgraph")
    rules_dir: Path = field(default_factory=_default_rules_dir)
    host: str = "127.0.0.1"
    port: int = 8000
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 4000
    max_page_size: int = 500
    # Subscriptions (see README "Subscriptions"): limits per API key and per process, the
    # events a subscriber may have waiting before it is dropped, and how often an open
    # WebSocket re-checks its key (revoked -> closed, role changed -> applied).
    max_subscriptions_per_key: int = 20
    max_subscriptions: int = 1000
    subscription_queue: int = 256
    ws_recheck_seconds: float = 2.0
    rule_limits: RuleLimits = field(default_factory=RuleLimits)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        base = cls()
        return replace(
            base,
            mongodb_uri=env.get("MONGODB_URI") or None,
            db_name=env.get("LEADGRAPH_DB_NAME", base.db_name),
            data_dir=Path(env["LEADGRAPH_DATA_DIR"])
            if env.get("LEADGRAPH_DATA_DIR")
            else base.data_dir,
            rules_dir=Path(env["LEADGRAPH_RULES_DIR"])
            if env.get("LEADGRAPH_RULES_DIR")
            else base.rules_dir,
            max_subscriptions_per_key=int(
                env.get("LEADGRAPH_MAX_SUBSCRIPTIONS_PER_KEY", base.max_subscriptions_per_key)
            ),
            max_subscriptions=int(env.get("LEADGRAPH_MAX_SUBSCRIPTIONS", base.max_subscriptions)),
            subscription_queue=int(
                env.get("LEADGRAPH_SUBSCRIPTION_QUEUE", base.subscription_queue)
            ),
            ws_recheck_seconds=float(
                env.get("LEADGRAPH_WS_RECHECK_SECONDS", base.ws_recheck_seconds)
            ),
            rule_limits=RuleLimits.from_env(env),
        )

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with the non-None values of ``changes`` applied."""
        kept: dict[str, Any] = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **kept)
