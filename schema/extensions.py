"""Schema-wide policies: error codes and masking, introspection only for admins, caches (the executor is in
schema/executor.py)."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_operation_ast,
    parse,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.schema import validate_document

from resolvers.errors import KEY_LIKE, KmsError, lost_to_concurrent_change
from resolvers.pagination import MAX_PAGE_SIZE
from resolvers.roles import Permission
from schema.lru import Lru

log = logging.getLogger("kms.graphql")

_TOO_COMPLEX = re.compile(r"exceeds maximum operation depth|aliases found|contains more than \d+ tokens")
_INTROSPECTION = re.compile(r"GraphQL introspection has been disabled")
# graphql-core suggests argument, type, enum value and input field names ("Did you mean 'first'?") even
# with field suggestions disabled; that would let anybody map the schema that introspection hides.
_SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")
# graphql-core's messages about values that fail their type quote the value, which may be key material: keep what
# is wrong and where, drop the value ("found: {...}", "non-integer value: 'two'", "Value 'x' does not exist ...")
_VARIABLE = re.compile(r"^(Variable '\$\w+' has invalid value[^:]*: )(.*)$", re.S)
_QUOTED_VALUE = re.compile(
    r"(?:[,.;]? ?\b[Ff]ound: .*|(?<=value): .*|, but encountered error .*|(?<=got): .*|(?<=character): .*)$", re.S
)
_ENUM_VALUE = re.compile(r"^Value .* does not exist in ('\w+') enum\.", re.S)
_REPRESENT = re.compile(r"(cannot represent (?:an? )?\w{1,40}): .*$", re.S)  # strawberry's scalars
_TOKEN = re.compile(r"\b((?:found|Unexpected) (?:Name|String|BlockString|Int|Float))\b.*$", re.S)  # syntax errors


def without_values(message: str) -> str:
    """A graphql-core or strawberry error message without the input value it quotes."""
    variable = _VARIABLE.match(message)
    prefix, message = variable.groups() if variable else ("", message)
    message = _ENUM_VALUE.sub(r"Not a value of the \1 enum.", message)
    message = _REPRESENT.sub(r"\1.", message)
    message = _TOKEN.sub(r"\1.", message)
    cut = _QUOTED_VALUE.search(message)
    if cut:
        message = message[: cut.start()].rstrip(" .,;") + "."
    # and wherever a message quotes input in a way not foreseen above: no run of hex digits as long as a key
    return KEY_LIKE.sub("…", prefix + message)


def public_error(error: GraphQLError, request_id: str) -> GraphQLError:
    """Give every error a code from shared/api/errors.md; hide anything unexpected behind INTERNAL."""
    original = error.original_error
    if isinstance(original, KmsError):
        extensions = dict(original.extensions)
    elif original is None or isinstance(original, GraphQLError):  # e.g. a variable's value fails its type
        if _TOO_COMPLEX.search(error.message):
            extensions = {"code": "QUERY_TOO_COMPLEX"}
        elif _INTROSPECTION.search(error.message):
            extensions = {"code": "FORBIDDEN"}
        else:  # a query that does not fit the schema or a value that fails its type
            extensions = {
                "code": error.extensions.get("code", "BAD_USER_INPUT") if error.extensions else "BAD_USER_INPUT"
            }
    elif sqlstate := lost_to_concurrent_change(original):  # rolled back whole: the caller may simply retry
        log.warning("request %s lost to a concurrent change (SQLSTATE %s)", request_id, sqlstate)
        return GraphQLError(
            "Someone changed the same data at the same time; nothing was changed. Please try again.",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "CONFLICT", "requestId": request_id},
        )
    else:
        log.error("request %s failed", request_id, exc_info=(type(original), original, original.__traceback__))
        return GraphQLError(
            "Internal error.",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL", "requestId": request_id},
        )
    message = original.message if isinstance(original, KmsError) else without_values(_SUGGESTION.sub("", error.message))
    return GraphQLError(message, nodes=error.nodes, path=error.path, extensions=extensions)


def _too_complex(message: str) -> list[GraphQLError]:
    return [GraphQLError(message, extensions={"code": "QUERY_TOO_COMPLEX"})]


def longest_list(value: object) -> int:
    """The length of the longest list in request variables (nested lists: the first 1,000 items looked at)."""
    if isinstance(value, list):
        return max([len(value), *(longest_list(v) for v in value[:1000])])
    if isinstance(value, dict):
        return max((longest_list(v) for v in value.values()), default=0)
    return 0


@dataclass(frozen=True)
class Page:
    """An object field of an operation as ``query_cost`` counts it: ``size`` objects, or as many as the
    variable ``variable`` asks for when the request gives it, each with the object fields ``inner``."""

    size: int
    variable: str | None
    inner: tuple[Page, ...]


def cost_pages(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None, default_page: int = 50
) -> tuple[Page, ...]:
    """The object fields of an operation, for ``query_cost``; they depend on the document only (cached)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return ()
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    defaults = {
        d.variable.name.value: int(d.default_value.value)
        for d in operation.variable_definitions or ()
        if isinstance(d.default_value, IntValueNode)
    }

    def page(node: FieldNode, field: GraphQLField, inner: tuple[Page, ...]) -> Page:
        if "first" not in field.args:
            return Page(1, None, inner)
        argument = next((a.value for a in node.arguments or () if a.name.value == "first"), None)
        variable = argument.name.value if isinstance(argument, VariableNode) else None
        size = (
            int(argument.value)
            if isinstance(argument, IntValueNode)
            else defaults.get(variable or "", field.args["first"].default_value)
        )
        return Page(_page_size(size, default_page), variable, inner)

    def pages(selections: SelectionSetNode | None, parent: GraphQLNamedType, seen: frozenset[str]) -> list[Page]:
        found: list[Page] = []
        for selection in selections.selections if selections is not None else ():
            if isinstance(selection, FieldNode):
                field = getattr(parent, "fields", {}).get(selection.name.value)
                if field is None or selection.selection_set is None:
                    continue  # a leaf, __typename or introspection
                inner = pages(selection.selection_set, get_named_type(field.type), seen)
                found.append(page(selection, field, tuple(inner)))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                found += pages(
                    selection.selection_set,
                    (schema.get_type(condition.name.value) if condition else None) or parent,
                    seen,
                )
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    inner_type = schema.get_type(fragment.type_condition.name.value) or parent
                    found += pages(fragment.selection_set, inner_type, seen | {selection.name.value})
        return found

    root = schema.get_root_type(operation.operation)
    return tuple(pages(operation.selection_set, root, frozenset())) if root is not None else ()


