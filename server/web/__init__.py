"""The HTTP and WebSocket face: the ASGI app, the GraphQL view, limits, cost, auth, live feeds.
May import api, services, store, rules and the core; api uses only its request helpers
(loaders, live feeds, answer cache, page-size checks), and cli starts the app.
"""
