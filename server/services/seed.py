"""Realistic demo data: accounts with employees, contacts with consent preferences, several
leads per contact in different marketing contexts, orphan leads and interactions of every type."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from faker import Faker
from pymongo.asynchronous.database import AsyncDatabase

from .. import normalize
from ..contracts import CONSENT_LEVELS, CONTACT_ROLES
from ..store import accounts, clock, contacts, interactions, leads, subscription_lists
from ..types import Doc
from .facts import assemble_facts
from .funnel import Funnel

INDUSTRIES = [
    "Software",
    "Manufacturing",
    "Retail",
    "Healthcare",
    "Finance",
    "Education",
    "Logistics",
    "Energy",
    "Media",
    "Hospitality",
]
JOB_TITLES = {
    "decisionMaker": ["CEO", "CTO", "CFO", "VP Marketing", "Head of Sales", "Director of IT"],
    "influencer": ["Marketing Manager", "IT Manager", "Procurement Lead", "Team Lead"],
    "user": ["Analyst", "Engineer", "Consultant", "Specialist", "Coordinator"],
    "other": ["Student", "Assistant", "Freelancer"],
}
CONTEXTS = [
    ("product", "Contoso Analytics"),
    ("product", "Contoso CRM Cloud"),
    ("offer", "Spring Upgrade Offer"),
    ("offer", "Free Trial 30 days"),
    ("campaign", "Q3 Newsletter Campaign"),
    ("campaign", "Webinar Series 2026"),
    ("event", "Contoso Ltd Conference"),
    ("event", "Partner Summit Lisbon"),
]
FORMS = ["landing-trial", "landing-webinar", "landing-ebook", "event-conference", "contact-us"]
SUBSCRIPTION_LISTS = ["Newsletter", "Product updates", "Events", "Webinars"]
INTERACTION_WEIGHTS = {
    "email_sent": 30,
    "email_opened": 22,
    "email_clicked": 10,
    "website_visited": 20,
    "form_submitted": 8,
    "event_registered": 5,
    "event_attended": 3,
    "subscription_changed": 2,
}
BATCH = 1000
# Above this many interactions in all, contacts get fewer each (a 100,000-contact demo: ~10
# each, about a million), so a large demo stays a few minutes of bulk inserts.
MAX_INTERACTIONS = 1_000_000
Progress = Callable[[str, int], None]


def interactions_per_contact_for(n_contacts: int) -> int:
    """The demo's average interactions per contact: 25, fewer for very large demos."""
    return max(1, min(25, MAX_INTERACTIONS // max(1, n_contacts)))


def _quiet(_: str, __: int) -> None:
    return None


async def seed_demo(
    db: AsyncDatabase,
    *,
    n_contacts: int = 1000,
    n_accounts: int | None = None,
    leads_per_contact: float = 2.5,
    interactions_per_contact: int | None = None,
    seed: int = 42,
    progress: Progress = _quiet,
    now: datetime | None = None,
    funnel: Funnel | None = None,
) -> dict[str, int]:
    """Insert demo data in bulk (``insert_many`` batches of ``BATCH``); ``progress(stage, n)``
    is called as leads are scored and documents are written.

    With a ``funnel`` that has rules, the leads are written at the lifecycle's initial stage,
    then scored and moved along it through the funnel: its evaluation over the documents
    already in memory (no second read of the interactions), then its persist point, so the
    leads have score history and ``lead.scored`` / ``lead.stage_changed`` events.
    """
    funnel = funnel or Funnel(db, None, None)  # no rules: unscored, at the default stage
    if interactions_per_contact is None:
        interactions_per_contact = interactions_per_contact_for(n_contacts)
    rng = random.Random(seed)
    fake = Faker()
    fake.seed_instance(seed)
    now = now or clock.now().replace(microsecond=0)
    n_accounts = n_accounts if n_accounts is not None else max(1, n_contacts // 5)

    account_docs = _accounts(rng, fake, now, n_accounts)
    await _insert(db, accounts, account_docs, progress, "accounts")
    contact_docs, interaction_docs = _contacts(
        rng, fake, now, n_contacts, account_docs, interactions_per_contact
    )
    await _insert(db, contacts, contact_docs, progress, "contacts")
    lead_docs = _leads(rng, fake, now, int(n_contacts * leads_per_contact), contact_docs, funnel)
    await _insert(db, leads, lead_docs, progress, "leads")
    await _insert(db, interactions, interaction_docs, progress, "interactions")
    await _score(funnel, lead_docs, contact_docs, account_docs, interaction_docs, progress)
    await funnel.rollups.refresh_all()  # the accounts' scores, rolled up from their leads
    await subscription_lists.ensure(db, SUBSCRIPTION_LISTS)  # the lists the contacts name
    return {
        "accounts": len(account_docs),
        "contacts": len(contact_docs),
        "leads": len(lead_docs),
        "interactions": len(interaction_docs),
    }


def _accounts(rng: random.Random, fake: Faker, now: datetime, n_accounts: int) -> list[Doc]:
    """The demo's accounts, each with a domain of its own."""
    account_docs = []
    used_domains: set[str] = set()
    for _ in range(n_accounts):
        name = fake.unique.company()
        domain = normalize.domain(fake.domain_name())
        while domain in used_domains:
            domain = normalize.domain(fake.domain_name(2))
        used_domains.add(domain)
        created = now - timedelta(days=rng.randint(200, 900))
        made = accounts.new_document(
            {
                "name": name,
                "domain": domain,
                "industry": rng.choice(INDUSTRIES),
                "numberOfEmployees": rng.choice([8, 25, 60, 150, 400, 1200, 5000]),
                "annualRevenue": float(rng.randint(1, 500) * 100_000),
                "country": fake.country_code(),
            }
        )
        doc: Doc = {**made, "_id": ObjectId(), "createdAt": created, "updatedAt": created}
        account_docs.append(doc)
    return account_docs


def _contacts(
    rng: random.Random,
    fake: Faker,
    now: datetime,
    n_contacts: int,
    account_docs: list[Doc],
    interactions_per_contact: int,
) -> tuple[list[Doc], list[Doc]]:
    """The demo's contacts (85% in an account) and their interactions, insights counted."""
    contact_docs: list[Doc] = []
    interaction_docs: list[Doc] = []
    for i in range(n_contacts):
        first, last = fake.first_name(), fake.last_name()
        role = rng.choices(CONTACT_ROLES, weights=[2, 3, 4, 1])[0]
        account = rng.choice(account_docs) if rng.random() < 0.85 else None
        domain = account["domain"] if account else fake.free_email_domain()
        email = f"{first}.{last}.{i}@{domain}".lower().replace(" ", "").replace("'", "")
        is_child = rng.random() < 0.02
        created = now - timedelta(days=rng.randint(30, 700))
        made = contacts.new_document(
            {
                "firstName": first,
                "lastName": last,
                "email": email,
                "phone": fake.phone_number(),
                "jobTitle": rng.choice(JOB_TITLES[role]),
                "role": role,
                "accountId": account["_id"] if account else None,
                "marketingSource": rng.choice(
                    ["webinar", "trade show", "website", "import", "ads"]
                ),
                "preferences": {
                    "allowBulkEmail": rng.random() < 0.7,
                    "allowEmail": rng.random() < 0.92,
                    "allowPrefill": rng.random() < 0.4,
                    "trackEmail": rng.random() < 0.8,
                },
                "subscriptions": rng.sample(SUBSCRIPTION_LISTS, rng.randint(0, 3)),
                "consent": {
                    "level": rng.choice(CONSENT_LEVELS),
                    "isChild": is_child,
                    "guardian": fake.name() if is_child else None,
                },
            }
        )
        doc: Doc = {**made, "_id": ObjectId(), "createdAt": created, "updatedAt": created}
        contact_docs.append(doc)
        _interactions_of(rng, doc, created, now, domain, interactions_per_contact, interaction_docs)
    return contact_docs, interaction_docs


def _interactions_of(
    rng: random.Random,
    doc: Doc,
    created: datetime,
    now: datetime,
    domain: str,
    interactions_per_contact: int,
    interaction_docs: list[Doc],
) -> None:
    """About ``interactions_per_contact`` interactions of the contact ``doc`` since it was
    created, appended to ``interaction_docs`` and counted in its insights."""
    for _ in range(rng.randint(interactions_per_contact // 2, interactions_per_contact * 3 // 2)):
        kind = rng.choices(list(INTERACTION_WEIGHTS), weights=list(INTERACTION_WEIGHTS.values()))[0]
        at = created + timedelta(seconds=rng.randint(0, int((now - created).total_seconds())))
        it = interactions.new_document(
            {
                "contactId": doc["_id"],
                "type": kind,
                "occurredAt": at.replace(microsecond=0),
                "formId": rng.choice(FORMS) if kind == "form_submitted" else None,
                "eventId": "contoso-conference" if kind.startswith("event") else None,
                "emailId": f"mail-{rng.randint(1, 40)}" if kind.startswith("email") else None,
                "url": f"https://{domain}/p/{rng.randint(1, 30)}"
                if kind == "website_visited"
                else None,
            }
        )
        interaction_docs.append({**it, "_id": ObjectId()})
        ins = doc["insights"]
        ins["total"] += 1
        ins["counts"][kind] = ins["counts"].get(kind, 0) + 1
        if ins["lastActivityAt"] is None or it["occurredAt"] > ins["lastActivityAt"]:
            ins["lastActivityAt"] = it["occurredAt"]


def _leads(
    rng: random.Random,
    fake: Faker,
    now: datetime,
    n_leads: int,
    contact_docs: list[Doc],
    funnel: Funnel,
) -> list[Doc]:
    """The demo's leads (6% orphans), new leads of the funnel at their creation time."""
    lead_docs = []
    for j in range(n_leads):
        orphan = rng.random() < 0.06
        contact = None if orphan else rng.choice(contact_docs)
        kind, name = rng.choice(CONTEXTS)
        form = rng.choice(FORMS)
        created = now - timedelta(days=rng.randint(0, 365))
        first = contact["firstName"] if contact else fake.first_name()
        last = contact["lastName"] if contact else fake.last_name()
        email = contact["email"] if contact else f"{first}.{last}.lead{j}@example.org".lower()
        made = funnel.new_lead(
            {
                "topic": name,
                "marketingContext": {"kind": kind, "name": name},
                "formId": form,
                "email": email.replace(" ", "").replace("'", ""),
                "firstName": first,
                "lastName": last,
                "companyName": fake.company() if orphan else None,
                "jobTitle": contact["jobTitle"] if contact else rng.choice(JOB_TITLES["user"]),
                "parentContactId": contact["_id"] if contact else None,
                "parentAccountId": contact["accountId"] if contact and rng.random() < 0.3 else None,
            }
        )
        made["stageHistory"][0]["enteredAt"] = created
        doc: Doc = {**made, "_id": ObjectId(), "createdAt": created, "updatedAt": created}
        lead_docs.append(doc)
    return lead_docs


async def _score(
    funnel: Funnel,
    lead_docs: list[dict[str, Any]],
    contact_docs: list[dict[str, Any]],
    account_docs: list[dict[str, Any]],
    interaction_docs: list[dict[str, Any]],
    progress: Progress,
) -> None:
    """Score and stage the leads just written through the funnel (its evaluation over the
    facts in memory, then its persist point: score history and events like every other road),
    ``BATCH`` leads at a time."""
    members: dict[Any, list[dict[str, Any]]] = {}
    for contact in contact_docs:
        if contact.get("accountId"):
            members.setdefault(contact["accountId"], []).append(contact)
    by_contact: dict[Any, list[dict[str, Any]]] = {}
    for it in sorted(interaction_docs, key=lambda i: i["occurredAt"]):
        by_contact.setdefault(it["contactId"], []).append(it)
    people = {c["_id"]: c for c in contact_docs}
    by_id = {a["_id"]: a for a in account_docs}
    for start in range(0, len(lead_docs), BATCH):
        chunk = lead_docs[start : start + BATCH]
        facts = assemble_facts(chunk, people, by_id, members, by_contact)
        await funnel.persist_new(facts, chunk)
        progress("scoring", len(chunk))


async def _insert(
    db: AsyncDatabase, store: Any, docs: list[dict[str, Any]], progress: Progress, stage: str
) -> None:
    """Store ``docs`` through the ``store`` module of their collection, ``BATCH`` at a time."""
    for start in range(0, len(docs), BATCH):
        chunk = docs[start : start + BATCH]
        await store.insert_documents(db, chunk)
        progress(stage, len(chunk))
