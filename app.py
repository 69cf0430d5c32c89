"""The ASGI application: GraphQL, GraphiQL, console assets, health checks."""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext
from typing import Any

import orjson
from cross_web import HTTPException  # what strawberry's HTTP views raise for a 400
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData
from tortoise import connections

from console.graphiql import assets_app, graphiql_html
from console.web import (
    EMAIL_LINK_PAGES,
    PLUGIN_MODULE_PREFIX,
    console_page_for,
    email_link_page,
    plugin_module,
    static_app,
    to_console,
)
from models import db
from resolvers import auth, keys, outbox
from resolvers.actor import Actor
from resolvers.batches import MAX_UPLOAD_BYTES
from resolvers.errors import KmsError
from resolvers.keystore import keystore, open_key_store, opening_ring, registry
from resolvers.roles import Permission
from schema import build_schema
from schema.context import Context
from settings import Settings, configure_logging, load

log = logging.getLogger("kms")
CSRF_HEADER = "x-kms-csrf"


#: The console shell: the one page that frames another (GraphiQL, same origin only).
CONSOLE_SHELL = "/console"
# A request body this large is bulk work (an import, a claim or a batch of thousands): see cyclic_gc_paused.
BULK_BODY_BYTES = 256 * 1024
_bulk_requests = 0  # bulk requests running in this process
_gc_was_enabled = True


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while bulk requests run. Reference counting still frees what a
    request drops; only the search for reference cycles waits. A bulk request creates hundreds of thousands of
    objects that stay alive until it ends, and each full collection walks all of them again: about a third of
    the CPU of preparing 100,000 import rows (bench/README.md). Overlapping bulk requests share one pause; the
    collector runs again, as it was, when the last one ends."""
    global _bulk_requests, _gc_was_enabled
    if _bulk_requests == 0:
        _gc_was_enabled = gc.isenabled()
        gc.disable()
    _bulk_requests += 1
    try:
        yield
    finally:
        _bulk_requests -= 1
        if _bulk_requests == 0 and _gc_was_enabled:
            gc.enable()


def _csp(nonce: str, *, frame_ancestors: str = "'none'", frame_src: str | None = None) -> str:
    return (
        "default-src 'none'; script-src 'self'; "
        f"style-src 'self' 'nonce-{nonce}'; font-src 'self' data:; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; "
        + (f"frame-src {frame_src}; " if frame_src else "")
        + f"frame-ancestors {frame_ancestors}"
    )


class SecurityHeaders:
    """Request id and security headers on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})
        scope["state"]["request_id"] = request_id
        scope["state"]["csp_nonce"] = nonce
        frame_src = "'self'" if scope.get("path") == CONSOLE_SHELL else None

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                extra = {
                    b"x-request-id": request_id.encode(),
                    b"x-content-type-options": b"nosniff",
                    b"referrer-policy": b"no-referrer",
                    b"x-frame-options": b"DENY",
                    b"content-security-policy": _csp(nonce, frame_src=frame_src).encode(),
                    b"cache-control": b"no-store",
                }
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in extra.items() if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class KmsGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with our authentication, CSRF rule for uploads and local GraphiQL."""

    def __init__(self, settings: Settings) -> None:
        schema = build_schema(settings)
        super().__init__(
            schema,
            graphql_ide="graphiql",
            allow_queries_via_get=True,
            multipart_uploads_enabled=True,
        )
        self.settings = settings
        self.plans = schema.plans

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope)
        content_type = request.headers.get("content-type", "")
        # Browsers send forms (multipart, urlencoded, text/plain) cross-site without a preflight; a custom
        # header they cannot add without one makes an upload unforgeable. JSON bodies already need a
        # preflight. The media type is compared as parsed: " multipart/form-data" is multipart too.
        media_type = content_type.split(";", 1)[0].strip().lower()
        if scope["method"] == "POST" and media_type != "application/json" and request.headers.get(CSRF_HEADER) != "1":
            refused = _error("Uploads and form posts need the X-KMS-CSRF: 1 header.", "FORBIDDEN")
            await JSONResponse(refused, status_code=403)(scope, receive, send)
            return
        if scope["method"] != "POST":
            await self._handle(scope, receive, send, content_type)
            return
        # Every body is read whole, and no further than its limit, before anything parses it (a multipart
        # parser would spool any size to a temporary file first, a JSON body would be held in memory whole).
        upload = media_type == "multipart/form-data"
        body = await _body_within(
            request, receive, MAX_UPLOAD_BYTES + _MULTIPART_FIELDS_BYTES if upload else self.settings.max_body_bytes
        )
        if body is None:
            if upload:
                too_large = _error("The upload is too large.", "FILE_TOO_LARGE")
            else:
                limit = self.settings.max_body_bytes // (1024 * 1024)
                too_large = _error(f"The request is larger than {limit} MiB.", "QUERY_TOO_COMPLEX")
            await JSONResponse(too_large, status_code=413)(scope, receive, send)
            return
        # The collector pauses only once the body is here: a client that announces a large body and then
        # stalls must not keep it paused for everybody else's requests.
        with cyclic_gc_paused() if len(body) >= BULK_BODY_BYTES else nullcontext():
            await self._handle(scope, _replay(body, receive), send, content_type)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, content_type: str) -> None:
        request = Request(scope, receive)
        if scope["method"] == "POST" and content_type.startswith("application/json"):
            accept = request.headers.get("accept", "")
            if "multipart/mixed" not in accept and "text/event-stream" not in accept:
                await self._json_post(request, send)
                return
        await self._strawberry(request, send)

    async def _strawberry(self, request: Request, send: Send) -> None:
        """Strawberry's general HTTP view (GET, multipart, batches, streaming), its refusals as GraphQL errors."""
        try:
            response = await self.run(request)
        except HTTPException as exc:
            response = _http_error(exc)
        await response(request.scope, request.receive, send)

    async def _json_post(self, request: Request, send: Send) -> None:
        """A JSON POST of one operation, the console's and the API's request, answered without strawberry's
        general HTTP view (content negotiation, GET and multipart parsing, batches, streaming, request
        adapters): the same context, execution, result and errors, for about a tenth of a catalog page's CPU.
        Anything else in a JSON body (a batch, a value of the wrong type, a body that does not parse) goes to
        strawberry's view, which answers it as before."""
        body = await request.body()
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        query = data.get("query") if isinstance(data, dict) else None
        variables = data.get("variables") if isinstance(data, dict) else None
        operation_name = data.get("operationName") if isinstance(data, dict) else None
        extensions = data.get("extensions") if isinstance(data, dict) else None
        if not (
            isinstance(query, str)
            and isinstance(variables, dict | None)
            and isinstance(operation_name, str | None)
            and isinstance(extensions, dict | None)
        ):
            await self._strawberry(Request(request.scope, _replay(body, request.receive)), send)
            return
        # On PostgreSQL the session lookup's connection may serve the operation too (models.db.Lease).
        lease = db.Lease() if db.dialect() == "postgres" else None
        request.state.kms_lease = lease
        try:
            await self._execute_json(request, send, query, variables, operation_name, extensions)
        finally:
            if lease is not None:
                await lease.release()

    async def _execute_json(
        self,
        request: Request,
        send: Send,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        extensions: dict[str, Any] | None,
    ) -> None:
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, sub_response)
        # the console's catalog page, once answered, without strawberry's per-request lifecycle (schema/plans.py)
        result = await self.plans.execute(query, variables, operation_name, context, extensions)
        if result is None:
            try:  # strawberry's own step: allowed operation types and its 400 answers
                result = await self.execute_single(
                    request=request,
                    request_adapter=self.request_adapter_class(request),
                    sub_response=sub_response,
                    context=context,
                    root_value=None,
                    request_data=GraphQLRequestData(query, variables, operation_name, extensions),
                )
            except HTTPException as exc:
                await _http_error(exc)(request.scope, request.receive, send)
                return
            if not result.errors:
                self.plans.learn(query, operation_name)
        response = self.create_response(await self.process_result(request, result), sub_response)
        await response(request.scope, request.receive, send)

    def encode_json(self, data: object) -> bytes:
        # orjson: a catalog page's answer in a tenth of the standard library's time (issue 5's bench)
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)  # its JSONDecodeError is the standard library's: the view answers 400

    async def authenticate(self, request: Request) -> Actor | None:
        client = request.client.host if request.client else None
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            return await auth.actor_from_token(authorization[7:].strip(), client)
        cookie = request.cookies.get(auth.SESSION_COOKIE)
        if cookie:
            lease = getattr(request.state, "kms_lease", None)
            actor = await auth.actor_from_session(cookie, auth.policy_from(self.settings), client, lease)
            if actor is None and lease is not None:
                await lease.release()
            return actor
        return None

    async def get_context(self, request: Request, response: Response) -> Context:  # type: ignore[override]
        actor = await self.authenticate(request)
        lease = getattr(request.state, "kms_lease", None)
        return Context(
            request=request,
            response=response,
            settings=self.settings,
            actor=actor,
            request_id=request.state.request_id,
            lease=lease if lease is not None and lease.connection is not None else None,
        )

    async def render_graphql_ide(self, request: Request) -> Response:  # type: ignore[override]
        actor = await self.authenticate(request)
        if actor is None:
            return PlainTextResponse("Please log in to the console first.", status_code=401)
        if actor.must_change_password or not actor.has(Permission.INTROSPECT):
            return PlainTextResponse("GraphiQL is for administrators.", status_code=403)
        nonce = request.state.csp_nonce
        headers = {}
        if request.query_params.get("embedded") == "1":
            # The console shows this page in a frame (#/graphiql): only this page, only for the same origin.
            headers = {
                "content-security-policy": _csp(nonce, frame_ancestors="'self'"),
                "x-frame-options": "SAMEORIGIN",
            }
        return HTMLResponse(
            graphiql_html(graphql_url="/graphql", assets_prefix="/console/assets", nonce=nonce), headers=headers
        )


