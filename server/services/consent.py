"""Consent: the one road for every change to what a contact allows.

A contact's consent-bearing fields are its preferences (``allowBulkEmail``, ``allowEmail``,
``allowPrefill``, ``trackEmail``), its data-protection settings (``consent.level``,
``isChild``, ``guardian``) and its subscription-list membership (``subscriptions``: lists it
is subscribed to; ``unsubscribed``: lists it explicitly left).  Whoever changes them — an API
user (``createContact``, ``updateContact``, ``subscribeContacts``, ...), a form submission or
event registration, the subscription centre, an import — goes through :meth:`Consent.apply`
(or :meth:`Consent.apply_many` for a batch), which, in one transaction, writes the new
values and records a ``consent_changed`` interaction naming who (``via`` and ``by``), when,
from where (source, IP address and user agent of the request when there is one) and every
change as ``old -> new``.  A change that changes nothing records nothing.  These
interactions are records, not engagement: the contact's insights do not count them.

**Unsubscribe wins.** Adding a contact to a list it has left (``unsubscribed``) is skipped
(reported in ``kept_out``) unless the person asks for it themselves: a form they submit, the
subscription centre, or an API call with ``resubscribe: true`` (a person recording the
person's own request).  Bulk adds — imports, ``createContact``, ``subscribeContacts`` without
``resubscribe`` — never bring an unsubscribed contact back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from ..db import in_transaction
from ..errors import InvalidInput
from ..events import Change, ConsentChanged, Event
from ..store import contacts, interactions, subscription_lists
from ..store.clock import now
from ..types import InteractionDoc, PluginManager, Session
from . import dispatch

TYPE = "consent_changed"
PREFERENCES = ("allowBulkEmail", "allowEmail", "allowPrefill", "trackEmail")
CONSENT = ("level", "isChild", "guardian")
#: Who may change consent.  The person's own acts (a form, an event registration, the
#: subscription centre) may re-subscribe; the others are done for them.
VIAS = ("api", "form", "event", "subscription_centre", "import")
PERSON_VIAS = ("form", "event", "subscription_centre")


@dataclass(frozen=True)
class Actor:
    """Who changes consent, and from where.

    ``via``: one of :data:`VIAS`; ``by``: the API key's name, the form id, the import id;
    ``source``: where the change came from in words a reader follows (``form:landing``,
    ``import:<id> line 12``); ``ip`` / ``user_agent``: of the HTTP request, when there is one.
    """

    via: str
    by: str | None = None
    source: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    form_id: str | None = None

    @property
    def is_person(self) -> bool:
        """The person themselves acted (and so may re-subscribe to a list they left)."""
        return self.via in PERSON_VIAS

    def to_doc(self) -> dict[str, Any]:
        doc = {
            "via": self.via,
            "by": self.by,
            "source": self.source,
            "ip": self.ip,
            "userAgent": self.user_agent,
        }
        return {k: v for k, v in doc.items() if v is not None}


@dataclass
class ConsentChange:
    """What to change; empty parts change nothing.  ``resubscribe`` None: the actor decides
    (the person may, others may not)."""

    preferences: dict[str, bool] = field(default_factory=dict)
    consent: dict[str, Any] = field(default_factory=dict)
    subscribe: list[str] = field(default_factory=list)
    unsubscribe: list[str] = field(default_factory=list)
    unsubscribe_all: bool = False
    resubscribe: bool | None = None
    #: the exact set of lists to be subscribed to (others left), when given
    subscriptions: list[str] | None = None
    #: the input field named in the error when a list to join is not active
    path: str = "subscriptions"

    def __bool__(self) -> bool:
        return bool(
            self.preferences
            or self.consent
            or self.subscribe
            or self.unsubscribe
            or self.unsubscribe_all
            or self.subscriptions is not None
        )

    @classmethod
    def of_fields(cls, fields: dict[str, Any]) -> ConsentChange:
        """The consent part of validated contact fields (``preferences``, ``consent``,
        ``subscriptions`` as lists to subscribe to), popped from ``fields``."""
        return cls(
            preferences=dict(fields.pop("preferences", None) or {}),
            consent=dict(fields.pop("consent", None) or {}),
            subscribe=list(fields.pop("subscriptions", None) or []),
        )


@dataclass
class Applied:
    """The outcome for one contact: the changes made (``[{field, list?, old, new}]``), the
    lists a bulk add left out because the contact had unsubscribed, the state after and the
    ``consent_changed`` interaction (None when nothing changed)."""

    contact_id: ObjectId
    changes: list[dict[str, Any]] = field(default_factory=list)
    kept_out: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    interaction: InteractionDoc | None = None
    #: its ``consent.changed`` event (None when nothing changed): stored by the caller that
    #: gave a session, in its transaction's one insert of events
    event: ConsentChanged | None = None


async def require_lists(
    db: AsyncDatabase,
    names: list[str],
    path: str,
    *,
    active: bool = True,
    session: Session | None = None,
) -> None:
    """Every name must be a subscription list (an active one with ``active``).

    :raises InvalidInput: naming ``path`` and each unknown (or archived) list.
    """
    if not names:
        return
    found = await subscription_lists.by_names(db, names, session=session)
    bad = []
    for name in dict.fromkeys(names):
        doc = found.get(name)
        if doc is None:
            bad.append((path, f"no subscription list named {name!r}"))
        elif active and doc.get("status") != "active":
            bad.append((path, f"the subscription list {name!r} is archived"))
    if bad:
        raise InvalidInput(bad)


def plan(
    state: dict[str, Any], change: ConsentChange, actor: Actor, every_list: list[str]
) -> tuple[dict[str, Any], Applied]:
    """The ``$set`` for one contact and what it changes (pure: tested through the API).

    ``state``: the contact's consent fields now; ``every_list``: the active lists'
    names (what "unsubscribe from everything" covers besides the contact's own lists)."""
    out = Applied(state["_id"])
    sets: dict[str, Any] = {}
    for group, names, values in (
        ("preferences", PREFERENCES, change.preferences),
        ("consent", CONSENT, change.consent),
    ):
        current = state.get(group) or {}
        for name in names:
            if name not in values:
                continue
            old, new = current.get(name), values[name]
            if old != new:
                sets[f"{group}.{name}"] = new
                out.changes.append({"field": f"{group}.{name}", "old": old, "new": new})
    subscribed = list(state.get("subscriptions") or [])
    left = list(state.get("unsubscribed") or [])
    may_return = change.resubscribe if change.resubscribe is not None else actor.is_person
    joining = list(change.subscribe)
    leaving = list(change.unsubscribe)
    if change.subscriptions is not None:
        joining += [n for n in change.subscriptions if n not in subscribed]
        leaving += [n for n in subscribed if n not in change.subscriptions]
    if change.unsubscribe_all:
        leaving += subscribed + every_list
        if (state.get("preferences") or {}).get("allowBulkEmail") is not False and (
            "preferences.allowBulkEmail" not in sets
        ):
            sets["preferences.allowBulkEmail"] = False
            old = (state.get("preferences") or {}).get("allowBulkEmail")
            out.changes.append({"field": "preferences.allowBulkEmail", "old": old, "new": False})
    for name in dict.fromkeys(joining):
        if name in leaving or name in subscribed:
            continue
        if name in left and not may_return:
            out.kept_out.append(name)
            continue
        old = "unsubscribed" if name in left else None
        subscribed.append(name)
        left = [n for n in left if n != name]
        out.changes.append(
            {"field": "subscriptions", "list": name, "old": old, "new": "subscribed"}
        )
    for name in dict.fromkeys(leaving):
        if name in left:
            continue
        old = "subscribed" if name in subscribed else None
        subscribed = [n for n in subscribed if n != name]
        left.append(name)
        out.changes.append(
            {"field": "subscriptions", "list": name, "old": old, "new": "unsubscribed"}
        )
    if subscribed != list(state.get("subscriptions") or []):
        sets["subscriptions"] = subscribed
    if left != list(state.get("unsubscribed") or []):
        sets["unsubscribed"] = left
    after = {
        **state,
        "subscriptions": subscribed,
        "unsubscribed": left,
        "preferences": {**(state.get("preferences") or {})},
        "consent": {**(state.get("consent") or {})},
    }
    for path, value in sets.items():
        group, _, name = path.partition(".")
        if name:
            after[group][name] = value
    out.state = after
    return sets, out


class Consent:
    """Consent changes over one database (see the module docstring)."""

    def __init__(self, db: AsyncDatabase, pm: PluginManager | None = None) -> None:
        self.db = db
        self.pm = pm

    async def apply(
        self,
        contact_id: ObjectId,
        change: ConsentChange,
        actor: Actor,
        session: Session | None = None,
    ) -> Applied | None:
        """Apply ``change`` to one contact as ``actor``; None when there is no such contact.
        In the caller's transaction (``session``: the caller stores ``Applied.event`` with its
        own events) or a new one (which stores and delivers it)."""
        done = await self.apply_many([(contact_id, change)], actor, session=session)
        return done.get(contact_id)

    async def apply_many(
        self,
        items: list[tuple[ObjectId, ConsentChange]],
        actor: Actor,
        *,
        session: Session | None = None,
        sources: dict[ObjectId, str] | None = None,
    ) -> dict[ObjectId, Applied]:
        """Apply each ``(contact id, change)`` as ``actor`` (``sources``: a per-contact
        ``source``, e.g. an import's line), in one transaction: one read of the contacts, one
        bulk write, one bulk insert of the ``consent_changed`` interactions.  Contacts that do
        not exist are left out of the answer."""
        items = [(cid, c) for cid, c in items if c]
        if not items:
            return {}
        if session is not None:
            return await self._apply_many(items, actor, session, sources or {})

        async def work(s: Any) -> dict[ObjectId, Applied]:
            done = await self._apply_many(items, actor, s, sources or {})
            await dispatch.append(self.db, self.pm, _events(done), s)
            return done

        done = await in_transaction(self.db, work)
        await dispatch.deliver(self.db, self.pm, _events(done))  # failures: on the events
        return done

    async def _apply_many(
        self,
        items: list[tuple[ObjectId, ConsentChange]],
        actor: Actor,
        session: Session | None,
        sources: dict[ObjectId, str],
    ) -> dict[ObjectId, Applied]:
        states = await contacts.consent_states(self.db, [cid for cid, _ in items], session)
        every: list[str] = []
        if any(c.unsubscribe_all for _, c in items):
            active = await subscription_lists.all_lists(self.db, "active", session=session)
            every = [d["name"] for d in active]
        for path in dict.fromkeys(c.path for _, c in items):
            joining = [
                n for cid, c in items if c.path == path for n in _joining(c, states.get(cid))
            ]
            await require_lists(self.db, joining, path, session=session)
        out: dict[ObjectId, Applied] = {}
        current = dict(states)
        for cid, change in items:  # a contact twice in a batch: the second sees the first
            if cid not in current:
                continue
            _, applied = plan(current[cid], change, actor, every)
            current[cid] = {**applied.state, "_id": cid}
            if cid in out:
                out[cid].changes += applied.changes
                out[cid].kept_out += applied.kept_out
                out[cid].state = applied.state
            else:
                out[cid] = applied
        writes = [(cid, sets) for cid in out if (sets := _sets_of(states[cid], current[cid]))]
        records: list[dict[str, Any]] = []
        t = now()
        for cid, applied in out.items():
            if applied.changes:
                src = sources.get(cid) or actor.source
                details = {**actor.to_doc(), "changes": applied.changes}
                if src:
                    details["source"] = src
                if applied.kept_out:
                    details["keptOut"] = applied.kept_out
                records.append(
                    {
                        "contactId": cid,
                        "type": TYPE,
                        "occurredAt": t,
                        "formId": actor.form_id,
                        "details": details,
                    }
                )
        await contacts.set_many(self.db, writes, session=session)
        recorded = await interactions.insert_records(self.db, records, session=session)
        for doc in recorded:
            out[doc["contactId"]].interaction = doc
        for cid, applied in out.items():
            if applied.changes:
                applied.event = ConsentChanged(
                    contact_id=cid,
                    changes=tuple(_change(c) for c in applied.changes),
                    source=sources.get(cid) or actor.source,
                )
        return out


def _change(change: dict[str, Any]) -> Change:
    name = change["field"] + (f".{change['list']}" if change.get("list") else "")
    return Change(name, change.get("old"), change.get("new"))


def _events(done: dict[ObjectId, Applied]) -> list[Event]:
    return [a.event for a in done.values() if a.event is not None]


def _joining(change: ConsentChange, state: dict[str, Any] | None) -> list[str]:
    """The lists a change would add a contact to (each must be active)."""
    mine = (state or {}).get("subscriptions") or []
    wanted = [*change.subscribe, *(change.subscriptions or [])]
    return [n for n in wanted if n not in mine]


def _sets_of(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The ``$set`` that takes a contact's consent fields from ``before`` to ``after``."""
    sets: dict[str, Any] = {}
    for group, names in (("preferences", PREFERENCES), ("consent", CONSENT)):
        for name in names:
            old = (before.get(group) or {}).get(name)
            new = (after.get(group) or {}).get(name)
            if old != new:
                sets[f"{group}.{name}"] = new
    for array in ("subscriptions", "unsubscribed"):
        if list(before.get(array) or []) != list(after.get(array) or []):
            sets[array] = list(after.get(array) or [])
    return sets
