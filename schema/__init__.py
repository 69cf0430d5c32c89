"""The GraphQL schema, merged from one Query and one Mutation class per domain."""

from __future__ import annotations

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from schema import (
    accounts,
    audit,
    auth,
    batches,
    devices,
    email_templates,
    invites,
    keys,
    organisations,
    outbox,
    tokens,
    users,
)
from schema.executor import PlainFieldExecutor
from schema.extensions import Limits, RequestPolicy
from schema.plans import RootFieldPlans
from settings import Settings

DOMAINS = (
    auth,
    users,
    organisations,
    tokens,
    audit,
    devices,
    batches,
    keys,
    invites,
    email_templates,
    accounts,
    outbox,
)


class KmsSchema(strawberry.Schema):
    plans: RootFieldPlans  # the console's catalog query without strawberry's per-request lifecycle (schema/plans.py)

    def process_errors(self, errors, execution_context=None):  # type: ignore[no-untyped-def]
        """Errors are logged by RequestPolicy (only unexpected ones, with the request id); strawberry's
        default would log every user error with its traceback."""


def build_schema(settings: Settings) -> KmsSchema:
    query = merge_types("Query", tuple(d.Query for d in DOMAINS if hasattr(d, "Query")))
    mutation = merge_types("Mutation", tuple(d.Mutation for d in DOMAINS if hasattr(d, "Mutation")))
    limits = Limits.of(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_list_argument=settings.max_list_argument,
        max_cost=settings.max_query_cost,
    )
    schema = KmsSchema(
        query=query,
        mutation=mutation,
        config=StrawberryConfig(disable_field_suggestions=True),
        execution_context_class=PlainFieldExecutor,
        extensions=[lambda: RequestPolicy(limits, devices.LEASED_ROOT_FIELDS)],
    )
    schema.plans = RootFieldPlans(schema._schema, PlainFieldExecutor, limits, devices.LEASED_ROOT_FIELDS)
    return schema
