"""The HTTP and WebSocket face: the ASGI app, the GraphQL view, limits, cost, auth and live feeds.

May import everything below it (api, services, store, rules, core); nothing but cli imports it."""
