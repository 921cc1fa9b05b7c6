"""Orphan leads: leads that belong to nobody (neither a parent contact nor a parent account)
get a contact, matched by the form's contact strategy from the lead's own data (through the
matching service, as capture and import match) or created ``marketingOnly`` (so sales views
can hide it).  Account-based leads (a parent account, no contact) are not orphans: they are
left as they are; nor are leads anonymised when their person was deleted or erased.  A lead
holding the email of an erased person (a suppressed email) is left unlinked: orphan linking
never brings an erased person back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId

from ..contracts import PluginFailure
from ..events import Change, ContactCreated, Event, LeadUpdated
from ..rules.matcher import row_key
from ..store import contacts, leads
from . import dispatch
from .funnel import Funnel
from .matching import Matching
from .matching_batch import PERSON_FIELDS, Item, ids_by_key
from .privacy import suppressed

SOURCE = "link-orphans"


@dataclass
class Linked:
    linked: int = 0
    contacts_created: int = 0
    contacts_matched: int = 0
    suppressed: int = 0  # orphan leads of erased people, left unlinked
    lead_ids: list[ObjectId] = field(default_factory=list)
    plugin_failures: list[PluginFailure] = field(default_factory=list)


async def link_orphans(
    matching: Matching,
    funnel: Funnel,
    *,
    lead_ids: list[ObjectId] | None = None,
    limit: int | None = None,
    batch: int = 500,
) -> Linked:
    """Link every orphan lead (or those of ``lead_ids``); safe to run again at any time.

    Contacts created without keys (by hand, seed data) claim theirs first, so a lead finds
    them whatever the kind of the contact strategy.  Linked leads then go through the
    ``funnel`` (trigger ``updated``: now that they have a contact they can be scored), and
    plugins hear of the contacts created for them."""
    out = Linked()
    after: ObjectId | None = None  # suppressed leads stay orphans: page past them
    await matching.backfill("contacts")
    while True:
        size = batch if limit is None else min(batch, limit - out.linked)
        if size <= 0:
            break
        orphans = await leads.orphans(matching.db, size, lead_ids, after=after)
        if not orphans:
            break
        after = orphans[-1]["_id"]
        gone = await suppressed(
            matching.db, [e for d in orphans if (e := d.get("emailNormalized"))]
        )
        kept = [d for d in orphans if d.get("emailNormalized") not in gone]
        out.suppressed += len(orphans) - len(kept)
        linked = await _link_batch(matching, kept, out) if kept else []
        report = await funnel.run(await leads.by_ids_list(matching.db, linked), {"updated"})
        out.plugin_failures += report.failures
        if len(orphans) < size:
            break
    return out


async def _link_batch(
    matching: Matching, orphans: list[dict[str, Any]], out: Linked
) -> list[ObjectId]:
    people: list[Item] = []
    key_of: dict[ObjectId, str] = {}
    for lead in orphans:
        strategy = matching.strategy("contact", lead.get("formId"))
        person = {k: lead[k] for k in PERSON_FIELDS if lead.get(k)}
        item = await matching.item(
            "contacts",
            strategy,
            dict(person),
            row_key("contacts", "lead", str(lead["_id"])),
            fields={},
            insert_only={**person, "marketingOnly": True, "marketingSource": SOURCE},
            lines=[0],
        )
        key_of[lead["_id"]] = item.keys[0]
        people.append(item)
    # first_line beyond any line: a key held by an earlier run counts as matched, not created.
    done = await matching.resolve_many(
        "contacts", people, contacts.new_document, None, source=SOURCE, first_line=1 << 62
    )
    resolved = done.items
    out.contacts_created += sum(1 for i in resolved if i.created)
    out.contacts_matched += sum(1 for i in resolved if i.rid is not None and not i.created)
    ids = ids_by_key(resolved)
    parents = {
        lead["_id"]: ids[key_of[lead["_id"]]] for lead in orphans if key_of[lead["_id"]] in ids
    }
    out.lead_ids.extend(parents)
    out.linked += await leads.adopt_many(matching.db, parents)
    created = [i.rid for i in resolved if i.created and i.rid is not None]
    found: list[Event] = [
        ContactCreated(
            contact_id=c["_id"],
            source="orphans",
            email=c.get("email"),
            account_id=c.get("accountId"),
        )
        for c in (await contacts.by_ids(matching.db, created)).values()
    ]
    found += [
        LeadUpdated(lead_id=lid, contact_id=cid, changes=(Change("parentContactId", None, cid),))
        for lid, cid in parents.items()
    ]
    # bulk upserts (as an import's): the events are stored right after them, in one insert
    out.plugin_failures += await dispatch.record(matching.db, matching.pm, found)
    return list(parents)