def _page_size(size: object, default_page: int) -> int:
    # beyond MAX_PAGE_SIZE the resolver refuses the page with its own error: it counts as MAX_PAGE_SIZE here
    return (
        min(size, MAX_PAGE_SIZE) if isinstance(size, int) and not isinstance(size, bool) and size > 0 else default_page
    )


def query_cost(pages: tuple[Page, ...], variables: dict[str, Any] | None) -> int:
    """How many objects an operation may return at most: every object field counts once for each object its
    page can hold, so a page of 500 devices inside each of 500 batches counts 250,000 (a page's size is its
    ``first``, from the query, the variables or the defaults). Lists without a page (labels, keys, an
    organisation's children) are short by nature and count as one; fields of introspection count nothing."""
    total = 0
    for page in pages:
        size = page.size
        if page.variable is not None and variables and variables.get(page.variable) is not None:
            size = _page_size(variables[page.variable], page.size)
        total += size * (1 + query_cost(page.inner, variables))
    return total


def lone_root_field(operation: OperationDefinitionNode | None, names: frozenset[str]) -> bool:
    """Whether ``operation`` is a query of exactly one root field of ``names``, without directives on it."""
    if operation is None or operation.operation != OperationType.QUERY:
        return False
    (field, *others) = operation.selection_set.selections or [None]
    return not others and isinstance(field, FieldNode) and not field.directives and field.name.value in names


