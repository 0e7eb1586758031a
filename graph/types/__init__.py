"""GraphQL object types, each built from its model with plain (resolver-free) leaf fields."""
