"""Segments in GraphQL: the Segment type and its parts (types), inputs, a request's segment
reads (reads), the queries, mutations and subscription (resolvers). May import services and api/."""
