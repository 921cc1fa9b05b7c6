"""At start-up, the orphan leads already stored are linked as new ones are.

With the matching file's ``link_orphan_leads`` (on by default, seed 001's recommended setup) a
lead created with neither a parent contact nor a parent account gets a contact at once; leads
stored before that (or while the setting was off) are linked here, once per start, in the
background: through the matching service (the lead's own data finds an existing contact
first, else a ``marketingOnly`` contact is created), then scored (:func:`link_orphans`).  Safe
on any number of processes at once: a lead is adopted only while it has no parent, and every
contact claims its match key first.  ``link_orphan_leads: false`` leaves them for
``linkOrphanLeads`` / ``leadgraph import link-orphans``.
"""

from __future__ import annotations

import asyncio
import logging

from ..services.orphans import Linked, link_orphans
from .state import AppState

log = logging.getLogger("leadgraph")


async def link_existing(state: AppState) -> Linked | None:
    """Link every stored orphan lead when the live rules say so (None: they do not)."""
    if state.rules is None or state.rules.current is None:
        return None
    if not state.rules.current.matching.link_orphan_leads:
        return None
    services = state.services.get(state.db, state.rules, state.pm)
    out = await link_orphans(services.matching, services.funnel)
    if out.linked or out.plugin_failures:
        log.info(
            "linked %d orphan leads at start-up (%d marketingOnly contacts created, %d "
            "existing contacts matched, %d plugin failures)",
            out.linked,
            out.contacts_created,
            out.contacts_matched,
            len(out.plugin_failures),
        )
    return out


async def _run(state: AppState) -> Linked | None:
    try:
        return await link_existing(state)
    except Exception:  # the database is away: the next start (or linkOrphanLeads) links them
        log.exception("linking the stored orphan leads failed")
        return None


def start(state: AppState) -> asyncio.Task[Linked | None]:
    """The start-up task (kept as ``state.orphan_link``, which a test may await)."""
    state.orphan_link = asyncio.create_task(_run(state), name="leadgraph-orphan-link")
    return state.orphan_link
