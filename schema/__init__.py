"""The GraphQL schema, merged from one Query and one Mutation class per domain."""

from __future__ import annotations

import strawberry
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
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
from schema.extensions import (
    ErrorPolicy,
    IntrospectionPolicy,
    ListArgumentCap,
    QueryCache,
    ValidationCache,
    ValidationResults,
)
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
    def process_errors(self, errors, execution_context=None):  # type: ignore[no-untyped-def]
        """Errors are logged by ErrorPolicy (only unexpected ones, with the request id); strawberry's
        default would log every user error with its traceback."""


def build_schema(settings: Settings) -> strawberry.Schema:
    query = merge_types("Query", tuple(d.Query for d in DOMAINS if hasattr(d, "Query")))
    mutation = merge_types("Mutation", tuple(d.Mutation for d in DOMAINS if hasattr(d, "Mutation")))
    validation_results = ValidationResults(maxsize=512)
    return KmsSchema(
        query=query,
        mutation=mutation,
        config=StrawberryConfig(disable_field_suggestions=True),
        execution_context_class=PlainFieldExecutor,
        extensions=[
            ErrorPolicy,
            IntrospectionPolicy,
            # The same few queries arrive again and again: documents are parsed once, and validated once per
            # set of rules (introspection depends on who asks). ValidationCache comes after the limiters, which
            # add their rules, and before ListArgumentCap, which looks at the variables.
            lambda: QueryCache(maxsize=512),
            lambda: QueryDepthLimiter(max_depth=settings.max_query_depth),
            lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
            lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
            lambda: ValidationCache(validation_results),
            lambda: ListArgumentCap(settings.max_list_argument),
        ],
    )
