"""The ``leadgraph`` command line, one module per command group (``main`` is the entry point).

May import web, services, store, rules and the core; nothing imports cli.

May import web (to serve), services and core; nothing imports it.
"""
