"""One rule file: its sections, the interaction types it declares and the survivorship of
merged contacts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from .base import Rule
from .fields import CustomFields
from .lifecycle import Lifecycle
from .matching import MatchingRules
from .rule_tests import RuleTest
from .scoring import ScoringModel
from .segments import Segment

INTERACTION_TYPE_NAME = r"^[a-z][a-z0-9_]{0,63}$"


class InteractionTypeDecl(Rule):
    """An interaction type beyond the built-in ones (``email_opened``, ...)."""

    name: Annotated[str, StringConstraints(pattern=INTERACTION_TYPE_NAME)] = Field(
        description="Lowercase snake_case, e.g. webinar_watched."
    )
    description: str = ""


class ContactTypeDecl(Rule):
    """A contact type beyond the built-in ones (``customer``, ``partner``, ``speaker``, ...)."""

    name: Annotated[str, StringConstraints(pattern=INTERACTION_TYPE_NAME)] = Field(
        description="Lowercase snake_case, e.g. analyst."
    )
    description: str = ""


MERGED_FIELDS = (
    "firstName",
    "lastName",
    "email",
    "phone",
    "jobTitle",
    "role",
    "contactType",
    "accountId",
    "marketingSource",
    "marketingOnly",
    "subscriptions",
    "preferences.allowBulkEmail",
    "preferences.allowEmail",
    "preferences.allowPrefill",
    "preferences.trackEmail",
    "consent.level",
    "consent.isChild",
    "consent.guardian",
)
Policy = Literal["survivor", "newest", "oldest", "union", "any", "all", "keep"]
MergedField = Literal[MERGED_FIELDS]  # type: ignore[valid-type]


class Survivorship(Rule):
    """How ``mergeContacts`` fills the survivor's fields from its duplicates.

    ``survivor``: the survivor's value, else the newest duplicate's; ``newest`` / ``oldest``:
    of every record that has one; ``union`` (lists); ``any`` / ``all`` (booleans); ``keep``:
    the survivor's value even when empty.
    """

    default: Policy = "survivor"
    fields: dict[MergedField, Policy] = Field(default_factory=dict)

    def policy(self, path: str) -> Policy:
        return self.fields.get(path, self.default)


class RuleFile(Rule):
    """One YAML file under ``rules/``; every section is optional."""

    matching: MatchingRules | None = None
    survivorship: Survivorship | None = None
    scoring: list[ScoringModel] = Field(default_factory=list)
    lifecycle: Lifecycle | None = None
    segments: list[Segment] = Field(default_factory=list)
    tests: list[RuleTest] = Field(default_factory=list)
    interaction_types: list[InteractionTypeDecl] = Field(
        default_factory=list,
        description="Interaction types this rule set adds to the built-in ones.",
    )
    fields: CustomFields | None = Field(
        default=None, description="Custom fields of contacts, accounts and leads."
    )
    contact_types: list[ContactTypeDecl] = Field(
        default_factory=list,
        description="Contact types this rule set adds to the built-in ones (customer, prospect, "
        "partner, vendor, speaker, sponsor).",
    )


for _model in (RuleFile,):
    _model.model_rebuild()
