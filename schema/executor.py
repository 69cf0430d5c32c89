"""An executor that answers plain attribute fields (and values preloaded for a whole page) without
strawberry's per-field resolver chain; anything else goes graphql-core's way."""

from __future__ import annotations

import keyword
import weakref
from collections.abc import Callable, Coroutine, Generator
from typing import Any, NamedTuple, TypeVar

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    is_scalar_type,
)
from graphql.execution.executor import to_nodes
from graphql.pyutils import Path
from graphql.type.scalars import serialize_id, serialize_string
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import CustomGraphQLEnumType, GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from schema.lru import Lru

#: A source object may carry the values of some of its resolver fields, already loaded for a whole page (a
#: dict by Python field name under this attribute). The executor below then completes them without calling
#: the resolver, which must answer the same from the same dict when called.
PRELOADED = "_preloaded"


class _FieldPlan(NamedTuple):
    """How the executor answers one schema field without strawberry's resolver chain: an attribute of the
    source (a field without resolver), or a preloaded value (a resolver field); neither may have a field
    extension (permissions) or an argument."""

    field_def: GraphQLField
    python_name: str
    basic: bool  # no resolver: the value is the source's attribute
    read: Callable[[Any, str], Any]
    leaf: GraphQLLeafType | None  # the scalar or enum (of the list)
    text: bool  # a String or ID: graphql-core's coercion returns a str as it is
    enum_names: dict[Any, str] | None  # an enum of Python members: each member's name, as its type coerces it
    enum_ids: dict[int, str] | None  # the same by id(member): members are singletons, and their hash is slow
    enum_class: type | None
    object_type: GraphQLObjectType | None  # or the object type (of the list), if it needs no is_type_of check
    non_null: bool
    is_list: bool
    items_non_null: bool


def _field_plan(field_def: GraphQLField) -> _FieldPlan | None:
    definition = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or definition.extensions or field_def.args:
        return None
    basic = definition.is_basic_field
    if basic and getattr(field_def.resolve, "__name__", "") != "_get_basic_result":
        return None  # strawberry wrapped it in something else (an exception handler, ...)
    if not basic and (definition.base_resolver is None or definition.is_async):
        return None
    field_type: Any = field_def.type
    non_null = is_non_null_type(field_type)
    field_type = field_type.of_type if non_null else field_type
    is_list = items_non_null = False
    if is_list_type(field_type):
        is_list = True
        field_type = field_type.of_type
        items_non_null = is_non_null_type(field_type)
        field_type = field_type.of_type if items_non_null else field_type
    leaf = field_type if is_leaf_type(field_type) else None
    object_type = field_type if is_object_type(field_type) and field_type.is_type_of is None else None
    text = is_scalar_type(leaf) and leaf.coerce_output_value in (serialize_string, serialize_id)
    enum_names = enum_ids = enum_class = None
    if isinstance(leaf, CustomGraphQLEnumType):
        members: list[Any] = list(leaf.wrapped_cls)
        enum_names = {member: leaf.coerce_output_value(member) for member in members}
        enum_ids = {id(member): name for member, name in enum_names.items()}
        enum_class = leaf.wrapped_cls
    return _FieldPlan(
        field_def,
        definition.python_name,
        basic,
        definition.default_resolver,
        leaf,
        text,
        enum_names,
        enum_ids,
        enum_class,
        object_type,
        non_null,
        is_list,
        items_non_null,
    )


class _Step(NamedTuple):
    """One selected field of an object answered in one pass (see _compile)."""

    name: str  # the response key
    plan: _FieldPlan
    key: str  # the Python name: attribute or preloaded key
    how: object  # _ATTR, _READ or _PRELOADED_VALUE
    below: _Selection | None  # an object field's own selection


class _Selection(NamedTuple):
    """The fields selected on an object type, and the function that answers them for one source object:
    ``complete(source, executor)`` returns the response dict, or _NO_PLAN to let graphql-core answer."""

    steps: list[_Step]
    complete: Callable[[Any, PlainFieldExecutor], Any]


