"""The schema follows the rules' custom fields: ``Contact.custom`` and its kin are typed from
the live rules' ``fields:`` section, so when a rules version that changes the fields goes live,
a schema built for them (:func:`leadgraph.web.schema.build_schema`, about a quarter of a second)
replaces the view's in one reference assignment.

What clients see: a request already executing finishes on the schema it started with; every
request after the swap is validated against the new one (a query naming a field the new rules
no longer declare fails validation with GRAPHQL_VALIDATION_FAILED, like any unknown field).  An
open WebSocket keeps the schema it connected with until it reconnects.  The rate limiter's
buckets carry over; the per-schema document cache starts empty.
"""

from __future__ import annotations

import logging
from typing import Any

from ..rules.ruleset import RuleSet
from .schema import LeadgraphSchema, build_schema
from .state import AppState

log = logging.getLogger("leadgraph")


def follow(state: AppState, view: Any) -> None:
    """Keep ``view.schema`` (and ``state.schema``) built for the live rules' custom fields:
    now, and whenever a new rules version goes live."""
    rules = state.rules
    if rules is None:
        return

    def swap(ruleset: RuleSet) -> None:
        current = view.schema
        fields = ruleset.custom_fields
        if (
            isinstance(current, LeadgraphSchema)
            and current.custom_fields.fingerprint() == fields.fingerprint()
        ):
            return
        limiter = current.limiter if isinstance(current, LeadgraphSchema) else None
        try:
            built = build_schema(state.settings, fields, limiter=limiter)
        except Exception:  # the rules are live; the typed fields stay those of before
            log.exception(
                "building the schema for the custom fields of rules %s failed", ruleset.version
            )
            return
        state.schema = built
        view.schema = built  # one reference assignment: a request sees the old or the new
        log.info("schema rebuilt for the custom fields of rules %s", ruleset.version)

    rules.listeners.append(swap)
    if rules.current is not None:
        swap(rules.current)
