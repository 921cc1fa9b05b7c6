"""The typed contracts between leadgraph and its plugins, and the shared vocabulary.

Everything a hook returns (a matching kind, a scoring kind, an operator, a stage action or
guard) is described here once as a :class:`~typing.Protocol`, and everything an event hook or a
scorer receives as a plain type.  Built-in plugins (``leadgraph.plugins``) and partners'
plugins implement the same protocols; mypy checks the built-ins against them.

The closed vocabularies the domain uses (contact roles, consent levels, built-in interaction
types, lead statuses) are listed here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NotRequired, Protocol, TypedDict, runtime_checkable

if TYPE_CHECKING:
    from .rules.conditions import Compiler
    from .rules.models import EventSpec, ScoringModel, Strategy, Transition

# ---------------------------------------------------------------- vocabulary

#: A contact's role in the buying decision (``contact.role``).
CONTACT_ROLES: tuple[str, ...] = ("decisionMaker", "influencer", "user", "other")

#: What kind of contact a person is (``contact.contactType``, seed 000: partners, vendors,
#: speakers and sponsors are contacts too); rule files add types (``contact_types:``).
CONTACT_TYPES: tuple[str, ...] = ("customer", "prospect", "partner", "vendor", "speaker", "sponsor")

#: The data-protection consent a contact granted (``contact.consent.level``), weakest first.
CONSENT_LEVELS: tuple[str, ...] = (
    "not_set",
    "consent_given",
    "transactional",
    "marketing",
    "profiling",
    "tracking",
)

#: Built-in interaction types; rule files and plugins may declare more.
INTERACTION_TYPES: tuple[str, ...] = (
    "email_sent",
    "email_opened",
    "email_clicked",
    "form_submitted",
    "website_visited",
    "event_registered",
    "event_attended",
    "subscription_changed",
    "consent_changed",
)

#: Reserved: GraphQL's ``InteractionType.CUSTOM``, which stands for every declared (not built-in)
#: type; the declared name travels in ``customType``.
CUSTOM_INTERACTION_TYPE = "custom"

#: A lead's status: open in the funnel, or closed either way.
LEAD_STATUSES: tuple[str, ...] = ("open", "qualified", "disqualified")

# ---------------------------------------------------------------- facts


class Facts(TypedDict):
    """What the rules see of one lead, as stored in MongoDB.

    ``contacts`` are the people whose interactions count: the parent contact, or for an
    account-based lead the account's contacts; ``interactions`` are theirs, oldest first, as
    far as the rules read them (see :class:`InteractionReads`).  ``counts`` (optional) holds
    how many of their interactions match each event spec the rules count, keyed by
    :func:`leadgraph.rules.reads.spec_key`, counted by the database at the time of scoring;
    a count found there is used instead of counting ``interactions``.
    """

    lead: dict[str, Any]
    contact: dict[str, Any] | None
    account: dict[str, Any] | None
    contacts: list[dict[str, Any]]
    interactions: list[dict[str, Any]]
    counts: NotRequired[dict[str, int]]


@dataclass(frozen=True)
class InteractionReads:
    """What of a lead's interactions a scoring model or a lifecycle guard reads, so that
    the funnel reads no more than that from the database.

    ``counts``: only how many interactions match each of these event specs (their type,
    window and ``where``; ``min``/``max`` are ignored).  ``documents``: the interactions
    matching these specs themselves (for a kind that weighs each occurrence, e.g. by its
    age).  ``everything``: every interaction of the lead's contacts (what a plugin that does
    not say what it reads gets).
    """

    counts: tuple[EventSpec, ...] = ()
    documents: tuple[EventSpec, ...] = ()
    everything: bool = False

    def __or__(self, other: InteractionReads) -> InteractionReads:
        return InteractionReads(
            counts=self.counts + other.counts,
            documents=self.documents + other.documents,
            everything=self.everything or other.everything,
        )


#: What a reader that does not say what it reads gets: all interactions.
READS_EVERYTHING = InteractionReads(everything=True)


#: One line of a score's explanation: ``(rule name, points)``, or ``(rule name, points, detail)``
#: when the points need saying how they were computed (the built-in decay does).
Explained = tuple[str, float] | tuple[str, float, str]

#: A scoring model compiled by its kind: facts and the time of scoring in, the explanation out
#: (lines whose points add up to the score).
Scorer = Callable[[Mapping[str, Any], datetime], list[Explained]]

# ---------------------------------------------------------------- what plugins provide


@runtime_checkable
class MatchingKind(Protocol):
    """A matching kind (``leadgraph_matching_kinds``).

    ``key`` gives the normalised values of the strategy's fields that an existing record must
    share (None when a required value is missing); the values become the record's key in
    ``match_keys``, which the database keeps unique.  A kind that cannot express sameness as
    equal values (fuzzy matching) still returns a key (a blocking key) and may offer
    ``async find(candidates, record, strategy)``; see :class:`FuzzyMatchingKind`.
    """

    def key(self, record: Mapping[str, Any], strategy: Strategy) -> dict[str, str] | None: ...


@runtime_checkable
class FuzzyMatchingKind(MatchingKind, Protocol):
    """A matching kind that decides among candidate records itself."""

    async def find(
        self, collection: Any, record: Mapping[str, Any], strategy: Strategy
    ) -> dict[str, Any] | None: ...


class ScoringKind(Protocol):
    """A scoring model kind (``leadgraph_scoring_kinds``).

    ``prepare`` is called once per rule load for every model of the kind; it raises
    ``ValueError`` for bad ``options`` and returns the model's :data:`Scorer`.

    A kind may also offer ``reads(model) -> InteractionReads``: what of the interactions the
    model's scorer reads (called once per rule load).  Without it the funnel gives the scorer
    every interaction of the lead's contacts.  And ``facts(model) -> Iterable[str]``: the
    record fields it reads (``contact.jobTitle``); without it every edit of a contact, account
    or lead rescores their leads (see :class:`leadgraph.rules.reads.FactReads`).
    """

    def prepare(self, model: ScoringModel, conditions: Compiler) -> Scorer: ...


class Operator(Protocol):
    """A condition operator (``leadgraph_condition_operators``): ``test`` in Python and
    ``mongo`` as a MongoDB filter must select exactly the same documents."""

    def test(self, values: list[Any], value: Any) -> bool: ...

    def mongo(self, path: str, value: Any) -> dict[str, Any]: ...


class StageAction(Protocol):
    """A lifecycle action (``leadgraph_stage_actions``): the lead fields to set in the same
    write that moves the stage."""

    def __call__(
        self, lead: dict[str, Any], transition: Transition, options: dict[str, Any]
    ) -> dict[str, Any]: ...


class StageGuard(Protocol):
    """A named lifecycle guard (``leadgraph_stage_guards``).  A guard that reads no
    interactions says so with an attribute ``reads = InteractionReads()``; without one it is
    given every interaction of the lead's contacts.  ``facts`` (an iterable of
    ``lead.parentContactId``-like paths) says which record fields it reads; without it every
    edit rescores."""

    def __call__(self, facts: Mapping[str, Any]) -> bool: ...


# ---------------------------------------------------------------- failures


@dataclass(frozen=True)
class PluginFailure:
    """A plugin raised: which plugin, in which hook (or kind), and what it said."""

    plugin: str
    hook: str
    message: str

    def as_document(self) -> dict[str, str]:
        return {"plugin": self.plugin, "hook": self.hook, "message": self.message}
