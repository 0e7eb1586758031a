"""schema.graphql is generated from the code and committed; drift fails here."""

from pathlib import Path

import pytest

from graph.schema import schema

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_committed_schema_matches_code() -> None:
    assert SCHEMA_FILE.read_text() == schema.as_str() + "\n", (
        "schema.graphql is stale: run `clarion export-schema --output schema.graphql`"
    )


def test_every_type_field_and_enum_value_is_described() -> None:
    from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType

    missing: list[str] = []
    for name, gql_type in schema._schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Boolean", "ID", "Float"}:
            continue
        if not gql_type.description:
            missing.append(name)
        if isinstance(gql_type, GraphQLObjectType | GraphQLInputObjectType):
            missing += [
                f"{name}.{field}"
                for field, definition in gql_type.fields.items()
                if not definition.description
            ]
        if isinstance(gql_type, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, d in gql_type.values.items() if not d.description]
    assert missing == []
