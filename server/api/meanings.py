"""What each value of the API's vocabulary enums means, in the domain's words (docs and
/work/shared/DOMAIN.md): one table per enum, keyed by the stored value, which
:func:`leadgraph.api.common.vocabulary_enum` attaches to the GraphQL enum's values.
A vocabulary value without a meaning here fails the schema's description test."""

from __future__ import annotations

from collections.abc import Mapping

MEANINGS: Mapping[str, Mapping[str, str]] = {
    "ContactRole": {
        "decisionMaker": "Decides the purchase.",
        "influencer": "Shapes the decision without making it.",
        "user": "Uses the product; neither decides nor influences the purchase.",
        "other": "Any other part in the buying decision, or none.",
    },
    "ConsentLevel": {
        "not_set": "The contact has not said: treated as no consent.",
        "consent_given": "General consent to be kept on file.",
        "transactional": "Transactional messages only (orders, receipts, account notices).",
        "marketing": "Marketing communication (commercial email from journeys).",
        "profiling": "Marketing and profiling (scoring, segment criteria on behaviour).",
        "tracking": "Everything above and tracking (email opens, website visits).",
    },
    "InteractionType": {
        "email_sent": "A marketing email was sent to the contact.",
        "email_opened": "The contact opened a marketing email.",
        "email_clicked": "The contact clicked a link in a marketing email.",
        "form_submitted": "The contact submitted a landing page's marketing form.",
        "website_visited": "The contact visited the website.",
        "event_registered": "The contact registered for an event.",
        "event_attended": "The contact attended an event.",
        "subscription_changed": "The contact's subscription lists changed.",
        "consent_changed": "The contact's data-protection consent changed.",
        "custom": "A type the rule files or a plugin declare, named in `customType`.",
    },
    "LeadStatus": {
        "open": "In the funnel: being nurtured, scored and moved through the stages.",
        "qualified": "Qualified by sales into an opportunity.",
        "disqualified": "Closed as not worth pursuing.",
    },
    "Grade": {
        "A": "The best fit.",
        "B": "A good fit.",
        "C": "An average fit.",
        "D": "A weak fit.",
        "E": "A poor fit.",
        "F": "The worst fit.",
    },
    "OpportunityStage": {
        "open": "The sale is being worked on.",
        "won": "The sale closed won.",
        "lost": "The sale closed lost.",
    },
    "SegmentKind": {
        "dynamic": "Members are the contacts a condition selects, computed in the database.",
        "static": "Members are an explicit list, added and removed through the API.",
        "compound": "Members of the included segments minus those of the excluded ones.",
    },
    "RollupMethod": {
        "max": "The best score of the account's leads.",
        "sum": "The sum of the account's leads' scores.",
        "average": "The average of the account's leads' scores.",
    },
    "ChangeCauseKind": {
        "created": "A lead was created (by hand or by sales) and scored.",
        "interaction": "A contact engaged: `interaction` names the interaction.",
        "update": "The lead or its parent contact or account changed.",
        "hand": "A person decided: a stage move or a flag set by hand (`by`, `reason`).",
        "rescore": "A rescore (`rescoreLead`, `leadgraph rescore`, new rules going live).",
        "rule_change": "New rules moved it (its stage was retired).",
        "import": "A file import created or changed it.",
        "merge": "Contacts were merged, or a merge undone.",
        "sla": "The SLA of its stage was breached: the scheduler acted on it (`reason`).",
    },
}
