"""Pydantic models of the rule files: what each kind of rule may say, one module per section.
Holds pure models (pydantic only); may import the core, nothing of store, services, db or api.

One YAML file is one :class:`RuleFile`; a directory of them becomes one immutable
:class:`~leadgraph.rules.ruleset.RuleSet`.  Field names of records (``contact.jobTitle``) are
camelCase as stored; the keys of the rule files themselves are snake_case.
"""

from .base import Duration, ListName, Name, Rule, Scalar, Value, as_datetime, as_list, duration
from .condition import AllOf, AnyOf, Compare, Condition, Event, EventSpec, NotOf
from .fields import FIELD_TYPES, CustomField, CustomFields, FieldType
from .file import (
    INTERACTION_TYPE_NAME,
    MERGED_FIELDS,
    InteractionTypeDecl,
    MergedField,
    Policy,
    RuleFile,
    Survivorship,
)
from .lifecycle import (
    ActionCall,
    AssignmentRule,
    AssignWhen,
    Lifecycle,
    Sla,
    SlaAction,
    Stage,
    StageField,
    StartAt,
    Transition,
    Trigger,
)
from .matching import FormAssignment, MatchingDefaults, MatchingRules, Strategy
from .rule_tests import Expect, Given, RuleTest
from .scoring import (
    GRADES,
    ROLLUP_METHODS,
    Grade,
    GradeRule,
    RollupMethod,
    ScoringModel,
    ScoringRule,
)
from .segments import SEGMENT_KINDS, Segment, SegmentKind

__all__ = [
    "FIELD_TYPES",
    "GRADES",
    "INTERACTION_TYPE_NAME",
    "MERGED_FIELDS",
    "ROLLUP_METHODS",
    "SEGMENT_KINDS",
    "ActionCall",
    "AllOf",
    "AnyOf",
    "AssignWhen",
    "AssignmentRule",
    "Compare",
    "Condition",
    "CustomField",
    "CustomFields",
    "Duration",
    "Event",
    "EventSpec",
    "Expect",
    "FieldType",
    "FormAssignment",
    "Given",
    "Grade",
    "GradeRule",
    "InteractionTypeDecl",
    "Lifecycle",
    "ListName",
    "MatchingDefaults",
    "MatchingRules",
    "MergedField",
    "Name",
    "NotOf",
    "Policy",
    "RollupMethod",
    "Rule",
    "RuleFile",
    "RuleTest",
    "Scalar",
    "ScoringModel",
    "ScoringRule",
    "Segment",
    "SegmentKind",
    "Sla",
    "SlaAction",
    "Stage",
    "StageField",
    "StartAt",
    "Strategy",
    "Survivorship",
    "Transition",
    "Trigger",
    "Value",
    "as_datetime",
    "as_list",
    "duration",
]
