"""PlainFieldExecutor answers exactly as graphql-core's executor: the same data and the same errors, fast path
or not. Tiny schemas inline, run with both executors."""

from __future__ import annotations

import enum
from typing import Any

import pytest
import strawberry
from strawberry.types import Info

from schema.executor import PRELOADED, PlainFieldExecutor


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Part:
    name: str
    size: int | None = None


@strawberry.type
class Item:
    id: strawberry.ID
    name: str
    colour: Colour
    tags: list[str]
    maybe: list[str | None] | None
    part: Part | None
    parts: list[Part]
    _preloaded: strawberry.Private[dict[str, Any] | None] = None

    @strawberry.field
    def label(self, info: Info) -> str:
        if self._preloaded and "label" in self._preloaded:
            return self._preloaded["label"]  # type: ignore[no-any-return]
        return f"resolved {self.name}"

    @strawberry.field
    def shout(self, loud: bool = False) -> str:
        return self.name.upper() if loud else self.name

    @strawberry.field
    async def later(self) -> str:
        return f"later {self.name}"


def _items(broken: str | None) -> list[Item]:
    items = [
        Item(
            id=strawberry.ID("1"),
            name="one",
            colour=Colour.RED,
            tags=["a", "b"],
            maybe=["x", None],
            part=Part(name="p1", size=3),
            parts=[Part(name="q1"), Part(name="q2", size=2)],
            _preloaded={"label": "preloaded one"},
        ),
        Item(
            id=strawberry.ID("2"),
            name="two",
            colour=Colour.BLUE,
            tags=[],
            maybe=None,
            part=None,
            parts=[],
        ),
    ]
    if broken == "name":
        items[1].name = None  # type: ignore[assignment]
    elif broken == "tag":
        items[0].tags = ["a", None]  # type: ignore[list-item]
    elif broken == "colour":
        items[0].colour = "GREEN"  # type: ignore[assignment]
    elif broken == "part":
        items[0].parts = [Part(name=None)]  # type: ignore[arg-type]
    elif broken == "label":
        items[0]._preloaded = {"label": None}
    elif broken == "single_part":
        items[0].part = Part(name=None)  # type: ignore[arg-type]
    return items


def _schemas(broken: str | None) -> tuple[strawberry.Schema, strawberry.Schema]:
    @strawberry.type
    class Query:
        @strawberry.field
        def items(self) -> list[Item]:
            return _items(broken)

    return strawberry.Schema(Query), strawberry.Schema(Query, execution_context_class=PlainFieldExecutor)


QUERIES = [
    "{ items { id name colour tags maybe label part { name size } parts { name size } } }",
    "{ items { __typename id ...F alias: name other: shout(loud: true) later } } fragment F on Item { tags label }",
    "query($s: Boolean!) { items { name @skip(if: $s) colour @include(if: $s) part { name } } }",
]


@pytest.mark.parametrize("broken", [None, "name", "tag", "colour", "part", "label", "single_part"])
@pytest.mark.parametrize("query", QUERIES)
async def test_the_executor_answers_as_graphql_core(query, broken):
    # given
    generic, fast = _schemas(broken)
    # when (twice: the second time objects below are answered inline, their classes known)
    expected = await generic.execute(query, variable_values={"s": True})
    for _ in range(2):
        answered = await fast.execute(query, variable_values={"s": True})
        # then
        assert answered.data == expected.data
        assert [(e.message, e.path) for e in answered.errors or []] == [
            (e.message, e.path) for e in expected.errors or []
        ]


async def test_preloaded_values_are_used_and_resolvers_answer_the_same_without_them():
    _, fast = _schemas(None)
    result = await fast.execute("{ items { label } }")
    assert result.data == {"items": [{"label": "preloaded one"}, {"label": "resolved two"}]}
    assert PRELOADED == "_preloaded"


async def test_compiled_selections_follow_aliases_and_nesting_across_requests():
    # given one schema, so compiled selections are shared between its requests
    _, fast = _schemas(None)
    first = "{ items { a: name b: id part { name } } }"
    swapped = "{ items { b: name a: id part { size } } }"
    # when the same shape comes twice and a similar one with other keys and another field below
    answers = [await fast.execute(q) for q in (first, swapped, first)]
    # then each is answered by its own selection
    assert (
        answers[0].data
        == answers[2].data
        == {"items": [{"a": "one", "b": "1", "part": {"name": "p1"}}, {"a": "two", "b": "2", "part": None}]}
    )
    assert answers[1].data == {
        "items": [{"b": "one", "a": "1", "part": {"size": 3}}, {"b": "two", "a": "2", "part": None}]
    }


async def test_selections_that_depend_on_variables_are_not_shared_between_requests():
    # given a query whose fields depend on its variables, sent twice with other values
    generic, fast = _schemas(None)
    query = "query($s: Boolean!) { items { name @skip(if: $s) part { name @include(if: $s) } } }"
    for s in (True, False, True):
        # when
        expected = await generic.execute(query, variable_values={"s": s})
        answered = await fast.execute(query, variable_values={"s": s})
        # then
        assert answered.data == expected.data
