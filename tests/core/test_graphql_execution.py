"""core.graphql.LeafObjectExecutionContext writes objects whose selected fields are all
default-resolved scalars in one loop: its answers, data and errors, must be graphql-core's own."""

import graphene
from graphql import ExecutionContext, execute, parse

from core.graphql import LeafObjectExecutionContext


class Obj:
    def __init__(self, **values):
        self.__dict__.update(values)


class Item(graphene.ObjectType):
    name = graphene.String(required=True)
    tier = graphene.Int()
    ratio = graphene.Float()
    kind = graphene.String()
    shouted = graphene.String()

    def resolve_shouted(self, info):
        return (self["name"] if isinstance(self, dict) else self.name).upper()


ROWS = {
    "good": [{"name": "a", "tier": 1, "ratio": 0.5, "kind": "s"}, Obj(name="b", tier="2", ratio=1, kind=None)],
    "null_required": [{"name": "a", "tier": 1}, {"name": None, "tier": 2}, {"name": "c"}],
    "bad_scalar": [{"name": "a", "tier": 1}, {"name": "b", "tier": "not a number"}],
    "missing_key": [{"tier": 3}],
    "null_item": [{"name": "a"}, None, {"name": "c"}],
    "tuple": ({"name": "a"}, Obj(name="b", tier=None, ratio=None, kind="k")),
}


class Query(graphene.ObjectType):
    items = graphene.List(graphene.NonNull(Item), case=graphene.String(required=True))
    loose = graphene.List(Item, case=graphene.String(required=True))

    def resolve_items(root, info, case):
        return ROWS[case]

    def resolve_loose(root, info, case):
        return ROWS[case]


SCHEMA = graphene.Schema(query=Query).graphql_schema

QUERIES = [
    '{ items(case: "good") { name tier ratio kind } }',
    '{ items(case: "good") { n: name t: tier ...F } } fragment F on Item { kind ratio }',
    '{ items(case: "good") { __typename name } }',
    '{ items(case: "good") { name shouted } }',
    '{ items(case: "good") { name tier @skip(if: true) kind @include(if: false) } }',
    '{ items(case: "null_required") { name tier } }',
    '{ loose(case: "null_required") { name tier } }',
    '{ loose(case: "bad_scalar") { name tier } }',
    '{ loose(case: "missing_key") { name } }',
    '{ loose(case: "missing_key") { tier kind } }',
    '{ loose(case: "null_item") { name } }',
    '{ items(case: "null_item") { name } }',
    '{ items(case: "tuple") { name tier kind } }',
    '{ a: items(case: "good") { name } b: items(case: "good") { tier } }',
]


def _run(query, context_class):
    result = execute(SCHEMA, parse(query), execution_context_class=context_class)
    return result.formatted


def test_answers_and_errors_are_graphql_cores_own():
    for query in QUERIES:
        assert _run(query, LeafObjectExecutionContext) == _run(query, ExecutionContext), query


def test_the_short_path_is_taken_for_leaf_objects_only():
    taken = []

    class Counting(LeafObjectExecutionContext):
        @staticmethod
        def _leaf_results(plan, source_value):
            taken.append(source_value)
            return LeafObjectExecutionContext._leaf_results(plan, source_value)

    assert _run('{ items(case: "good") { name tier } }', Counting)["data"]["items"][1] == {"name": "b", "tier": 2}
    assert len(taken) == 2
    taken.clear()
    _run('{ items(case: "good") { name shouted } }', Counting)  # a resolver of its own: the ordinary way
    assert taken == []
