"""Every hook a leadgraph plugin can implement: the contract between leadgraph and plugins.

Built-in behaviour (``leadgraph.plugins``) and third-party plugins (entry-point group
``leadgraph``) implement these same hooks with ``@leadgraph.hookimpl``.  Hooks are plain
functions: pluggy calls every implementation and returns the list of non-None results, except
for the hooks marked "stops at the first non-None result".

Provider hooks (``*_kinds``, ``*_operators``, ``*_facts``, ``*_actions``, ``*_guards``) are
called once per rule load (start-up, hot reload, ``reloadRules``); what they return is frozen
into that :class:`~leadgraph.rules.models.RuleSet`.  Event hooks are called after the write they
report was committed; a plugin that raises is logged with its name and never undoes the write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import hookspec

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


# ---------------------------------------------------------------- events (after the write)


@hookspec
def leadgraph_contact_created(contact: dict[str, Any]) -> None:
    """A contact was created (by hand, capture or import).

    :param contact: the stored contact document.
    """


@hookspec
def leadgraph_lead_created(lead: dict[str, Any], contact: dict[str, Any] | None) -> None:
    """A lead was created.

    :param lead: the stored lead document.
    :param contact: its parent contact document, when it has one.
    """


@hookspec
def leadgraph_interaction_recorded(
    interaction: dict[str, Any], contact: dict[str, Any] | None
) -> None:
    """An interaction was recorded against a contact.

    :param interaction: the stored interaction document.
    :param contact: the contact it belongs to.
    """


@hookspec
def leadgraph_lead_scored(lead: dict[str, Any], results: list[Any]) -> None:
    """A lead was (re)scored and the scores were stored.

    :param lead: the lead document after the write.
    :param results: the :class:`~leadgraph.rules.scoring.ScoreResult` of every model, each with
        its explanation and the rules version that produced it.
    """


@hookspec
def leadgraph_stage_changed(
    lead: dict[str, Any],
    from_stage: str | None,
    to_stage: str,
    transition: str,
    rules_version: str | None,
) -> None:
    """A lead moved along its lifecycle (automatically or by hand).

    :param lead: the lead document after the write.
    :param from_stage: the stage it left.
    :param to_stage: the stage it entered.
    :param transition: the name of the transition taken.
    :param rules_version: the version of the rules that allowed the move.
    """


@hookspec
def leadgraph_lead_closed(
    lead: dict[str, Any], status: str, reason: str | None, by: str | None
) -> None:
    """A lead left the funnel: qualified into an opportunity, or disqualified.

    :param lead: the lead document after the write (``status`` is the new status).
    :param status: ``qualified`` or ``disqualified``.
    :param reason: why, as the person gave it (may be None).
    :param by: the name of the API key that closed it.
    """


@hookspec
def leadgraph_lead_assigned(
    lead: dict[str, Any],
    owner: str | None,
    previous_owner: str | None,
    accepted: bool,
    by: str | None,
) -> None:
    """A lead got an owner (``assignLead``), or a person accepted it for sales (moved it into
    the lifecycle's acceptance stage, or assigned it there).  Called after the write.

    :param lead: the lead document after the write (``owner``, ``salesAccepted``).
    :param owner: the salesperson it is assigned to.
    :param previous_owner: its owner before (None when it had none).
    :param accepted: True when this write recorded "sales accepted".
    :param by: the name of the API key that did it.
    """


@hookspec
def leadgraph_lead_qualified(
    lead: dict[str, Any], opportunity: dict[str, Any], by: str | None
) -> None:
    """A lead was qualified into an opportunity (``qualifyLead``).  Called after the
    transaction that closed the lead and inserted the opportunity committed (after
    ``lead_closed``).

    :param lead: the lead document after the write (``status`` is ``qualified``).
    :param opportunity: the new opportunity document (``stage`` ``open``, ``leadId``,
        ``contactId``, ``accountId``, ``owner``, ``topic``, ``value``).
    :param by: the name of the API key that qualified it.
    """


@hookspec
def leadgraph_opportunity_closed(
    opportunity: dict[str, Any], stage: str, reason: str | None, by: str | None
) -> None:
    """An open opportunity was won or lost (``markOpportunityWon`` / ``markOpportunityLost``).
    Called after the write.

    :param opportunity: the opportunity document after the write.
    :param stage: ``won`` or ``lost``.
    :param reason: why, as the person gave it (may be None).
    :param by: the name of the API key that closed it.
    """


@hookspec
def leadgraph_contacts_merged(contact: dict[str, Any], merge: dict[str, Any]) -> None:
    """Duplicate contacts were merged into one (``mergeContacts``).

    :param contact: the surviving contact document after the merge.
    :param merge: the merge record: ``survivorId``, ``mergedIds``, the survivorship choices
        and what moved (leads, interactions, match keys), as ``undoMerge`` reads it.
    """