C = TypeVar("C")
_NO_PLAN: Any = object()
_ATTR: Any = object()  # getattr(source, key): strawberry's default resolver
_READ: Any = object()  # the field's own default resolver (a schema configured with another one)
_PRELOADED_VALUE: Any = object()  # the source's PRELOADED dict
# Plans per schema field (by id, with the field kept alive), for as long as the schema lives.
_PLANS: weakref.WeakKeyDictionary[GraphQLSchema, dict[int, tuple[GraphQLField, _FieldPlan | None]]] = (
    weakref.WeakKeyDictionary()
)
# Compiled selections per schema, by shape (see _shape); a few hundred at most: the queries clients send.
_COMPILED: weakref.WeakKeyDictionary[GraphQLSchema, Lru[tuple[Any, ...], Callable[..., Any]]] = (
    weakref.WeakKeyDictionary()
)
_COMPILED_MAX = 512
# Classes of values seen not to be awaitable (see _learn_sync): an object below is answered inline then.
_SYNC_TYPES: set[type] = set()
# Selections by the syntax tree nodes they were collected from (kept alive here, so their ids stay theirs).
_SHARED: weakref.WeakKeyDictionary[GraphQLSchema, Lru[tuple[Any, ...], tuple[list[Any], _Selection | None]]] = (
    weakref.WeakKeyDictionary()
)
_SHARED_MAX = 2048
_STATIC: Lru[int, tuple[Any, bool]] = Lru(_SHARED_MAX)  # by id(operation), with the operation kept


class PlainFieldExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, except for fields that only read an attribute of their source or whose value
    the source carries preloaded (see PRELOADED): those are answered without strawberry's resolver chain
    (info objects, argument conversion, extension wrappers), and scalars and enums are coerced by their type
    directly. A catalog page has 50 x 7 such fields. Anything unusual (null in a non-null field, a coercion
    error, an awaitable, a directive on the field, middleware) goes graphql-core's generic way, which
    reports it as usual."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self._fast = manager is None or not manager.middlewares
        self._by_nodes: dict[int, tuple[Any, _FieldPlan | None]] = {}
        self._plans = _per_schema(_PLANS, self.schema, dict)
        self._selections: dict[tuple[str, int], tuple[Any, _Selection | None]] = {}
        # Selections of an operation without directives depend only on its syntax tree, which the parse
        # cache shares between requests: they are kept per schema by the tree's nodes.
        self._shared = (
            _per_schema(_SHARED, self.schema, lambda: Lru(_SHARED_MAX))
            if _static(self.operation, self.fragments)
            else None
        )

    def _plan(self, parent_type: GraphQLObjectType, field_details_list: Any) -> _FieldPlan | None:
        found = self._by_nodes.get(id(field_details_list))
        if found is not None:
            return found[1]
        plan = None
        node = field_details_list[0].node
        field_def = self.schema.get_field(parent_type, node.name.value)
        if field_def is not None and not any(d.node.directives for d in field_details_list):
            known = self._plans.get(id(field_def))
            if known is None:
                known = self._plans[id(field_def)] = (field_def, _field_plan(field_def))
            plan = known[1]
        self._by_nodes[id(field_details_list)] = (field_details_list, plan)  # keeps the list (and its id) alive
        return plan

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Path,
        position_context: Any,
    ) -> Any:
        plan = self._plan(parent_type, field_details_list) if self._fast else None
        if plan is not None:
            value = _value(plan, source)
            if value is not _NO_PLAN and not self.is_awaitable(value):
                if plan.leaf is not None:
                    completed = _plain_value(plan, value, self.is_awaitable)
                    if completed is not _NO_PLAN:
                        return completed
                elif plan.object_type is not None:
                    completed = self._objects(plan, field_details_list, value)
                    if completed is not _NO_PLAN:
                        return completed
                if plan.leaf is None or not plan.basic:
                    return self._complete(plan, parent_type, value, field_details_list, path, position_context)
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    def _objects(self, plan: _FieldPlan, field_details_list: Any, value: Any) -> Any:
        """An object (or a list of objects) whose selected fields all have plans, completed in one pass; or
        _NO_PLAN to let graphql-core complete it from the start (nothing is read twice but plain values)."""
        assert plan.object_type is not None
        if value is None:
            return _NO_PLAN if plan.non_null else None
        selection = self._selection(plan.object_type, field_details_list)
        if selection is None:
            return _NO_PLAN
        if not plan.is_list:
            return _NO_PLAN if self.is_awaitable(value) else selection.complete(value, self)
        return self._object_list(plan, selection, value)

    def _object_list(self, plan: _FieldPlan, selection: _Selection, value: Any) -> Any:
        is_awaitable, complete = self.is_awaitable, selection.complete
        return _each(plan, value, lambda item: _NO_PLAN if is_awaitable(item) else complete(item, self))

    def _slow(self, step: _Step, value: Any) -> Any:
        """A field's value that the compiled code does not answer inline: null, a list, an object, a value
        of another type than the usual one; _NO_PLAN to let graphql-core answer (and report errors)."""
        plan = step.plan
        if value is None:
            return _NO_PLAN if plan.non_null else None
        if self.is_awaitable(value):
            return _NO_PLAN
        if step.below is not None:
            if plan.is_list:
                return self._object_list(plan, step.below, value)
            _learn_sync(value)
            return step.below.complete(value, self)
        if plan.is_list and plan.text and type(value) is list and _all_text(value):
            return value.copy()
        return _plain_value(plan, value, self.is_awaitable)

    def _selection(self, object_type: GraphQLObjectType, field_details_list: Any) -> _Selection | None:
        """The fields selected on an object type, each with its plan and how its value is read (and the
        selection of the object below it), compiled; None if one has no plan (or a fragment is deferred)."""
        key = (object_type.name, id(field_details_list))
        found = self._selections.get(key)
        if found is not None:
            return found[1]
        shared_key = None
        if self._shared is not None:
            shared_key = (object_type.name, *(id(details.node) for details in field_details_list))
            shared = self._shared.get(shared_key)
            if shared is not None:
                self._selections[key] = (field_details_list, shared[1])
                return shared[1]
        grouped_field_set, new_defer_usages, *_ = self.collect_subfields(object_type, field_details_list)
        steps: list[_Step] | None = []
        for name, sub_fields in grouped_field_set.items():
            plan = self._plan(object_type, sub_fields)
            if new_defer_usages or plan is None or (plan.leaf is None and plan.object_type is None):
                steps = None
                break
            below = None
            if plan.object_type is not None:
                below = self._selection(plan.object_type, sub_fields)
                if below is None:
                    steps = None
                    break
            how = (
                (_ATTR if plan.read is getattr and _attribute_name(plan.python_name) else _READ)
                if plan.basic
                else _PRELOADED_VALUE
            )
            steps.append(_Step(name, plan, plan.python_name, how, below))  # type: ignore[union-attr]
        selection = None if steps is None else _Selection(steps, self._compiled(steps))
        self._selections[key] = (field_details_list, selection)  # keeps the list (and its id) alive
        if self._shared is not None and shared_key is not None:
            self._shared.put(shared_key, ([details.node for details in field_details_list], selection))
        return selection

    def _compiled(self, steps: list[_Step]) -> Callable[[Any, PlainFieldExecutor], Any]:
        compiled = _per_schema(_COMPILED, self.schema, lambda: Lru(_COMPILED_MAX))
        shape = _shape(steps)
        found = compiled.get(shape)
        if found is None:
            found = _compile(steps)
            compiled.put(shape, found)
        return found

    def _complete(
        self,
        plan: _FieldPlan,
        parent_type: GraphQLObjectType,
        value: Any,
        field_details_list: Any,
        path: Path,
        position_context: Any,
    ) -> Any:
        """graphql-core's execute_field after its resolver returned ``value`` synchronously."""
        return_type = plan.field_def.type
        info = self.build_resolve_info(plan.field_def, to_nodes(field_details_list), parent_type, path)
        try:
            completed = self.complete_value(return_type, field_details_list, info, path, value, position_context)
        except Exception as raw_error:  # handled as graphql-core handles it
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
        if not self.is_awaitable(completed):
            return completed

        async def await_completed() -> Any:
            try:
                return await completed
            except Exception as raw_error:  # handled as graphql-core handles it
                self.handle_field_error(raw_error, return_type, field_details_list, path)
                return None

        return await_completed()


