"""The GraphQL API: types, inputs and resolvers per domain, combined in :mod:`leadgraph.web.schema`.
May import services, rules, web's request helpers and the core, never store (tests/test_layers.py).
"""
