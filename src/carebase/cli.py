"""The ``carebase`` command: serve, worker, migrate, seed-demo, create-admin, audit verify, ..."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from carebase.settings import get_settings

app = typer.Typer(help="Carebase: clinics and hospitals on one platform.", no_args_is_help=True)
migrate_app = typer.Typer(help="Database migrations (run as the database owner).", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
app.add_typer(migrate_app, name="migrate")
app.add_typer(audit_app, name="audit")
console = Console(stderr=True)


def _owner_url() -> str:
    from carebase.core.bootstrap import resolve_owner_url

    return resolve_owner_url(get_settings())


def _prepare_database() -> str:
    """Start/attach the database, make sure the app role exists, apply migrations."""
    from carebase.core import migrate
    from carebase.core.bootstrap import ensure_app_role

    settings = get_settings()
    url = _owner_url()
    assert settings.database_app_password is not None
    asyncio.run(ensure_app_role(url, settings.database_app_role, settings.database_app_password.get_secret_value()))
    migrate.upgrade(url)
    return url


async def _with_owner_session(url: str, fn):  # type: ignore[no-untyped-def]
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from carebase.core.db import async_url

    engine = create_async_engine(async_url(url))
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
            return await fn(session)
    finally:
        await engine.dispose()


def _seed(url: str) -> bool:
    from carebase.demo import DEMO_PASSWORD, seed_demo

    logins = asyncio.run(_with_owner_session(url, seed_demo))
    if logins is None:
        return False
    table = Table(title=f"Demo logins (staff password: {DEMO_PASSWORD})")
    for column in ("role", "organisation", "sign in with", "how"):
        table.add_column(column)
    for login in logins:
        table.add_row(login.role, login.tenant, login.login, login.how)
    out = Console(width=max(Console().width, 120))
    out.print(table)
    out.print("Patients sign in at /patient-login; in development the code is printed in this terminal.")
    return True


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
    demo: Annotated[bool, typer.Option(help="Load demo data on first start (not in production)")] = True,
    workers: Annotated[int | None, typer.Option(help="Server processes (default CAREBASE_SERVE_WORKERS, 1)")] = None,
) -> None:
    """Run the web app and API (and, unless configured otherwise, the worker in-process)."""
    import uvicorn

    from carebase.app import create_app
    from carebase.core.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    url = _prepare_database()
    if demo and not settings.is_production:
        _seed(url)
    bind_host, bind_port = host or settings.host, port or settings.port
    processes = workers or settings.serve_workers
    console.print(f"[bold green]Carebase[/] on http://{bind_host}:{bind_port}  (Ctrl-C stops everything)")
    options = {"host": bind_host, "port": bind_port, "log_config": None, "access_log": False,
               "proxy_headers": False, "server_header": False}  # fmt: skip
    if processes == 1:
        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
        return
    # Several processes share the socket; each builds its own app (pools, caches, listeners, the
    # in-process worker: workers share out events by row locks). They attach to the database this
    # process has prepared (the embedded one stays owned, and stopped, by this process).
    os.environ["CAREBASE_DATABASE_URL"] = url
    uvicorn.run("carebase.app:create_app", factory=True, workers=processes, **options)  # type: ignore[arg-type]


@app.command()
def worker() -> None:
    """Run the background worker (outbox consumer and schedules)."""
    from carebase.core.logging import configure_logging
    from carebase.core.worker import run_worker

    settings = get_settings()
    configure_logging(settings.log_level)
    url = _owner_url()

    async def main() -> None:
        # SIGTERM / Ctrl-C: finish the event in hand, hand the rest of the batch back, exit.
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(url, stop)

    asyncio.run(main())


@migrate_app.command("upgrade")
def migrate_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from carebase.core import migrate

    if revision == "head":
        _prepare_database()
    else:
        migrate.upgrade(_owner_url(), revision)
    console.print("[green]migrations applied[/]")


@migrate_app.command("downgrade")
def migrate_downgrade(revision: str = "-1") -> None:
    """Revert migrations to REVISION (default: one step)."""
    from carebase.core import migrate

    migrate.downgrade(_owner_url(), revision)
    console.print(f"[yellow]downgraded to {revision}[/]")


@migrate_app.command("current")
def migrate_current() -> None:
    """Show the database's revision and the code's head."""
    import asyncpg

    from carebase.core import migrate
    from carebase.core.bootstrap import asyncpg_dsn

    url = _owner_url()

    async def _current() -> str | None:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            return await migrate.current_revision(conn)
        finally:
            await conn.close()

    current, head = asyncio.run(_current()), migrate.head_revision(url)
    state = "(current)" if current == head else "(behind)"
    console.print(f"database: {current or 'empty'}  code head: {head}  {state}")


@app.command("seed-demo")
def seed_demo_cmd() -> None:
    """Load the demo tenants, staff and patients (once)."""
    if not _seed(_prepare_database()):
        console.print("demo data is already there")


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(prompt=True)],
    name: Annotated[str, typer.Option(prompt=True)],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Create a platform admin (MFA enrolment is asked at first sign-in)."""
    from carebase.core.errors import ValidationFailed
    from carebase.identity.bootstrap import create_platform_admin

    url = _prepare_database()
    try:
        asyncio.run(_with_owner_session(url, lambda s: create_platform_admin(s, email, name, password)))
    except ValidationFailed as exc:
        console.print(f"[red]{exc.detail}[/]")
        raise typer.Exit(2) from exc
    console.print(f"[green]platform admin {email} created[/]")


@audit_app.command("verify")
def audit_verify(tenant: Annotated[str | None, typer.Option(help="One tenant's id or slug")] = None) -> None:
    """Check every tenant's hash chain; name the first broken link. Exit 1 if any is broken."""
    import asyncpg

    from carebase.audit.service import verify_chain
    from carebase.core.bootstrap import asyncpg_dsn

    url = _owner_url()

    async def _verify() -> bool:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            rows = await conn.fetch(
                "SELECT id, slug FROM organizations WHERE $1::text IS NULL OR id::text = $1 OR slug = $1 ORDER BY slug",
                tenant,
            )
            if not rows:
                console.print("[red]no such tenant[/]")
                return False
            table = Table(title="Audit chains")
            for column in ("tenant", "events checked", "result"):
                table.add_column(column)
            ok = True
            for row in rows:
                checked, broken = await verify_chain(conn, row["id"])
                if broken:
                    ok = False
                    where = f"event #{broken.seq}" + (f" ({broken.event_id})" if broken.event_id else "")
                    table.add_row(row["slug"], str(checked), f"[red]BROKEN at {where}: {broken.reason}[/]")
                else:
                    table.add_row(row["slug"], str(checked), "[green]intact[/]")
            Console().print(table)
            return ok
        finally:
            await conn.close()

    if not asyncio.run(_verify()):
        raise typer.Exit(1)


@app.command("permissions-doc")
def permissions_doc(
    output: Annotated[Path, typer.Option(help="Where to write")] = Path("docs/permissions.md"),
) -> None:
    """Regenerate docs/permissions.md from the code."""
    from carebase.identity.rbac import render_markdown

    output.write_text(render_markdown())
    console.print(f"wrote {output}")


def main() -> None:  # pragma: no cover
    app(prog_name="carebase")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
