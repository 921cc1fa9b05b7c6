"""The GraphQL API: one module per domain, combined in :mod:`leadgraph.web.schema`."""
