"""The GraphQL endpoint: strawberry's ASGI view plus API-key auth and GraphQL-over-HTTP rules.

- ``Authorization: Bearer KEY`` on every GraphQL request (401 without a valid key); the
  GraphiQL page itself loads without one.  WebSocket clients send the key in the
  ``connection_init`` payload (``{"Authorization": "Bearer KEY"}``) or the upgrade header.
- Responses are ``application/graphql-response+json`` when the client accepts it (then a request
  error, i.e. a response without ``data``, is a 400) and ``application/json`` otherwise (200),
  as the GraphQL-over-HTTP spec asks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cross_web import HTTPException
from graphql import ExecutionResult, GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.relay.types import GlobalIDValueError
from strawberry.schema.exceptions import InvalidOperationTypeError

from .auth import Principal, bearer_token
from .context import Context
from .loaders import Loaders
from .store import keys

if TYPE_CHECKING:
    from .app import AppState

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def _media_type(accept: str | None) -> str:
    """Pick the response media type from an Accept header (graphql-response+json preferred)."""
    if not accept:
        return JSON
    best, best_q = None, -1.0
    for part in accept.split(","):
        kind, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        kind = kind.strip().lower()
        if kind in (GRAPHQL_RESPONSE, JSON, "application/*", "*/*") and q > best_q:
            best, best_q = kind, q
        elif kind == GRAPHQL_RESPONSE and q == best_q:
            best = kind
    return GRAPHQL_RESPONSE if best == GRAPHQL_RESPONSE else JSON


def error_response(
    status: int,
    message: str,
    code: str,
    media_type: str = JSON,
    headers: dict[str, str] | None = None,
) -> Response:
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="leadgraph"'}
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        media_type=media_type,
        headers=headers,
    )


def _error_code(error: GraphQLError) -> str | None:
    """An ``extensions.code`` for the errors that do not carry one (None leaves it unset)."""
    if error.extensions and "code" in error.extensions:
        return None
    if isinstance(error.original_error, GlobalIDValueError):
        return "BAD_USER_INPUT"  # a garbage or unresolvable global id
    if error.path is None:  # raised before execution: parse, validation, limits
        return (
            "GRAPHQL_PARSE_FAILED"
            if error.message.startswith("Syntax Error")
            else ("GRAPHQL_VALIDATION_FAILED")
        )
    if error.original_error is None and error.message == "Internal server error":
        return "INTERNAL_SERVER_ERROR"  # masked by the schema's MaskErrors extension
    return None


class LeadgraphGraphQL(GraphQL):
    def __init__(self, state: AppState, **kwargs: Any) -> None:
        super().__init__(state.schema, **kwargs)
        self.state = state

    async def authenticate(self, header: str | None) -> Principal | None:
        token = bearer_token(header)
        if token is None:
            return None
        doc = await keys.lookup(self.state.db, token)
        return Principal(name=doc["name"], role=doc["role"]) if doc else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        media_type = _media_type(request.headers.get("accept"))
        wants_ide = request.method == "GET" and "text/html" in request.headers.get("accept", "")
        if wants_ide and not request.query_params.get("query"):
            await super().__call__(scope, receive, send)
            return
        principal = await self.authenticate(request.headers.get("authorization"))
        if principal is None:
            message = (
                "missing API key: send 'Authorization: Bearer KEY'"
                if not request.headers.get("authorization")
                else "invalid or revoked API key"
            )
            await error_response(401, message, "UNAUTHENTICATED", media_type)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        scope["state"]["media_type"] = media_type
        try:
            response = await self.run(request)
        except HTTPException as exc:
            if request.method == "GET" and isinstance(exc.__cause__, InvalidOperationTypeError):
                # GraphQL-over-HTTP: a mutation sent with GET is 405 Method Not Allowed.
                response = error_response(
                    405, exc.reason, "METHOD_NOT_ALLOWED", media_type, {"Allow": "POST"}
                )
            else:
                response = error_response(exc.status_code, exc.reason, "BAD_REQUEST", media_type)
        await response(scope, receive, send)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        state = self.state
        is_ws = request.scope["type"] == "websocket"
        return Context(
            db=state.db,
            loaders=Loaders(state.db, cache=not is_ws),
            settings=state.settings,
            principal=request.scope.get("state", {}).get("principal"),
            rules=state.rules,
            pm=state.pm,
            request=request,
            response=response,
            services_cache=state.services,
        )

    async def on_ws_connect(self, context: Context) -> Any:
        payload = context.connection_params or {}
        header = None
        if isinstance(payload, dict):
            header = payload.get("Authorization") or payload.get("authorization")
        if header is None and context.request is not None:
            header = context.request.headers.get("authorization")
        principal = await self.authenticate(header)
        if principal is None:
            raise ConnectionRejectionError({"reason": "invalid or missing API key"})
        context.principal = principal
        return None

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        for error in result.errors or ():
            code = _error_code(error)
            if code is not None:
                error.extensions = {**(error.extensions or {}), "code": code}
        data = process_result(result)
        if result.data is None and result.errors and all(e.path is None for e in result.errors):
            data.pop("data", None)  # a request error (parse/validation): no data entry
        return data

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Any
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        media_type = JSON
        request_state = getattr(sub_response, "request_state", None)
        if request_state is not None:
            media_type = request_state.get("media_type", JSON)
        response.headers["content-type"] = media_type
        if (
            media_type == GRAPHQL_RESPONSE
            and isinstance(response_data, dict)
            and "data" not in response_data
        ):
            response.status_code = 400
        return response

    async def get_sub_response(self, request: Request) -> Any:
        sub_response = await super().get_sub_response(request)
        sub_response.request_state = request.scope.get("state", {})  # type: ignore[attr-defined]
        return sub_response