async def health(request: Request) -> Response:
    return JSONResponse({"status": "alive"})


async def ready(request: Request) -> Response:
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception:  # any failure means "not ready"; the detail goes to the log, not the caller
        log.exception("readiness check failed")
        return JSONResponse({"status": "database unavailable"}, status_code=503)
    return JSONResponse({"status": "ready"})


# What a multipart request may carry besides its file: the operation (the form parser takes at most 1 MiB
# for it, typed serial numbers included) and the map.
_MULTIPART_FIELDS_BYTES = 1024 * 1024 + 64 * 1024


def _error(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def _http_error(exc: HTTPException) -> Response:
    """Strawberry's refusals of a request it cannot run (a mutation over GET, a body that does not parse, a
    content type it does not take) as GraphQL errors with a code, like every other refusal."""
    code = "FORBIDDEN" if "not allowed" in exc.reason else "BAD_USER_INPUT"
    return JSONResponse(_error(exc.reason, code), status_code=exc.status_code)


async def _body_within(request: Request, receive: Receive, limit: int) -> bytes | None:
    """The request's body if it has at most ``limit`` bytes, else None, read no further than that: an upload
    is refused before it is parsed (which would spool any size to a temporary file first)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        return None
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            break
    return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that gives the body read already, then what the client sends after it."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def download_endpoint(settings: Settings) -> Any:
    """GET /downloads/<single-use token>: stream a key release once, within its lifetime."""

    async def download(request: Request) -> Response:
        if request.method != "GET":  # a HEAD (a link checker, a prefetch) must not use up the single-use link
            return Response(status_code=405, headers={"allow": "GET"})
        try:
            ring = await opening_ring(keystore(settings))  # a sealed store refuses before the link is used up
        except KmsError as exc:
            return JSONResponse({"errors": [{"message": exc.message, "extensions": exc.extensions}]}, status_code=503)
        try:
            plugins = registry(settings.plugins)
            client = request.client.host if request.client else None
            release = await keys.claim_download(request.path_params["token"], plugins, client)
        except KmsError as exc:
            error = {"message": exc.message, "extensions": exc.extensions}
            return JSONResponse({"errors": [error]}, status_code=404 if exc.code == "TOKEN_INVALID" else 503)
        key_format = plugins.format(release.format)
        media_type = "application/pkcs7-mime" if release.recipient_certificate else key_format.media_type
        return StreamingResponse(
            keys.stream_file(release, key_format, plugins, ring),
            media_type=media_type,
            headers={"content-disposition": f'attachment; filename="{release.filename}"'},
        )

    return download


def create_app(settings: Settings | None = None, *, manage_database: bool = True) -> Starlette:
    """Build the application. With ``manage_database`` the lifespan opens and closes the database."""
    settings = settings or load()
    configure_logging(settings)  # a worker process of `kms serve --workers N` starts here
    graphql = KmsGraphQL(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_database:
            await db.init(settings.database_url)
        await open_key_store(settings)
        # Everything built so far (schema, plugins, modules) lives as long as the process: the garbage
        # collector's full passes need not walk it again and again (they did so more often the more requests
        # were in flight at once).
        gc.collect()
        gc.freeze()
        # The mail worker runs in every server process unless KMS_MAIL_WORKER=off (then `kms worker` sends).
        stop = asyncio.Event()
        worker = None
        if settings.mail_worker.lower() != "off":
            worker = asyncio.create_task(outbox.run_worker(settings, stop), name="mail-worker")
        try:
            yield
        finally:
            stop.set()
            if worker is not None:
                await worker
            if manage_database:
                await db.close()

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/health", health),
            Route("/ready", ready),
            Route("/downloads/{token}", download_endpoint(settings)),
            Mount("/console/assets", app=assets_app()),
            Route("/", to_console),
            Route("/console", console_page_for(registry(settings.plugins))),
            Route(PLUGIN_MODULE_PREFIX + "/{plugin}/{file}", plugin_module(registry(settings.plugins))),
            *(Route(path, email_link_page) for path in EMAIL_LINK_PAGES),
            Mount("/console/static", app=static_app()),
        ],
        middleware=[Middleware(SecurityHeaders)],
        lifespan=lifespan,
    )
