"""The studio's FastAPI app: the page, the JSON API (OpenAPI at /docs), the token guard and error answers.

Every error a request can cause is a 4xx with ``{"error": "one clear line"}``; anything unexpected is a
500 with one line too (the traceback goes to the server's log, never to the client).
"""

from __future__ import annotations

import json
import sys
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from pixforge.errors import PixforgeError

from .queue import JobQueue
from .runs import Thumbnails
from .security import LOCAL_HOSTS, MAX_UPLOAD_BYTES, RequestError, Roots, bearer, token_matches

STATIC = Path(__file__).parent / "static"
#: the largest request body other than an upload
MAX_BODY = 1024 * 1024
#: the studio's own files inside the runs folder: the queue, uploads, the server lock
STUDIO_DIR = ".studio"


@dataclass
class StudioConfig:
    """How ``pixforge serve`` was started."""

    runs: Path
    inputs: Path | None = None
    workers: int = 1
    threads: int = 1
    token: str | None = None
    #: the address it listens on (requests naming another host are refused when there is no token)
    host: str = "127.0.0.1"


@dataclass
class Studio:
    """What the routes share: the queue, the folders, a Pipeline for resolving and searching, the workers."""

    config: StudioConfig
    roots: Roots
    queue: JobQueue
    pipeline: Any
    pool: Any = None
    thumbnails: Thumbnails = field(default_factory=Thumbnails)
    searchers: dict[Any, Any] = field(default_factory=dict)
    search_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def uploads(self) -> Path:
        return self.roots.runs / STUDIO_DIR / "uploads"


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class Guard:
    """ASGI middleware, before anything is read: the token on /api/ when one is set; without one, only
    requests addressed to this machine's own names (a web page on another site that makes its name point at
    127.0.0.1, "DNS rebinding", is refused); no cross-site POST or DELETE (another site's page cannot queue
    renders or upload); body size limits."""

    def __init__(self, app: Any, token: str | None, host: str = "127.0.0.1") -> None:
        self.app = app
        self.token = token
        self.hosts = set(LOCAL_HOSTS) | {host}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        answer = self.check(path, scope["method"], headers, scope.get("query_string", b"").decode("latin-1"))
        if answer is not None:
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def check(self, path: str, method: str, headers: dict[str, str], query: str) -> JSONResponse | None:
        host = headers.get("host", "")
        if not self.token and _hostname(host) not in self.hosts:
            return error(403, f"requests must be addressed to this machine (127.0.0.1 or localhost), not '{host}'")
        origin = headers.get("origin")
        if method not in ("GET", "HEAD", "OPTIONS") and origin and urlsplit(origin).netloc != host:
            return error(403, f"cross-site request from '{origin}' refused: use the studio's own page")
        if self.token and path.startswith("/api/"):
            given = bearer(headers.get("authorization")) or (parse_qs(query).get("token") or [None])[0]
            if not token_matches(given, self.token):
                return error(
                    401, "this server needs its token: send 'Authorization: Bearer TOKEN' or add ?token=TOKEN",
                    {"WWW-Authenticate": "Bearer"},
                )
        upload = path == "/api/uploads"
        limit = MAX_UPLOAD_BYTES + 64 * 1024 if upload else MAX_BODY
        length = headers.get("content-length")
        if method in ("POST", "PUT", "PATCH"):
            if length is None and (upload or headers.get("transfer-encoding")):
                return error(411, "send the request with a Content-Length header")
            if length is not None:
                if not length.isdigit():
                    return error(400, f"Content-Length '{length}' is not a number")
                if int(length) > limit:
                    return error(413, f"request body of {int(length):,} bytes is over the limit of {limit:,}")
        return None


def _hostname(host: str) -> str:
    """The name in a Host header, without its port (``[::1]:7860`` → ``::1``)."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for problem in exc.errors():
        where = ".".join(str(p) for p in problem.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{where or 'request'}: {problem.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is not valid"


def server_lock(runs: Path) -> Any:
    """The lock one server holds on its runs folder, so two never take each other's jobs."""
    from pixforge.locks import folder_lock

    folder = runs / STUDIO_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder_lock(folder, "studio runs folder", hint="; another pixforge serve uses it")


def create_app(config: StudioConfig, start_workers: bool = True) -> FastAPI:
    """The app for one runs folder; its lifespan recovers the queue and starts the workers (hold
    ``server_lock`` around it: one server per runs folder)."""
    from pixforge.pipeline import Pipeline

    from .pool import WorkerPool
    from .routes import router

    runs = config.runs.resolve()
    (runs / STUDIO_DIR).mkdir(parents=True, exist_ok=True)
    roots = Roots(runs, config.inputs.resolve() if config.inputs else None)
    studio = Studio(config, roots, JobQueue(runs / STUDIO_DIR / "queue.sqlite"), Pipeline())

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        for job_id in studio.queue.recover():
            print(f"pixforge studio: job {job_id} was running when the server stopped: marked failed", file=sys.stderr)
        if start_workers and config.workers:
            studio.pool = WorkerPool(studio.queue, roots.base, config.workers, config.threads)
            studio.pool.start()
        try:
            yield
        finally:
            if studio.pool is not None:
                studio.pool.stop()

    app = FastAPI(
        title="pixforge studio",
        description="Render, watch, cancel, browse and search pixforge renders. Errors answer {\"error\": message}.",
        lifespan=lifespan,
    )
    app.state.studio = studio

    @app.exception_handler(RequestError)
    async def _request_error(request: Request, exc: RequestError) -> JSONResponse:
        return error(exc.status, str(exc))

    @app.exception_handler(PixforgeError)
    async def _pixforge_error(request: Request, exc: PixforgeError) -> JSONResponse:
        return error(400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(422, _validation_message(exc))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return error(exc.status_code, detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error(500, f"internal error ({type(exc).__name__}); the server's log has the details")

    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    app.add_middleware(Guard, token=config.token, host=config.host)
    return app
