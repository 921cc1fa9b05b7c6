"""Contacts in GraphQL: the Contact type and its payloads (types), filters and inputs (inputs),
the queries and mutations (resolvers). May import services, web loaders and the rest of api/."""