def _per_schema(caches: weakref.WeakKeyDictionary[GraphQLSchema, C], schema: GraphQLSchema, new: Callable[[], C]) -> C:
    """A schema's cache, made the first time (``setdefault`` would build an empty one on every request)."""
    found = caches.get(schema)
    if found is None:
        found = caches[schema] = new()
    return found


def _static(operation: Any, fragments: dict[str, Any]) -> bool:
    """Whether an operation and its fragments use no directive (@skip, @include, @defer...), so that which
    fields it selects does not depend on its variables. Known per operation node (shared by the parse
    cache)."""
    found = _STATIC.get(id(operation))
    if found is not None and found[0] is operation:
        return found[1]

    def plain(node: Any) -> bool:
        if getattr(node, "directives", None):
            return False
        selection_set = getattr(node, "selection_set", None)
        return selection_set is None or all(plain(child) for child in selection_set.selections)

    static = plain(operation) and all(plain(fragment) for fragment in fragments.values())
    _STATIC.put(id(operation), (operation, static))
    return static


def _attribute_name(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def _shape(steps: list[_Step]) -> tuple[Any, ...]:
    """What a compiled selection depends on: response keys, schema fields (by id: plans keep them alive),
    how each is read and the shapes below."""
    return tuple((s.name, id(s.plan.field_def), id(s.how), _shape(s.below.steps) if s.below else None) for s in steps)


def _compile(steps: list[_Step]) -> Callable[[Any, PlainFieldExecutor], Any]:
    """A function that answers one object's selection the way PlainFieldExecutor does field by field, as
    straight-line Python: a catalog page has 50 x 7 fields, and a loop that asks each field's plan how to
    read and coerce it cost more than everything else the page does in Python. Each field is read (an
    attribute, a preloaded value or the field's own default resolver); a string in a String/ID field, a
    list of strings, an enum member of its type and an object below (of a type already seen not to be
    awaitable) are answered inline, anything else by ``_slow``; the answer is one dict display. Values and
    Python names reach the code as constants of its namespace; response keys (GraphQL names) as literals."""
    namespace: dict[str, Any] = {
        "NO": _NO_PLAN,
        "EMPTY": {},
        "PRELOADED": PRELOADED,
        "VALUE": _value,
        "TEXTS": _all_text,
        "SYNC": _SYNC_TYPES,
    }
    lines = ["def complete(source, ex):"]
    result = _emit(steps, "source", 1, lines, namespace)
    lines.append(f"    return {result}")
    exec(compile("\n".join(lines), "<compiled selection>", "exec"), namespace)  # noqa: S102
    complete: Callable[[Any, PlainFieldExecutor], Any] = namespace["complete"]
    return complete


def _emit(steps: list[_Step], source: str, depth: int, lines: list[str], namespace: dict[str, Any]) -> str:
    """The code that reads and completes each field of the object ``source`` (a variable of the generated
    function) into a variable of its own, and the dict display of the answer; objects below are written out
    in place. Any field it cannot answer returns NO from the whole function, so graphql-core answers the
    object from the start. Response keys are GraphQL names, written as Python literals (repr)."""
    pad = "    " * depth
    preloaded = f"p{len(namespace)}"
    if any(step.how is _PRELOADED_VALUE for step in steps):
        lines.append(f"{pad}{preloaded} = getattr({source}, PRELOADED, None) or EMPTY")
    items: list[str] = []
    for step in steps:
        i = len(namespace)  # a fresh number for this step's constants and variable
        plan, v = step.plan, f"v{i}"
        namespace |= {f"A{i}": step.key, f"S{i}": step}
        if step.how is _ATTR:
            lines += [
                f"{pad}try:",
                f"{pad}    {v} = {source}.{step.key}",
                f"{pad}except Exception:",
                f"{pad}    return NO",
            ]
        elif step.how is _PRELOADED_VALUE:
            lines += [f"{pad}{v} = {preloaded}.get(A{i}, NO)", f"{pad}if {v} is NO:", f"{pad}    return NO"]
        else:
            lines += [f"{pad}{v} = VALUE(S{i}.plan, {source})", f"{pad}if {v} is NO:", f"{pad}    return NO"]
        slow = [f"{pad}    {v} = ex._slow(S{i}, {v})", f"{pad}    if {v} is NO:", f"{pad}        return NO"]
        if plan.is_list and plan.text:
            lines += [f"{pad}if type({v}) is list and TEXTS({v}):", f"{pad}    {v} = {v}.copy()", f"{pad}else:", *slow]
        elif plan.text and not plan.is_list:
            lines += [f"{pad}if type({v}) is not str:", *slow]
        elif plan.enum_ids is not None and not plan.is_list:
            namespace |= {f"C{i}": plan.enum_class, f"E{i}": plan.enum_ids}
            lines += [f"{pad}if type({v}) is C{i}:", f"{pad}    {v} = E{i}[id({v})]", f"{pad}else:", *slow]
        elif step.below is not None and not plan.is_list:
            lines.append(f"{pad}if type({v}) in SYNC:")
            below = _emit(step.below.steps, v, depth + 1, lines, namespace)
            lines += [f"{pad}    {v} = {below}", f"{pad}else:", *slow]
        else:
            lines += [f"{pad}if True:", *slow]
        items.append(f"{step.name!r}: {v}")
    return "{" + ", ".join(items) + "}"


def _learn_sync(value: Any) -> None:
    """Remember the class of an object that is not awaitable: whether an instance is awaitable depends on its
    class only (``__await__``), except for generators and coroutines, which are never remembered."""
    kind = type(value)
    if kind not in _SYNC_TYPES and not isinstance(value, Generator | Coroutine) and not hasattr(kind, "__await__"):
        if len(_SYNC_TYPES) < 4096:
            _SYNC_TYPES.add(kind)


def _all_text(values: list[Any]) -> bool:
    for value in values:
        if type(value) is not str:
            return False
    return True


def _value(plan: _FieldPlan, source: Any) -> Any:
    if plan.basic:
        try:
            return plan.read(source, plan.python_name)
        except Exception:  # graphql-core's path raises it again, located and coded
            return _NO_PLAN
    preloaded = getattr(source, PRELOADED, None)
    return preloaded.get(plan.python_name, _NO_PLAN) if preloaded else _NO_PLAN


def _plain_value(plan: _FieldPlan, value: Any, is_awaitable: Callable[[Any], bool]) -> Any:
    """A scalar or enum value (or a list of them) coerced by its type, or _NO_PLAN to let graphql-core
    complete it (and report any error)."""
    assert plan.leaf is not None
    try:
        if value is None:
            return _NO_PLAN if plan.non_null else None
        if not plan.is_list:
            if plan.enum_names is not None and type(value) is plan.leaf.wrapped_cls:  # type: ignore[union-attr]
                return plan.enum_names[value]
            return _leaf(plan.leaf, value)
        leaf = plan.leaf
        return _each(plan, value, lambda item: _NO_PLAN if is_awaitable(item) else _leaf(leaf, item))
    except Exception:  # graphql-core's path raises it again, located and coded
        return _NO_PLAN


def _each(plan: _FieldPlan, value: Any, complete: Callable[[Any], Any]) -> Any:
    """A list value completed item by item (null items as the list type allows), or _NO_PLAN as soon as one
    item cannot be completed here."""
    if not isinstance(value, list | tuple):
        return _NO_PLAN
    items: list[Any] = []
    for item in value:
        if item is None:
            if plan.items_non_null:
                return _NO_PLAN
            items.append(None)
            continue
        completed = complete(item)
        if completed is _NO_PLAN:
            return _NO_PLAN
        items.append(completed)
    return items


def _leaf(leaf: GraphQLLeafType, value: Any) -> Any:
    coerced = leaf.coerce_output_value(value)
    return _NO_PLAN if coerced is None or coerced is Undefined else coerced
