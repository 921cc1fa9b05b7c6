"""The ``leadgraph`` command line, one module per command group.

May import web (to serve), services and core; nothing imports it."""
