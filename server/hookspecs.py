"""Every hook a leadgraph plugin can implement: the contract between leadgraph and plugins.

Built-in behaviour (``leadgraph.plugins``) and third-party plugins (entry-point group
``leadgraph``) implement these same hooks with ``@leadgraph.hookimpl``.  Hooks are plain
functions: pluggy calls every implementation (``tryfirst``/``trylast`` and hookwrappers as
pluggy documents them); no hook stops at the first result.

Provider hooks (``*_kinds``, ``*_operators``, ``*_facts``, ``*_actions``, ``*_guards``) are
called once per rule load (start-up, hot reload, ``reloadRules``); what they return is frozen
into that :class:`~leadgraph.rules.models.RuleSet`.

Event hooks: one per event type of :mod:`leadgraph.events` (``contact.updated`` calls
``leadgraph_contact_updated``), and :func:`leadgraph_event` for every event.  Each is called
with ``event`` (the typed, frozen event) and ``event_id`` (its id as a string), through
``pm.hook``, after the transaction that stored the change and its event committed; again by
the sweep when the process died before (at least once: deduplicate by ``event_id``).  Return
values are ignored; an ``async def`` handler is awaited.  A handler that raises is logged with
its name, recorded on the event and named to the caller; the others still run and the change
stays written.  docs/events.md is the catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import events, hookspec

# ---------------------------------------------------------------- rule vocabulary providers


@hookspec
def leadgraph_matching_kinds() -> Mapping[str, Any] | None:
    """Matching strategy kinds this plugin provides.

    Called on every rule load.  Rule files name a kind in ``matching.strategies[].kind``.

    :returns: ``{kind name: matcher}``.  A matcher offers
        ``key(record: dict, strategy) -> dict[str, str] | None``: the normalised values of the
        strategy's ``fields`` that an existing record must share, or None when a required
        value is missing (then nothing is matched and a new record may be created).  A fuzzy
        kind may also offer ``async find(collection, record, strategy) -> dict | None`` that
        returns the existing document it considers the same.  An optional
        ``check(strategy) -> None`` raises ``ValueError`` for bad ``options``.
    """


@hookspec
def leadgraph_scoring_kinds() -> Mapping[str, Any] | None:
    """Scoring model kinds this plugin provides.

    Called on every rule load.  Rule files name a kind in ``scoring[].kind``.

    :returns: ``{kind name: scoring kind}``.  A scoring kind offers
        ``prepare(model: ScoringModel, conditions: Compiler) -> scorer``, called once per load
        for every model of that kind (raise ``ValueError`` to reject the model's ``options``;
        the message is reported at the model's file and line).  The returned
        ``scorer(facts: dict, now: datetime) -> list[tuple[str, float]]`` gives the
        explanation of one lead's score: ``(rule name, points)`` pairs that add up to it.
        ``facts`` is ``{"lead", "contact", "account", "interactions"}`` as stored in MongoDB.
    """


@hookspec
def leadgraph_condition_operators() -> Mapping[str, Any] | None:
    """Comparison operators usable as ``op`` in conditions.

    Called on every rule load.

    :returns: ``{operator name: operator}``.  An operator offers
        ``test(values: list, value) -> bool`` (``values``: what the fact's path reaches in the
        document, with MongoDB's array semantics: an array field yields its elements and
        itself; an empty list when the field is missing), ``mongo(path: str, value) -> dict``
        (the equivalent MongoDB query filter, which must select exactly the same documents),
        and optionally ``check(value) -> None`` raising ``ValueError`` for a bad ``value``.
    """


@hookspec
def leadgraph_condition_facts() -> Mapping[str, str] | None:
    """Extra facts (record fields) conditions may refer to, beyond the documented fields.

    Called on every rule load.  Use it when a plugin stores its own fields on contacts,
    leads, accounts or interactions.

    :returns: ``{"contact.loyaltyTier": "description", ...}``; a name ending in ``.*`` allows
        every sub-field under it.
    """


@hookspec
def leadgraph_stage_actions() -> Mapping[str, Any] | None:
    """Actions a lifecycle transition can run (``transitions[].actions``).

    Called on every rule load.

    :returns: ``{action name: action}``.  An action is a callable
        ``action(lead: dict, transition: Transition, options: dict) -> dict`` returning the
        lead fields to set in the same write that moves the stage (return ``{}`` for none).
        It may have a ``check(options) -> None`` attribute raising ``ValueError``.
    """


@hookspec
def leadgraph_stage_guards() -> Mapping[str, Any] | None:
    """Named guards a lifecycle transition can require (``transitions[].requires``).

    Called on every rule load.  Prefer a ``guard:`` condition in the rule file; named guards
    are for checks the condition language cannot express.

    :returns: ``{guard name: guard}``; a guard is ``guard(facts: dict) -> bool``.
    """


@hookspec
def leadgraph_interaction_types() -> Mapping[str, str] | None:
    """Interaction types this plugin adds to the built-in ones (``email_opened``, ...).

    Called on every rule load.  Rule files may use the types in ``event:`` / ``per_event:``
    conditions and ``interaction.type`` comparisons, and clients record them with
    ``recordInteraction(input: {type: CUSTOM, customType: "..."})``.  A name already built in,
    declared by a rule file or provided by another plugin is an error at load.

    :returns: ``{"webinar_watched": "description", ...}``; names are lowercase snake_case.
    """


# ---------------------------------------------------------------- events (after the commit)


@hookspec
def leadgraph_event(event: events.Event, event_id: str) -> None:
    """Any event of :mod:`leadgraph.events` was recorded (called after the event's own hook).

    :param event: the typed event (``event.type`` names it: ``contact.updated``).
    :param event_id: its id in the ``events`` collection (deduplicate by it).
    :returns: nothing (ignored).
    """


def _event_hookspec(cls: type[events.Event]) -> Any:
    """The hook of one event type: called with the typed event and its id."""

    def hook(event: events.Event, event_id: str) -> None:
        pass

    hook.__name__ = hook.__qualname__ = events.hook_name(cls.type)
    hook.__doc__ = (
        f"``{cls.type}`` (v{cls.version}) was recorded: {cls.__doc__}\n\n"
        f"Called after the transaction that stored it committed (and by the sweep when its "
        f"process died before; at least once).\n\n"
        f":param event: the :class:`~leadgraph.events.{cls.__name__}`.\n"
        f":param event_id: its id in the ``events`` collection (deduplicate by it).\n"
        f":returns: nothing (ignored)."
    )
    hook.__annotations__ = {"event": cls, "event_id": str, "return": None}
    return hookspec(hook)


# One hook per event type, generated from the catalogue so that none is missing or stale.
for _cls in events.catalogue():
    globals()[events.hook_name(_cls.type)] = _event_hookspec(_cls)
