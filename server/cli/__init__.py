"""The ``leadgraph`` command line, one module per command group (``main`` is the entry point).
May import web (to serve), services, store, rules and the core; nothing imports cli.
"""
