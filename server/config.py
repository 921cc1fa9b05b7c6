"""Settings read from the environment (and overridden by CLI options)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import platformdirs

from .rules.limits import RuleLimits

# The embedded database's directory before it became per-user: a checkout's ./.leadgraph.
LEGACY_DATA_DIR = ".leadgraph"


def default_data_dir() -> Path:
    """``LEADGRAPH_DATA_DIR``, else where the embedded database lives by default: one
    directory per user (``platformdirs.user_data_dir``, e.g. ``~/.local/share/leadgraph``), so
    every command finds the same database whatever directory it is run from.

    A ``./.leadgraph`` holding a database (the default before) is kept in use when a command
    is run beside it; the command line says so (see :func:`legacy_data_dir`).
    """
    if os.environ.get("LEADGRAPH_DATA_DIR"):
        return Path(os.environ["LEADGRAPH_DATA_DIR"])
    legacy = legacy_data_dir()
    return legacy if legacy is not None else Path(platformdirs.user_data_dir("leadgraph"))


def legacy_data_dir() -> Path | None:
    """``./.leadgraph`` when it holds an embedded database made by an older leadgraph."""
    here = Path.cwd() / LEGACY_DATA_DIR
    return here if (here / "db").is_dir() else None


def uri_database(uri: str | None) -> str | None:
    """The database named in a MongoDB URI's path (``mongodb://host/crm`` -> ``crm``)."""
    # Read by hand: the driver's parser resolves ``mongodb+srv`` hosts through DNS.
    if not uri or "://" not in uri:
        return None
    rest = uri.split("://", 1)[1].split("?", 1)[0]
    if "/" not in rest:
        return None
    return unquote(rest.split("/", 1)[1]) or None


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know to start."""

    mongodb_uri: str | None = None
    db_name: str = "leadgraph"
    data_dir: Path = field(default_factory=default_data_dir)
    # --rules / LEADGRAPH_RULES_DIR; None: the data directory's rules (see rules_directory)
    rules_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # Query limits (README "Limits"); each can be set with LEADGRAPH_<NAME IN CAPITALS>.
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 4000
    max_selections: int = 5000  # fields, fragments and spreads once fragments are expanded
    request_deadline: float = 10.0  # seconds to validate and run a query (0: no deadline)
    default_page_size: int = 20  # a connection's page when neither first nor last is given
    max_page_size: int = 100  # the largest first/last a connection accepts
    max_list_length: int = 100  # the longest list any argument (or input field) may hold
    max_query_cost: int = 50_000  # a request's cost budget (see leadgraph.web.cost)
    rate_limit_per_second: float = 50_000.0  # cost points a key earns back per second
    rate_limit_burst: int = 200_000  # cost points a key may spend at once
    segment_count_ttl: float = 60.0  # seconds a segment's memberCount is served from cache
    # Subscriptions (see README "Subscriptions"): limits per API key and per process, the
    # events a subscriber may have waiting before it is dropped, and how often an open
    # WebSocket re-checks its key (revoked -> closed, role changed -> applied).
    max_subscriptions_per_key: int = 20
    max_subscriptions: int = 1000
    subscription_queue: int = 256
    ws_recheck_seconds: float = 2.0
    # Seconds an HTTP request may trust a key found live by an earlier request of this process
    # (web/key_states.VerifiedKeys): a revocation or role change applies within this time on
    # every process; 0 reads the key on every request.
    key_cache_seconds: float = 1.0
    # Transactions this process runs at once (more wait their turn, in the process); 0: the
    # default, no limit on MONGODB_URI (the server's own concurrency control admits them) and
    # db.EMBEDDED_TRANSACTIONS on the embedded server, which runs one command at a time.  See
    # docs/performance.md ("Transactions at once").
    max_transactions: int = 0
    rule_limits: RuleLimits = field(default_factory=RuleLimits)
    # Signs and encrypts pagination cursors; unset: generated once into ``data_dir/secret``.
    secret: str | None = None
    max_body_bytes: int = 8 * 1024 * 1024  # larger request bodies: 413
    max_json_depth: int = 64  # deeper JSON bodies or variables: 400
    read_timeout: float = 30.0  # seconds to receive a request body: 408
    header_timeout: float = 10.0  # seconds for a new connection to send its request headers
    db_timeout: float = 5.0  # seconds to find a reachable database server before UNAVAILABLE
    ready_timeout: float = 1.0  # seconds /readyz waits for the database's ping
    gzip_min_bytes: int = 1024  # larger responses are gzip-compressed when the client accepts it
    # Persisted queries (README "Persisted queries"): only registered hashes run, and clients
    # may not register (LEADGRAPH_PERSISTED_ONLY=1); seconds an HTTP cache may keep the answer
    # to a persisted query sent with GET (0: it stores it and revalidates with its ETag).
    persisted_only: bool = False
    persisted_max_age: int = 0
    # What a client's APQ request may register (any API key; never a caller without one): a
    # text of at most this many UTF-8 bytes, comments included, and this many queries per key.
    max_persisted_query_bytes: int = 20 * 1024
    max_persisted_queries_per_key: int = 100
    # Browsers (docs/frontends.md): origins whose pages may call the API (CORS; none by
    # default: LEADGRAPH_CORS_ORIGINS, a comma list), and the most operations one JSON array
    # body may batch (LEADGRAPH_MAX_BATCH).
    cors_origins: tuple[str, ...] = ()
    max_batch: int = 10
    # GraphQL's incremental delivery (`@defer`, `@stream`; strawberry's experimental support),
    # answered as multipart/mixed: off unless LEADGRAPH_INCREMENTAL_DELIVERY=1
    # (docs/performance.md "Incremental delivery" says what it was measured to do).
    incremental_delivery: bool = False
    # The record of what changed (docs/events.md): days events are kept (a TTL index), and
    # seconds after which an event no plugin handler has heard yet (its process died between
    # the commit and the dispatch) is handed to the handlers by the sweep.
    event_retention_days: float = 30.0
    event_sweep_seconds: float = 30.0
    # Captures a killed process left half done (docs/capture.md): every this many seconds one
    # server process finishes those noted longer ago than the age (younger ones may be running
    # in another process now).
    capture_sweep_seconds: float = 30.0
    capture_sweep_age_seconds: float = 60.0
    # When a rules version goes live, every lead is rescored in the background (docs/rules.md
    # "When rules go live"): LEADGRAPH_RESCORE_ON_RULES_CHANGE=0 turns it off; the run goes in
    # batches of rescore_batch leads under a lease of rescore_lease_seconds, and every
    # rescore_poll_seconds each server looks for a run to resume (its holder died).
    rescore_on_rules_change: bool = True
    rescore_batch: int = 500
    rescore_lease_seconds: float = 60.0
    rescore_poll_seconds: float = 30.0
    # Stage SLAs (docs/rules.md "Stage SLAs"): every sla_poll_seconds one server process acts
    # on the breaches due, sla_batch leads read at a time.
    sla_poll_seconds: float = 30.0
    sla_batch: int = 100
    # Webhooks (README "Webhooks"): the delivery worker's limits and schedule.  A failed
    # attempt is retried after webhook_retry_base * 2^n seconds (n: attempts so far; with
    # jitter, at most webhook_retry_max apart) for webhook_retry_hours; an endpoint whose
    # last webhook_disable_failures attempts all failed, over at least webhook_disable_hours,
    # is disabled.  URLs on loopback, private, link-local or reserved addresses are refused
    # unless LEADGRAPH_WEBHOOK_ALLOW_PRIVATE=1.
    webhook_allow_private: bool = field(
        default_factory=lambda: _flag(dict(os.environ), "LEADGRAPH_WEBHOOK_ALLOW_PRIVATE", False)
    )
    webhook_worker: bool = True  # LEADGRAPH_WEBHOOK_WORKER=0: serve without delivering
    webhook_timeout: float = 10.0  # seconds for one attempt (connect, send, first bytes)
    webhook_max_payload_bytes: int = 256 * 1024  # larger event bodies are sent thin
    webhook_max_response_bytes: int = 1024  # of an answer's body kept to show (the rest unread)
    webhook_retry_base: float = 10.0
    webhook_retry_max: float = 4 * 3600.0
    webhook_retry_hours: float = 72.0
    webhook_disable_failures: int = 20
    webhook_disable_hours: float = 24.0
    webhook_lease_seconds: float = 60.0  # a claimed delivery's lease (at least the timeout + 2)
    webhook_concurrency: int = 8  # attempts one worker has in flight at once
    webhook_poll_seconds: float = 1.0  # how often an idle worker looks for due deliveries

    @property
    def rules_directory(self) -> Path:
        """The rules directory: ``rules_dir`` when given, else ``<data_dir>/rules`` (made from
        the shipped rules on first use: :func:`leadgraph.defaults.rules_dir_of`)."""
        return self.rules_dir if self.rules_dir is not None else self.data_dir / "rules"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        base = replace(cls(), **_numbers_from_env(env))
        return replace(
            base,
            mongodb_uri=env.get("MONGODB_URI") or None,
            # LEADGRAPH_DB_NAME, else the database named in MONGODB_URI's path, else "leadgraph"
            db_name=env.get("LEADGRAPH_DB_NAME")
            or uri_database(env.get("MONGODB_URI"))
            or base.db_name,
            data_dir=Path(env["LEADGRAPH_DATA_DIR"])
            if env.get("LEADGRAPH_DATA_DIR")
            else base.data_dir,
            rules_dir=Path(env["LEADGRAPH_RULES_DIR"])
            if env.get("LEADGRAPH_RULES_DIR")
            else base.rules_dir,
            rule_limits=RuleLimits.from_env(env),
            secret=env.get("LEADGRAPH_SECRET") or None,
            persisted_only=_flag(env, "LEADGRAPH_PERSISTED_ONLY", base.persisted_only),
            cors_origins=parse_origins(env.get("LEADGRAPH_CORS_ORIGINS", "")),
            incremental_delivery=_flag(
                env, "LEADGRAPH_INCREMENTAL_DELIVERY", base.incremental_delivery
            ),
            webhook_allow_private=_flag(env, "LEADGRAPH_WEBHOOK_ALLOW_PRIVATE", False),
            webhook_worker=_flag(env, "LEADGRAPH_WEBHOOK_WORKER", base.webhook_worker),
            rescore_on_rules_change=_flag(
                env, "LEADGRAPH_RESCORE_ON_RULES_CHANGE", base.rescore_on_rules_change
            ),
        )

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with the non-None values of ``changes`` applied."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def parse_origins(text: str) -> tuple[str, ...]:
    """``LEADGRAPH_CORS_ORIGINS``: a comma list of origins; ValueError names a bad one."""
    origins: list[str] = []
    for raw in text.split(","):
        origin = raw.strip().rstrip("/")
        if not origin:
            continue
        parts = urlsplit(origin)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or "*" in origin
        ):
            raise ValueError(
                f"LEADGRAPH_CORS_ORIGINS: {raw.strip()!r} is not an origin "
                "(scheme://host[:port], e.g. https://app.example.com; no wildcards)"
            )
        origins.append(origin.lower())
    return tuple(dict.fromkeys(origins))


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    """A yes/no setting: ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be 1 or 0 (true/false), got {raw!r}")


def _numbers_from_env(env: dict[str, str]) -> dict[str, Any]:
    """The numeric settings (the limits) given as ``LEADGRAPH_<NAME>``, e.g.
    ``LEADGRAPH_MAX_QUERY_COST=20000``; a value that is not a number stops the start-up."""
    found: dict[str, Any] = {}
    for f in fields(Settings):
        kind = {"int": int, "float": float}.get(str(f.type))
        raw = env.get(f"LEADGRAPH_{f.name.upper()}")
        if kind is None or raw is None or not raw.strip():
            continue
        try:
            found[f.name] = kind(raw)
        except ValueError:
            raise ValueError(f"LEADGRAPH_{f.name.upper()} must be a number, got {raw!r}") from None
    return found


def server_secret(settings: Settings) -> bytes:
    """``LEADGRAPH_SECRET``, or the one kept in the data dir (created on first use).

    Every process on one data dir reads the same file, so they accept each other's cursors.
    Production sets ``LEADGRAPH_SECRET`` (the same value on every server behind one address).
    """
    if settings.secret:
        return settings.secret.encode()
    path = settings.data_dir / "secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".secret.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        try:  # link is atomic and never replaces: of two processes, the first one's secret wins
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip().encode()
