"""The built-in vocabulary of the domain, named once.

Rule files (``interaction_types:``) and plugins (``leadgraph_interaction_types``) add interaction
types to these; the live rule set holds the whole vocabulary
(:attr:`~leadgraph.rules.ruleset.RuleSet.interaction_types`).
"""

from __future__ import annotations

#: Built-in interaction types and what each records.
INTERACTION_TYPES: dict[str, str] = {
    "email_sent": "A marketing email was sent to the contact.",
    "email_opened": "The contact opened a marketing email.",
    "email_clicked": "The contact clicked a link in a marketing email.",
    "form_submitted": "The contact submitted a marketing form (landing page).",
    "website_visited": "The contact visited a tracked web page.",
    "event_registered": "The contact registered for an event.",
    "event_attended": "The contact attended an event.",
    "subscription_changed": "The contact changed a subscription.",
}

#: The GraphQL name (``InteractionType.CUSTOM``) of every type that is not built in; reserved.
CUSTOM_TYPE = "custom"