@dataclass(frozen=True)
class Limits:
    """What one schema allows a request: built once per schema (the depth and alias rules are classes that
    strawberry's limiter extensions would build again for every request)."""

    max_tokens: int
    max_list_argument: int
    max_cost: int  # objects one request may return (query_cost)
    rules: tuple[type[ASTValidationRule], ...]  # depth and aliases
    # Validation depends only on the schema, the document and the rules: keyed by the query text and the names
    # of the rules in force (one rule depends on who asks: introspection); a schema keeps its own.
    validation_results: Lru[tuple[str, tuple[str, ...]], list[GraphQLError]]
    parse: Callable[..., DocumentNode]  # graphql-core's parse behind an LRU cache
    pages: Lru[tuple[str, str | None], tuple[Page, ...]]  # of query texts, for query_cost

    def cost(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        key: tuple[str, str | None],
        variables: dict[str, Any] | None,
    ) -> int:
        """``query_cost`` of the operation (``key``: its query text and operation name) with these variables."""
        pages = self.pages.get(key)
        if pages is None:
            pages = cost_pages(schema, document, key[1])
            self.pages.put(key, pages)
        return query_cost(pages, variables)

    @classmethod
    def of(
        cls,
        *,
        max_depth: int,
        max_aliases: int,
        max_tokens: int,
        max_list_argument: int,
        max_cost: int,
        cache_size: int = 512,
    ) -> Limits:
        return cls(
            max_tokens=max_tokens,
            max_list_argument=max_list_argument,
            max_cost=max_cost,
            rules=(depth_rule(max_depth, None, None), aliases_rule(max_aliases)),
            validation_results=Lru(cache_size),
            parse=lru_cache(maxsize=cache_size)(parse),
            pages=Lru(cache_size),
        )


class RequestPolicy(SchemaExtension):
    """Every request's policies in one extension (one instance, three hooks, instead of eight extensions):

    - operation: the token limit, the depth and alias rules, introspection only for PLATFORM_ADMIN and
      OTC_ADMIN (and so GraphiQL's documentation); afterwards every error gets a code from errors.md and
      anything unexpected is hidden behind INTERNAL (logged with the request id);
    - parse: the same few queries arrive again and again, so documents are parsed once (a document that does
      not parse is left to strawberry's own parse step, so its error is reported and coded like any other);
    - validate: once per query text and set of rules (it was a third of a catalog page's CPU), then every
      list in the variables is capped (a query's own text is capped by the token limit): bulk operations
      take up to 100,000 items, more is refused before anything runs; and so is an operation that may
      return more objects than allowed (``query_cost``: pages within pages). These checks depend on the
      variables and are never cached.
    """

    def __init__(self, limits: Limits, leased_root_fields: frozenset[str] = frozenset()) -> None:
        self.limits = limits
        self.leased_root_fields = leased_root_fields

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self.limits.max_tokens
        actor = getattr(context.context, "actor", None)
        rules = self.limits.rules
        if actor is None or actor.must_change_password or not actor.has(Permission.INTROSPECT):
            rules = (*rules, NoSchemaIntrospectionCustomRule)
        context.validation_rules = (*context.validation_rules, *rules)
        yield
        result = context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            request_id = getattr(context.context, "request_id", "-")
            result.errors = [public_error(e, request_id) for e in errors]

    async def on_execute(self) -> AsyncIterator[None]:
        """The session lookup's connection (models.db.Lease) stays with the request only for an operation
        that is one root field allowed to use it; any other operation may wait for pooled connections, so
        the lease goes back to the pool before it runs."""
        context = self.execution_context.context
        lease = getattr(context, "lease", None)
        if lease is not None and not self._may_keep_lease():
            context.lease = None
            await lease.release()
        yield

    def _may_keep_lease(self) -> bool:
        context = self.execution_context
        document = context.graphql_document
        operation = get_operation_ast(document, context.operation_name) if document is not None else None
        return lone_root_field(operation, self.leased_root_fields)

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.limits.parse(context.query, **context.parse_options)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.pre_execution_errors is None and context.query is not None:
            key = (context.query, tuple(sorted(rule.__name__ for rule in context.validation_rules)))
            results = self.limits.validation_results
            errors = results.get(key)
            if errors is None:
                errors = validate_document(context.schema._schema, document, context.validation_rules)
                results.put(key, errors)
            context.pre_execution_errors = list(errors)
        limits = self.limits
        if document is not None and not context.pre_execution_errors:
            operation = (context.query or "", context.operation_name)
            cost = limits.cost(context.schema._schema, document, operation, context.variables)
            if cost > limits.max_cost:
                context.pre_execution_errors = _too_complex(
                    f"The query may return up to {cost:,} objects; at most {limits.max_cost:,} are allowed in "
                    "one request. Ask for smaller pages or fewer nested lists."
                )
        longest = longest_list(context.variables or {})
        if longest > limits.max_list_argument:
            context.pre_execution_errors = _too_complex(
                f"A list holds {longest} items; at most {limits.max_list_argument} are accepted in one request."
            )
        yield
