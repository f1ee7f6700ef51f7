"""The HTTP API: health checks, metrics, the status API and the dashboard.

Stream names and job IDs in paths are percent-encoded, ``/`` as ``%2F``: the
paths are routed on their raw form, so a stream called ``a/segments`` never
reaches the segments endpoint of stream ``a``.
"""

from __future__ import annotations

import secrets
from importlib.resources import files
from typing import TYPE_CHECKING, Annotated
from urllib.parse import unquote_to_bytes

import redis.exceptions
from fastapi import Depends, FastAPI, HTTPException, Path, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streamweaver import __version__
from streamweaver.broker.supervisor import OUTAGE_ERRORS
from streamweaver.errors import ReplayError, StorageError
from streamweaver.monitoring import api_models as m

if TYPE_CHECKING:
    from streamweaver.monitoring.service import MonitoringService

API = "/api/v1"
STATIC = files("streamweaver.monitoring") / "static"

StreamName = Annotated[
    str,
    Path(
        description="The stream name, percent-encoded (`/` as `%2F`, `:` may stay).",
        min_length=1,
    ),
]
JobId = Annotated[str, Path(description="The replay job ID.", min_length=1)]

_PROBLEMS = {404: {"model": m.Problem}, 503: {"model": m.Problem}}
_bearer = HTTPBearer(auto_error=False, description="`monitoring.token`")


def create_app(service: MonitoringService) -> FastAPI:
    """The ASGI application for one broker's monitoring service."""
    app = FastAPI(
        title="StreamWeaver broker",
        version=__version__,
        description="Health, metrics and status of a StreamWeaver broker. "
        "Stream names in paths are percent-encoded.",
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(RawPathRouting)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    _add_error_handlers(app)

    def authorized(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        token = service.config.monitoring.token
        if token is None:
            return
        given = credentials.credentials if credentials else ""
        if not secrets.compare_digest(
            given.encode(), token.get_secret_value().encode()
        ):
            raise HTTPException(
                401,
                "this endpoint needs the header "
                "Authorization: Bearer <monitoring.token>",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @app.get("/", include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text("utf-8"))

    @app.get("/healthz", tags=["health"])
    async def healthz() -> m.Health:
        """The process is alive and serving requests."""
        return m.Health(status="ok")

    @app.get(
        "/readyz",
        tags=["health"],
        responses={503: {"model": m.Readiness, "description": "Not ready."}},
    )
    async def readyz(response: Response) -> m.Readiness:
        """Redis answers and the archive store is writable; 503 with reasons if not."""
        result = await service.probe.check()
        if not result.ready:
            response.status_code = 503
        return result

    @app.get(
        "/metrics",
        tags=["metrics"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        """Prometheus metrics, from the latest collection (docs/metrics.md)."""
        service.refresh_own_metrics()
        body = generate_latest(service.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.get(f"{API}/streams", tags=["streams"])
    async def list_streams() -> m.Overview:
        """Every managed stream with its tiers, from the latest collection."""
        return service.overview()

    @app.get(f"{API}/streams/{{stream}}", tags=["streams"], responses=_PROBLEMS)
    async def get_stream(stream: StreamName) -> m.StreamDetail:
        """One stream now: Redis tier, groups and consumers, archive range."""
        name = path_value(stream)
        detail = await service.stream_detail(name)
        if detail is None:
            raise HTTPException(404, f"there is no stream {name!r}")
        return detail

    @app.get(
        f"{API}/streams/{{stream}}/segments", tags=["streams"], responses=_PROBLEMS
    )
    async def get_segments(stream: StreamName) -> m.Segments:
        """The stream's archived segments, oldest first."""
        name = path_value(stream)
        segments = await service.segments(name)
        if segments is None:
            raise HTTPException(404, f"there is no stream {name!r}")
        return m.Segments(stream=name, segments=segments)

    @app.get(f"{API}/instances", tags=["instances"], responses={503: _PROBLEMS[503]})
    async def list_instances() -> m.Instances:
        """The broker instances sharing the streams, and which streams each owns."""
        return await service.instances()

    @app.get(f"{API}/replays", tags=["replays"])
    async def list_replays() -> m.ReplayJobs:
        """Replay jobs, newest first."""
        return m.ReplayJobs(jobs=await service.replays.list())

    @app.post(
        f"{API}/replays",
        tags=["replays"],
        status_code=202,
        dependencies=[Depends(authorized)],
        responses={
            400: {"model": m.Problem, "description": "The request was refused."},
            401: {"model": m.Problem},
            503: {"model": m.Problem},
        },
    )
    async def start_replay(request: m.ReplayStart) -> m.ReplayJob:
        """Start a replay job; the same request as on the control stream.

        A refused request answers 400 with the reason and its ``code``, and is
        kept as a ``rejected`` job, as requests from the control stream are.
        """
        return await service.replays.start(request)

    @app.delete(
        f"{API}/replays/{{job_id}}",
        tags=["replays"],
        dependencies=[Depends(authorized)],
        responses={
            401: {"model": m.Problem},
            404: {"model": m.Problem},
            503: {"model": m.Problem},
        },
    )
    async def cancel_replay(job_id: JobId) -> m.ReplayJob:
        """Cancel a job: at once if queued, before its next batch if running.

        Answers the job as it is after the request; a finished job is unchanged.
        """
        name = path_value(job_id)
        job = await service.replays.cancel(name)
        if job is None:
            raise HTTPException(404, f"there is no replay job {name!r}")
        return job

    return app


def path_value(raw: str) -> str:
    """Decode a path parameter that was routed in its percent-encoded form."""
    return unquote_to_bytes(raw.encode("latin-1")).decode("utf-8", "replace")


class RawPathRouting:
    """Route ``/api/`` requests on the raw path, so ``%2F`` stays inside one segment."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        raw = scope.get("raw_path") if scope["type"] == "http" else None
        if raw and raw.startswith(API.encode()):
            scope = {**scope, "path": raw.decode("latin-1")}
        await self.app(scope, receive, send)


def _add_error_handlers(app: FastAPI) -> None:
    def problem(status: int, exc: BaseException) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status)

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        return problem(503, exc)

    async def rejected(_: Request, exc: Exception) -> JSONResponse:
        code = getattr(exc, "code", None)
        return JSONResponse({"detail": str(exc), "code": code}, status_code=400)

    for error in (*OUTAGE_ERRORS, redis.exceptions.RedisError, StorageError):
        app.add_exception_handler(error, unavailable)
    app.add_exception_handler(ReplayError, rejected)
