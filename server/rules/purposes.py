"""Purposes a segment can declare, and the consent rules each one applies: the one table.

A segment with ``purpose: commercial_email`` never contains a contact who may not receive
commercial email.  Every exclusion is a condition of the one condition language on the
contact, so the database computes it (:mod:`leadgraph.store.segment_query`) and one contact is
explained with the same condition (:mod:`leadgraph.rules.conditions`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..contracts import CONSENT_LEVELS
from .models import AllOf, AnyOf, Compare, Condition


@dataclass(frozen=True)
class Purpose:
    """What a purpose requires of a contact.

    ``email``: the contact needs an email address, must allow email at all
    (``preferences.allowEmail``: it blocks every email, commercial and transactional) and must
    not have unsubscribed from the segment's subscription list; ``bulk``:
    ``preferences.allowBulkEmail`` must be true;
    ``min_consent``: ``consent.level`` at least this (in the order of
    :data:`~leadgraph.contracts.CONSENT_LEVELS`); ``children``: a child
    (``consent.isChild``) needs a guardian (``consent.guardian``) who consented.
    """

    name: str
    description: str
    email: bool = False
    bulk: bool = False
    min_consent: str | None = None
    children: bool = True


PURPOSES: dict[str, Purpose] = {
    p.name: p
    for p in (
        Purpose(
            "commercial_email",
            "Marketing email sent in bulk (newsletters, campaigns).",
            email=True,
            bulk=True,
            min_consent="marketing",
        ),
        Purpose(
            "transactional_email",
            "Email the contact needs for something they asked for (event details, receipts).",
            email=True,
            min_consent="transactional",
        ),
        Purpose(
            "profiling",
            "Analysis of the contact's behaviour (scoring audiences, look-alikes).",
            min_consent="profiling",
        ),
    )
}


@dataclass(frozen=True)
class Exclusion:
    """One consent rule: contacts meeting ``when`` are excluded, for ``reason``."""

    reason: str
    description: str
    when: Condition


def _blank(fact: str) -> Condition:
    return AnyOf(any=[Compare(fact=fact, op="eq", value=None), Compare(fact=fact, value="")])


def exclusions(purpose: str | None, subscription_list: str | None = None) -> list[Exclusion]:
    """The consent rules of ``purpose`` (none without one), in the order they are reported."""
    if purpose is None:
        return []
    p = PURPOSES[purpose]
    out: list[Exclusion] = []
    if p.email:
        out.append(
            Exclusion("no_email", "The contact has no email address.", _blank("contact.email"))
        )
        out.append(
            Exclusion(
                "email_not_allowed",
                "The contact allows no email at all, commercial or transactional "
                "(preferences.allowEmail).",
                Compare(fact="contact.preferences.allowEmail", op="ne", value=True),
            )
        )
    if p.bulk:
        out.append(
            Exclusion(
                "bulk_email_not_allowed",
                "The contact does not allow bulk email (preferences.allowBulkEmail).",
                Compare(fact="contact.preferences.allowBulkEmail", op="ne", value=True),
            )
        )
    if p.email and subscription_list is not None:
        out.append(
            Exclusion(
                "unsubscribed",
                f"The contact unsubscribed from the list {subscription_list!r}.",
                Compare(fact="contact.unsubscribed", op="eq", value=subscription_list),
            )
        )
    if p.min_consent is not None:
        enough = list(CONSENT_LEVELS[CONSENT_LEVELS.index(p.min_consent) :])
        out.append(
            Exclusion(
                "consent_too_low",
                f"The contact's consent level is below {p.min_consent!r}.",
                Compare(fact="contact.consent.level", op="not_in", value=enough),
            )
        )
    if p.children:
        out.append(
            Exclusion(
                "child_without_guardian",
                "The contact is a child without a guardian's consent (consent.guardian).",
                AllOf(
                    all=[
                        Compare(fact="contact.consent.isChild", op="eq", value=True),
                        _blank("contact.consent.guardian"),
                    ]
                ),
            )
        )
    return out


REASONS: tuple[str, ...] = (
    "no_email",
    "email_not_allowed",
    "bulk_email_not_allowed",
    "unsubscribed",
    "consent_too_low",
    "child_without_guardian",
)
