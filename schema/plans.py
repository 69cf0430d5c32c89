"""Queries of one root field, run without strawberry's per-request lifecycle once they have been answered.

The console sends the same catalog query again and again: one query text, one root field (``devices``), new
variables each time. Around graphql-core's execution, strawberry's ``Schema.execute`` builds an execution
context, four extension hook contexts with their exit stacks and a middleware manager, and handles the result:
about a tenth of such a request's CPU (bench/README.md). A plan keeps what that path established for a query
text - it parses, passes the request policy's validation (depth, aliases, tokens) and is one root field named
here - and runs graphql-core's execution with the schema's executor directly. The root field's resolver is the
one strawberry put on the GraphQL field, so its permission checks and argument conversion run as always, and
so does the completion of every selection.

A plan answers successes only. When anything goes wrong - variables that do not coerce, a list or a cost over
the limit, a denied permission, a failing resolver - its result is dropped and strawberry's whole path answers
the request from the start: planned operations are queries, which change nothing, and every error is reported,
coded and masked by the one path that does that (``schema.extensions.RequestPolicy``).
"""

from __future__ import annotations

import inspect
from typing import Any, cast

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    MiddlewareManager,
    execute,
    get_operation_ast,
)
from graphql.execution import Executor
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.types import ExecutionResult as StrawberryExecutionResult

from schema.extensions import Limits, lone_root_field, longest_list
from schema.lru import Lru


class RootFieldPlans:
    """The documents of query texts that strawberry's path answered without errors and that are one root
    field of ``root_fields`` (fields that may keep the request's leased connection, see
    ``RequestPolicy.on_execute``: a plan does not release it), at most ``maxsize``, least recently used
    first out."""

    def __init__(
        self,
        schema: GraphQLSchema,
        executor_class: type[Executor[Any]],
        limits: Limits,
        root_fields: frozenset[str],
        maxsize: int = 256,
    ) -> None:
        self.schema = schema
        self.executor_class = executor_class
        self.limits = limits
        self.root_fields = root_fields
        self.answered = 0  # requests a plan answered (tests and benches read it)
        self._documents: Lru[tuple[str, str | None], DocumentNode] = Lru(maxsize)

    def planned(self, query: str, operation_name: str | None) -> bool:
        return (query, operation_name) in self._documents

    def learn(self, query: str, operation_name: str | None) -> None:
        """Called after strawberry's path answered ``query`` without errors."""
        key = (query, operation_name)
        if key in self._documents:
            return
        try:  # the request policy's parse: cached, so this is the document that was validated
            document = self.limits.parse(query, max_tokens=self.limits.max_tokens)
        except GraphQLError:
            return
        if lone_root_field(get_operation_ast(document, operation_name), self.root_fields):
            self._documents.put(key, document)

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Any,
        operation_extensions: dict[str, Any] | None,
    ) -> StrawberryExecutionResult | None:
        """The answer of a planned query, or None: strawberry's path answers then (any error included)."""
        document = self._documents.get((query, operation_name))
        if document is None or longest_list(variables or {}) > self.limits.max_list_argument:
            return None
        if self.limits.cost(self.schema, document, (query, operation_name), variables) > self.limits.max_cost:
            return None
        result = execute(
            self.schema,
            document,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
            middleware=MiddlewareManager(),  # what strawberry passes: RequestPolicy has no resolve hook
            executor_class=self.executor_class,
            is_awaitable=cast(Any, optimized_is_awaitable),  # what strawberry passes
            operation_extensions=operation_extensions,
        )
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        if result.errors:
            return None
        self.answered += 1
        return StrawberryExecutionResult(data=result.data, errors=None)
