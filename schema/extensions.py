"""Schema-wide policies: error codes and masking, introspection only for admins, caches (the executor is in
schema/executor.py)."""

from __future__ import annotations

import contextlib
import logging
import re
from collections import OrderedDict
from collections.abc import Iterator

from graphql import (
    GraphQLError,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.schema.schema import validate_document

from resolvers.errors import KmsError
from resolvers.roles import Permission

log = logging.getLogger("kms.graphql")

_TOO_COMPLEX = re.compile(r"exceeds maximum operation depth|aliases found|contains more than \d+ tokens")
_INTROSPECTION = re.compile(r"GraphQL introspection has been disabled")
# graphql-core suggests argument, type, enum value and input field names ("Did you mean 'first'?") even
# with field suggestions disabled; that would let anybody map the schema that introspection hides.
_SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")


def public_error(error: GraphQLError, request_id: str) -> GraphQLError:
    """Give every error a code from shared/api/errors.md; hide anything unexpected behind INTERNAL."""
    original = error.original_error
    if isinstance(original, KmsError):
        extensions = dict(original.extensions)
    elif original is None:
        if _TOO_COMPLEX.search(error.message):
            extensions = {"code": "QUERY_TOO_COMPLEX"}
        elif _INTROSPECTION.search(error.message):
            extensions = {"code": "FORBIDDEN"}
        else:  # a query that does not fit the schema or a value that fails its type
            extensions = {
                "code": error.extensions.get("code", "BAD_USER_INPUT") if error.extensions else "BAD_USER_INPUT"
            }
    else:
        log.error("request %s failed", request_id, exc_info=(type(original), original, original.__traceback__))
        return GraphQLError(
            "Internal error.",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL", "requestId": request_id},
        )
    message = original.message if isinstance(original, KmsError) else _SUGGESTION.sub("", error.message)
    return GraphQLError(message, nodes=error.nodes, path=error.path, extensions=extensions)


class ErrorPolicy(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            request_id = getattr(self.execution_context.context, "request_id", "-")
            result.errors = [public_error(e, request_id) for e in errors]


class IntrospectionPolicy(SchemaExtension):
    """Introspection (and so GraphiQL's documentation) only for PLATFORM_ADMIN and OTC_ADMIN."""

    def on_operation(self) -> Iterator[None]:
        actor = getattr(self.execution_context.context, "actor", None)
        if actor is None or actor.must_change_password or not actor.has(Permission.INTROSPECT):
            self.execution_context.validation_rules = (
                *self.execution_context.validation_rules,
                NoSchemaIntrospectionCustomRule,
            )
        yield


def _longest_list(value: object) -> int:
    if isinstance(value, list):
        return max([len(value), *(_longest_list(v) for v in value[:1000])])
    if isinstance(value, dict):
        return max((_longest_list(v) for v in value.values()), default=0)
    return 0


class ListArgumentCap(SchemaExtension):
    """Caps every list in the variables (a query's own text is capped by the token limit). Bulk operations
    take up to 100,000 items; more is refused before anything runs."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def on_validate(self) -> Iterator[None]:
        longest = _longest_list(self.execution_context.variables or {})
        if longest > self.limit:
            self.execution_context.pre_execution_errors = [
                GraphQLError(
                    f"A list holds {longest} items; at most {self.limit} are accepted in one request.",
                    extensions={"code": "QUERY_TOO_COMPLEX"},
                )
            ]
        yield


class QueryCache(ParserCache):
    """Strawberry's parser cache, except that a document that does not parse is left to strawberry's own
    parse step, so its error is reported (and coded) like any other."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        yield


class ValidationResults:
    """A bounded LRU of validation results for one schema, shared by the requests of one process.

    Validation depends only on the schema, the document and the set of rules. The rules of this schema are
    fixed by its settings except for one that depends on who asks (introspection), so the key is the query
    text with the names of the rules in force; a schema keeps its own cache (other limits, other results).
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._results: OrderedDict[tuple[str, tuple[str, ...]], list[GraphQLError]] = OrderedDict()

    def get(self, key: tuple[str, tuple[str, ...]]) -> list[GraphQLError] | None:
        found = self._results.get(key)
        if found is not None:
            self._results.move_to_end(key)
        return found

    def put(self, key: tuple[str, tuple[str, ...]], errors: list[GraphQLError]) -> None:
        self._results[key] = errors
        if len(self._results) > self.maxsize:
            self._results.popitem(last=False)


class ValidationCache(SchemaExtension):
    """Validates a query text once per set of rules instead of on every request (it was a third of the CPU
    of a catalog page). Must come after the extensions that add rules in ``on_operation`` and before
    :class:`ListArgumentCap`, whose check depends on the variables and is never cached."""

    def __init__(self, results: ValidationResults) -> None:
        self.results = results

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.pre_execution_errors is None and context.query is not None:
            key = (context.query, tuple(sorted(rule.__name__ for rule in context.validation_rules)))
            errors = self.results.get(key)
            if errors is None:
                errors = validate_document(context.schema._schema, document, context.validation_rules)
                self.results.put(key, errors)
            context.pre_execution_errors = list(errors)
        yield
