"""Leads in GraphQL: the Lead type and its payloads (types), filters and inputs (inputs),
the queries and mutations (resolvers). May import services, web loaders and the rest of api/."""
