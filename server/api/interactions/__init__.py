"""Interactions in GraphQL: the Interaction type and its payload (types), the filter and the
record input (inputs), the mutation and the live feed (resolvers). May import services, web
loaders and the rest of api/."""
