"""create_app(): routers, middleware, lifespan."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.responses import Response

from carebase.audit import linker as audit_linker
from carebase.audit.api import router as audit_router
from carebase.core import cache as core_cache
from carebase.core.bootstrap import ensure_app_role, resolve_owner_url
from carebase.core.db import Database
from carebase.core.errors import install_handlers, problem_response
from carebase.core.invalidation import Invalidation
from carebase.core.logging import configure_logging
from carebase.core.metrics import render as render_metrics
from carebase.core.middleware import PlatformMiddleware
from carebase.core.migrate import head_revision
from carebase.core.ratelimit import make_rate_limiter
from carebase.core.worker import run_worker
from carebase.directory.api import public_router as directory_public_router
from carebase.directory.api import router as directory_router
from carebase.identity.api_account import router as account_router
from carebase.identity.api_admin import router as admin_router
from carebase.identity.api_auth import router as auth_router
from carebase.identity.principal_cache import PrincipalCache
from carebase.jobs.api import router as jobs_router
from carebase.notifications import outbound
from carebase.notifications.api import router as notifications_router
from carebase.notifications.channels import make_dispatcher
from carebase.notifications.webhooks import router as webhooks_router
from carebase.patients.api import router as patients_router
from carebase.patients.api_marketplace import router as patients_marketplace_router
from carebase.realtime import service as realtime
from carebase.realtime.ws import router as ws_router
from carebase.realtime.ws import web_router as ws_web_router
from carebase.scheduling.api_availability import public_router as public_availability_router
from carebase.scheduling.api_availability import router as availability_router
from carebase.scheduling.api_booking import router as booking_router
from carebase.scheduling.api_calendars import public_router as calendar_feed_router
from carebase.scheduling.api_calendars import router as calendars_router
from carebase.scheduling.api_dependents import router as dependents_router
from carebase.scheduling.api_schedules import router as schedules_router
from carebase.scheduling.avcache import AvailabilityCache
from carebase.scheduling.holdrules import HoldRulesCache
from carebase.settings import Settings, get_settings
from carebase.tenancy.api import router as tenancy_router

log = logging.getLogger("carebase.app")

STATIC_DIR = Path(__file__).parent / "web" / "static"


def api_routers() -> list[APIRouter]:
    """The API's routers. Routes are matched in order and each candidate costs a few microseconds in
    FastAPI's router, so the hottest paths (availability, the public directory, booking) come first."""
    return [
        availability_router,
        public_availability_router,
        directory_public_router,
        booking_router,
        auth_router,
        account_router,
        admin_router,
        tenancy_router,
        patients_router,
        audit_router,
        schedules_router,
        dependents_router,
        calendars_router,
        notifications_router,
        directory_router,
        jobs_router,
        patients_marketplace_router,
    ]


async def open_database(settings: Settings) -> Database:
    owner_url = resolve_owner_url(settings)
    assert settings.database_app_password is not None
    await ensure_app_role(owner_url, settings.database_app_role, settings.database_app_password.get_secret_value())
    return Database(
        owner_url, settings.database_app_role, settings.database_app_password.get_secret_value(),
        pool_size=settings.database_pool_size,
    )  # fmt: skip


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_db = db is None
        app.state.db = db or await open_database(settings)
        app.state.head_revision = head_revision(app.state.db.owner_url)
        app.state.limiter = make_rate_limiter(settings.redis_url)
        app.state.cache = core_cache.make_cache(settings.redis_url)
        core_cache.install(app.state.cache)
        # Account messages: this app's own state, bound to the loop that serves it (see ``outbound``).
        app.state.outbound = outbound.Outbound(app.state.db, make_dispatcher(settings))
        outbound.install(app.state.outbound)
        await realtime.start(app.state, settings, app.state.db)
        app.state.invalidation = Invalidation(app.state.db.owner_url)
        app.state.principal_cache = PrincipalCache(app.state.invalidation)
        app.state.availability_cache = AvailabilityCache(app.state.invalidation, settings.availability_cache_entries)
        app.state.hold_rules = HoldRulesCache(app.state.invalidation, settings.availability_cache_entries)
        await app.state.invalidation.start()
        app.state.audit_linker = audit_linker.GroupLinker(app.state.db.raw_dsn)
        audit_linker.install(app.state.audit_linker)
        stop_worker = asyncio.Event()
        worker_task = None
        if own_db and settings.run_worker_in_process:
            worker_task = asyncio.create_task(run_worker(app.state.db.owner_url, stop_worker))
        # What start-up built lives as long as the process: move it out of the collector's sight, so
        # full collections (~0.2 s over the app's objects) stop stalling requests.
        gc.collect()
        gc.freeze()
        log.info("carebase ready", extra={"base_url": settings.public_base_url})
        try:
            yield
        finally:
            stop_worker.set()
            if worker_task:
                await asyncio.wait_for(worker_task, timeout=10)
            audit_linker.install(None)
            await app.state.audit_linker.close()
            await app.state.invalidation.stop()
            await realtime.stop(app.state)
            await app.state.outbound.drain()
            outbound.uninstall(app.state.outbound)
            close = getattr(app.state.limiter, "close", None)
            if close:
                await close()
            await app.state.cache.close()
            if own_db:
                await app.state.db.dispose()

    app = FastAPI(
        title="Carebase API",
        version="0.1.0",
        description="Clinics and hospitals on one platform. Errors are RFC 9457 problem+json.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # Our metrics are Prometheus (/metrics) and our logs JSON; FastAPI's OpenTelemetry hooks, on by default,
        # looked up the global OTel providers (environment reads) on every request: ~1% of a booking's CPU.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_handlers(app)
    for router in api_routers():  # straight onto the app: one level of nesting less to walk per request
        app.include_router(router, prefix="/api/v1")
    app.include_router(ops_router())
    app.include_router(calendar_feed_router)
    app.include_router(webhooks_router)
    app.include_router(ws_router)
    app.include_router(ws_web_router)

    from carebase.web.routes import router as web_router

    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(
        PlatformMiddleware,
        trusted_proxies=settings.trusted_proxies,
        max_body_bytes=settings.max_body_bytes,
        https=settings.public_base_url.startswith("https://"),
    )
    return app


def ops_router() -> APIRouter:
    ops = APIRouter(include_in_schema=False)

    @ops.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @ops.get("/readyz")
    async def readyz(request: Request) -> Response:
        db: Database = request.app.state.db
        try:
            async with db.engine.connect() as conn:
                current = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        except Exception:
            return problem_response(503, "Not ready", "The database cannot be reached.", code="not-ready")
        if current != request.app.state.head_revision:
            return problem_response(
                503, "Not ready", f"Migrations are not current ({current} != {request.app.state.head_revision}).",
                code="not-ready",
            )  # fmt: skip
        return JSONResponse({"status": "ready", "database": "ok", "migrations": current})

    @ops.get("/metrics")
    async def metrics_endpoint() -> Response:
        body, content_type = render_metrics()
        return Response(body, media_type=content_type)

    @ops.get("/docs")
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Carebase API",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/icon.svg",
        )

    return ops


def main_app() -> FastAPI:
    """Factory for ``uvicorn --factory carebase.app:main_app``."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
