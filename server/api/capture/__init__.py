"""Capture in GraphQL: its payloads and the import types (types), the submission, registration
and import inputs (inputs), the mutations and the import status query (resolvers). May import
services, web loaders and the rest of api/."""
