"""The ``fields:`` section: custom fields of contacts, accounts and leads (values are checked
by :mod:`leadgraph.rules.fields`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

FieldType = Literal["string", "text", "number", "boolean", "date", "enum", "multi-enum"]
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)
ENTITIES: tuple[str, ...] = ("contact", "account", "lead")

#: Longest value of a ``string`` / ``text`` field without its own ``max_length``, and the most
#: a ``max_length`` may allow.
DEFAULT_MAX_LENGTH = {"string": 255, "text": 10_000}
MAX_LENGTH_LIMIT = 100_000
#: At most this many fields per record type, and values per enum.
MAX_FIELDS = 100
MAX_VALUES = 200
#: Names the typed GraphQL object keeps for itself.
RESERVED = frozenset({"setFields"})

FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z][A-Za-z0-9]{0,62}$")]


class CustomField(BaseModel):
    """One custom field of a record type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: FieldName = Field(
        description="camelCase: `custom.<name>` in records, conditions and GraphQL."
    )
    type: FieldType = Field(
        default="string",
        description="string, text (long text), number, boolean, date (YYYY-MM-DD), enum (one "
        "of `values`) or multi-enum (a list of `values`).",
    )
    label: str = Field(
        default="",
        max_length=200,
        description="Shown to people; imports map a column by the field's name or its label.",
    )
    description: str = Field(default="", max_length=1000)
    required: bool = Field(default=False, description="A record cannot be without it.")
    default: Any = Field(
        default=None, description="The value a new record gets when none is given."
    )
    max_length: int | None = Field(
        default=None,
        ge=1,
        le=MAX_LENGTH_LIMIT,
        description="string / text: the most characters (default 255 / 10000).",
    )
    values: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=MAX_VALUES, description="enum / multi-enum: the values."
    )
    indexed: bool = Field(
        default=False, description="Filterable in the API (`filter: {custom: ...}`), with an index."
    )
    subscription_centre: bool = Field(
        default=False,
        description="contact fields: the person sees and changes it in the subscription "
        "centre (their interests, say).",
    )
    retired: bool = Field(
        default=False,
        description="Removed from the API and from writes; the stored values stay (a field "
        "that holds values can only be removed from the rules once it was retired).",
    )

    @property
    def limit(self) -> int | None:
        """The most characters of a string or text value."""
        if self.type not in DEFAULT_MAX_LENGTH:
            return None
        return self.max_length or DEFAULT_MAX_LENGTH[self.type]

    @model_validator(mode="after")
    def _shape(self) -> CustomField:
        if self.name in RESERVED:
            raise ValueError(f"{self.name!r} is a reserved name")
        enum = self.type in ("enum", "multi-enum")
        if enum and not self.values:
            raise ValueError(f"a {self.type} field needs `values`")
        if not enum and self.values:
            raise ValueError(f"a {self.type} field has no `values` (only enum and multi-enum)")
        if len(set(self.values)) != len(self.values):
            raise ValueError("`values` lists a value twice")
        if self.max_length is not None and self.type not in DEFAULT_MAX_LENGTH:
            raise ValueError(f"a {self.type} field has no `max_length` (only string and text)")
        if self.indexed and self.type == "text":
            raise ValueError("a text field cannot be indexed (use a string field)")
        return self


class CustomFields(BaseModel):
    """The ``fields:`` section: the custom fields of each record type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contact: list[CustomField] = Field(default_factory=list, max_length=MAX_FIELDS)
    account: list[CustomField] = Field(default_factory=list, max_length=MAX_FIELDS)
    lead: list[CustomField] = Field(default_factory=list, max_length=MAX_FIELDS)

    @model_validator(mode="after")
    def _unique(self) -> CustomFields:
        for entity in ENTITIES:
            seen: set[str] = set()
            for f in getattr(self, entity):
                if f.name in seen:
                    raise ValueError(f"{entity} field {f.name!r} is declared twice")
                seen.add(f.name)
        return self

    def of(self, entity: str, *, retired: bool = False) -> tuple[CustomField, ...]:
        """The fields of ``entity`` in declared order (the retired ones too when asked)."""
        found: list[CustomField] = getattr(self, entity, [])
        return tuple(f for f in found if retired or not f.retired)

    def field(self, entity: str, name: str) -> CustomField | None:
        """The live (not retired) field ``name`` of ``entity``."""
        return next((f for f in self.of(entity) if f.name == name), None)

    def indexed(self) -> dict[str, list[str]]:
        """``{record type: [indexed live field, ...]}``."""
        return {e: [f.name for f in self.of(e) if f.indexed] for e in ENTITIES}

    def facts(self) -> frozenset[str]:
        """The condition facts the fields add: ``contact.custom.<name>``, ..."""
        return frozenset(f"{e}.custom.{f.name}" for e in ENTITIES for f in self.of(e))

    def enum_values(self) -> dict[str, tuple[str, ...]]:
        """The values of each live enum and multi-enum field by its fact
        (``contact.custom.tier`` -> its ``values``): a condition's value is checked against
        them."""
        return {
            f"{e}.custom.{f.name}": tuple(f.values)
            for e in ENTITIES
            for f in self.of(e)
            if f.type in ("enum", "multi-enum")
        }

    def fingerprint(self) -> str:
        """What the GraphQL types built from these fields depend on (equal: same schema)."""
        return self.model_dump_json()


NO_FIELDS = CustomFields()
