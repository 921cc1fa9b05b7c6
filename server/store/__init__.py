"""Data access: one module per collection, the only code that talks to MongoDB.
May import rules and the core, never services, api, web, cli or strawberry.

Each module declares ``INDEXES`` (collection name -> index models); ``INDEXES`` here is their
union, created idempotently at start-up by :func:`leadgraph.db.ensure_indexes`.
"""

from __future__ import annotations

from pymongo import IndexModel

from . import (
    accounts,
    assignment_turns,
    contacts,
    events,
    history,
    imports,
    interaction_days,
    interactions,
    keys,
    lead_slas,
    leads,
    leases,
    match_keys,
    merges,
    opportunities,
    pending_captures,
    persisted_queries,
    privacy_audit,
    rescore_runs,
    segment_evaluations,
    segment_members,
    segments,
    submissions,
    subscription_lists,
    suppressions,
    webhook_deliveries,
    webhooks,
)

INDEXES: dict[str, list[IndexModel]] = {}
for _module in (
    accounts,
    assignment_turns,
    contacts,
    events,
    history,
    interaction_days,
    interactions,
    keys,
    lead_slas,
    leads,
    leases,
    match_keys,
    submissions,
    imports,
    merges,
    opportunities,
    pending_captures,
    persisted_queries,
    segments,
    segment_members,
    segment_evaluations,
    subscription_lists,
    suppressions,
    privacy_audit,
    rescore_runs,
    webhooks,
    webhook_deliveries,
):
    for _name, _models in _module.INDEXES.items():
        INDEXES.setdefault(_name, []).extend(_models)

# collection -> names of indexes earlier versions created and this one no longer declares (a
# compound index serves their reads, or none would be used): ``ensure_indexes`` drops them.
RETIRED_INDEXES: dict[str, list[str]] = {}
for _module in (contacts, interactions, leads, webhooks):
    for _name, _names in _module.RETIRED.items():
        RETIRED_INDEXES.setdefault(_name, []).extend(_names)
