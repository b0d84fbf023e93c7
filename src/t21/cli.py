"""The `t21` command: serve the API, run workers, migrate, and check the configuration."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from t21 import __version__
from t21.admin.cli import staff_app  # its commands import this module when they run
from t21.core.db import create_engine, redact_url
from t21.core.errors import ConfigError
from t21.core.heap import WARM_AFTER_REQUESTS, FreezeOnceWarm, freeze_heap, limit_malloc_arenas
from t21.core.logging import configure_logging
from t21.core.settings import SANDBOX_PORT, Settings, load_settings

app = typer.Typer(
    name="t21",
    help="T21: write, schedule and publish social media posts for your brands.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")


class PreflightError(Exception):
    """Something the process needs is missing or unreachable; the message says what to do."""


class Refused(Exception):
    """The command's own input was refused; the message says why."""


def friendly_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Report configuration and start-up problems as plain sentences, never a traceback."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            err.print("[bold red]T21 can't start: the configuration has problems[/]")
            for problem in exc.problems:
                err.print(f"  • {problem}", highlight=False, markup=False)
            err.print("See .env.example for every setting.")
            raise typer.Exit(2) from None
        except PreflightError as exc:
            err.print(f"[bold red]T21 can't start:[/] {exc}", highlight=False)
            raise typer.Exit(1) from None
        except Refused as exc:
            err.print(f"[bold red]Not done:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper


def _run(coro: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(coro)


async def preflight(settings: Settings, *, migrate: bool) -> None:
    """Check the database (migrating it when asked) and Redis before serving anything."""
    from t21.core import migrations

    try:
        settings.secret()  # generated once here in development, before anything signs with it
    except OSError as exc:
        raise PreflightError(
            f"can't keep a generated secret in {settings.data_dir}: {exc.strerror}. "
            "Set T21_SECRET_KEY or make T21_DATA_DIR writable."
        ) from None

    engine = create_engine(settings, pooled=False)
    where = redact_url(settings.resolved_database_url)
    try:
        try:
            if migrate:
                await migrations.upgrade(settings)
            current_ok, current, head = await migrations.is_current(settings, engine)
        except Exception as exc:
            raise PreflightError(
                f"the database at {where} can't be used: {_reason(exc)}. "
                "Check T21_DATABASE_URL and that the server is running."
            ) from None
        if not current_ok:
            raise PreflightError(
                f"the database at {where} is at revision {current or 'none (empty)'}, "
                f"this version needs {head}. Run `t21 migrate` first."
            )
    finally:
        await engine.dispose()
    if settings.redis_url is not None:
        from redis.asyncio import Redis

        client = Redis.from_url(settings.redis_url, socket_connect_timeout=5, socket_timeout=5)
        try:
            await client.ping()
        except Exception as exc:
            raise PreflightError(
                f"Redis at {redact_url(settings.redis_url)} doesn't answer: {_reason(exc)}. "
                "Check T21_REDIS_URL."
            ) from None
        finally:
            await client.aclose()


def _reason(exc: BaseException) -> str:
    from t21.core.logging import redact_text

    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return redact_text(text[0] if text else type(exc).__name__)


def _serve_until_stopped(server: Any) -> None:
    """Run a uvicorn server; SIGTERM or Ctrl+C shut it down gracefully and exit with 0.

    uvicorn re-raises the signal it caught once it has shut down; the no-op handlers here
    receive that, instead of the default ones killing a process that already stopped cleanly.
    """
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run()
    if not server.started:
        raise typer.Exit(1)


def _freeze_heap() -> None:
    """The heap frozen before serving (`core.heap.freeze_heap`), the jobs and loops included."""
    import t21.tasks  # noqa: F401  (the jobs and loops, imported by the runtime otherwise)

    freeze_heap()


def _uvicorn_config(app: Any, settings: Settings, host: str, port: int) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        lifespan="on",
    )


@app.command()
@friendly_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default T21_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default T21_PORT).")] = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Serve the API only; jobs run in `t21 worker`.")
    ] = False,
    migrate: Annotated[
        bool | None,
        typer.Option(
            "--migrate/--no-migrate",
            help="Upgrade the database first (default: yes on SQLite, no on PostgreSQL).",
        ),
    ] = None,
) -> None:
    """Run the API, and (unless --no-worker) the jobs and periodic loops, in this process."""
    import uvicorn

    from t21.api import create_app

    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = load_settings(**overrides)
    limit_malloc_arenas(settings.malloc_arena_max)
    configure_logging(settings)
    if no_worker and settings.redis_url is None:
        raise ConfigError(
            [
                "--no-worker needs T21_REDIS_URL: without Redis, jobs are queued in memory and "
                "only this process can run them"
            ]
        )
    _run(preflight(settings, migrate=settings.is_sqlite if migrate is None else migrate))
    application = create_app(settings, worker=not no_worker, sandbox=True)
    err.print(
        f"T21 {__version__} on http://{settings.host}:{settings.port} "
        f"(docs at /docs, {'API only' if no_worker else 'API + worker'})",
        highlight=False,
    )
    _freeze_heap()
    _serve_until_stopped(
        uvicorn.Server(
            _uvicorn_config(
                FreezeOnceWarm(application, WARM_AFTER_REQUESTS),
                settings,
                settings.host,
                settings.port,
            )
        )
    )


@app.command()
@friendly_errors
def worker(
    host: Annotated[str, typer.Option(help="Interface of the ops port.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Ops port serving /health, /ready and /metrics (0: any free port).")
    ] = 8001,
) -> None:
    """Run jobs from the Redis queue and the periodic loops (the scaled-out mode)."""
    import uvicorn

    from t21.worker.app import create_worker_app

    settings = load_settings()
    limit_malloc_arenas(settings.malloc_arena_max)
    configure_logging(settings)
    if settings.redis_url is None:
        raise ConfigError(
            [
                "T21_REDIS_URL is not set: `t21 worker` takes jobs from Redis. In the embedded "
                "mode, `t21 serve` runs the jobs itself and needs no worker"
            ]
        )
    _run(preflight(settings, migrate=False))
    application = create_worker_app(settings)
    _freeze_heap()
    _serve_until_stopped(uvicorn.Server(_uvicorn_config(application, settings, host, port)))


@app.command()
@friendly_errors
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    sql: Annotated[
        bool, typer.Option("--sql", help="Print the SQL instead of running it.")
    ] = False,
) -> None:
    """Upgrade the database schema (T21_DATABASE_URL) to the latest revision."""
    from t21.core import migrations

    settings = load_settings()
    if sql:
        sys.stdout.write(migrations.upgrade_sql(settings, revision))
        return
    configure_logging(settings)
    where = redact_url(settings.resolved_database_url)

    async def run() -> tuple[str | None, str | None]:
        engine = create_engine(settings, pooled=False)
        try:
            before = await migrations.current_revision(engine)
            await migrations.upgrade(settings, revision)
            return before, await migrations.current_revision(engine)
        finally:
            await engine.dispose()

    try:
        before, after = _run(run())
    except Exception as exc:
        raise PreflightError(f"migrating {where} failed: {_reason(exc)}") from None
    if before == after:
        out.print(f"{where} is already at {after}.", highlight=False)
    else:
        out.print(f"{where} upgraded from {before or 'empty'} to {after}.", highlight=False)


@app.command()
@friendly_errors
def sandbox(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = SANDBOX_PORT,
) -> None:
    """Serve the sandbox fakes of outside services on their own."""
    import uvicorn

    from t21.sandbox.app import FAKES, create_sandbox_app

    settings = load_settings()
    configure_logging(settings)
    for name, what in FAKES.items():
        err.print(f"  {name}: http://{host}:{port}/{name}  ({what})", highlight=False)
    _serve_until_stopped(
        uvicorn.Server(
            _uvicorn_config(
                create_sandbox_app(
                    refuse_duplicates=settings.sandbox_refuse_duplicates,
                    state_path=settings.resolved_sandbox_state_file,
                    grow_metrics=settings.sandbox_grow_metrics,
                ),
                settings,
                host,
                port,
            )
        )
    )


@app.command("send-test-email")
@friendly_errors
def send_test_email(
    to: Annotated[str, typer.Option("--to", help="Recipient address.")],
) -> None:
    """Send a test email through the configured backend and report what happened."""
    from t21.core import clock
    from t21.core.uow import session_scope
    from t21.notifications import service, tasks
    from t21.notifications.models import EmailStatus, OutboundEmail
    from t21.runtime import open_runtime

    if "@" not in to:
        raise ConfigError([f"--to: {to!r} is not an email address"])
    settings = load_settings()
    configure_logging(settings)

    async def run() -> OutboundEmail:
        await preflight(settings, migrate=settings.is_sqlite)
        async with open_runtime(settings, consume_jobs=False, run_loops=False):
            async with session_scope() as session:
                email = await service.queue_email(
                    session,
                    settings,
                    to=to,
                    template="delivery_test",
                    context={
                        "backend": settings.email_backend.value,
                        "sent_at": clock.now().isoformat(timespec="seconds"),
                    },
                    dispatch=False,
                )
            await tasks.deliver_email.run(email_id=str(email.id))
            async with session_scope() as session:
                sent = await session.get(OutboundEmail, email.id)
                assert sent is not None
                return sent

    email = _run(run())
    if email.status is EmailStatus.SENT:
        detail = f" (message id {email.provider_message_id})" if email.provider_message_id else ""
        out.print(f"Sent to {to} through {email.backend}{detail}.", highlight=False)
        return
    err.print(f"[bold red]Not sent[/] ({email.status.value}): {email.last_error}", highlight=False)
    if email.status is EmailStatus.PENDING:
        err.print(f"It stays in the outbox and will be retried after {email.not_before}.")
    raise typer.Exit(1)


@app.command("create-user")
@friendly_errors
def create_user(
    email: Annotated[str, typer.Option("--email", help="The account's email address.")],
    name: Annotated[str, typer.Option("--name", help="The person's name.")],
    password: Annotated[
        str | None,
        typer.Option(help="The password (asked for, hidden, when not given)."),
    ] = None,
    staff: Annotated[
        bool, typer.Option("--staff", help="T21 staff: may sign in to the console at /admin.")
    ] = False,
) -> None:
    """Create a verified account with its personal organization (no email is sent)."""
    from t21.admin import service as admin_service
    from t21.core.errors import T21Error
    from t21.core.uow import session_scope
    from t21.identity import service as identity_service
    from t21.runtime import open_runtime

    settings = load_settings()
    configure_logging(settings)
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    assert password is not None

    async def run() -> None:
        await preflight(settings, migrate=settings.is_sqlite)
        async with open_runtime(settings, consume_jobs=False, run_loops=False):
            async with session_scope() as session:
                user = await identity_service.create_account(
                    session, email=email, password=password, name=name, verified=True
                )
                if staff:
                    await admin_service.set_staff(
                        session, user.email, staff=True, actor=admin_service.command_line_actor()
                    )
            role = " as T21 staff" if staff else ""
            out.print(f"Created {user.email} ({user.id}){role}.", highlight=False)

    try:
        _run(run())
    except T21Error as exc:
        raise Refused(exc.detail) from None


@app.command("new-encryption-key")
def new_encryption_key() -> None:
    """Print a new random key for T21_ENCRYPTION_KEYS (put it first, keep the old ones after)."""
    from t21.core.crypto import new_key

    out.print(new_key(), highlight=False)


@app.command("reencrypt-tokens")
@friendly_errors
def reencrypt_tokens(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Accounts per transaction.")] = 200,
) -> None:
    """Re-encrypt every social account's tokens under the current (first) key, so older keys
    can be removed from T21_ENCRYPTION_KEYS. Safe to interrupt and run again."""
    from sqlalchemy import func, select

    from t21.core.crypto import DecryptionError, keyring
    from t21.core.uow import session_scope
    from t21.runtime import open_runtime
    from t21.social.models import SocialAccount
    from t21.social.tokens import reencrypt

    settings = load_settings()
    configure_logging(settings)
    current = keyring(settings).current

    async def run() -> tuple[int, int]:
        await preflight(settings, migrate=settings.is_sqlite)
        changed = total = 0
        async with open_runtime(settings, consume_jobs=False, run_loops=False):
            async with session_scope() as session:
                count = int(
                    await session.scalar(select(func.count()).select_from(SocialAccount)) or 0
                )
            after = None
            with Progress(console=err, transient=True) as progress:
                task = progress.add_task(f"re-encrypting under key {current}", total=count)
                while True:
                    async with session_scope() as session:
                        query = select(SocialAccount).order_by(SocialAccount.id).limit(batch)
                        if after is not None:
                            query = query.where(SocialAccount.id > after)
                        # Locked (PostgreSQL) so a refresh can't write between read and re-encrypt.
                        accounts = list((await session.scalars(query.with_for_update())).all())
                        for account in accounts:
                            changed += reencrypt(settings, account)
                        await session.flush()
                    if not accounts:
                        break
                    total += len(accounts)
                    after = accounts[-1].id
                    progress.update(task, completed=total)
        return changed, total

    try:
        changed, total = _run(run())
    except DecryptionError as exc:
        raise Refused(f"{exc}: add its key back to T21_ENCRYPTION_KEYS and run again") from None
    out.print(f"{changed} of {total} accounts re-encrypted under key {current}.", highlight=False)


@app.command()
@friendly_errors
def config() -> None:
    """Show the effective settings (secrets hidden) and whether they are fit for production."""
    from t21.core.settings import production_problems

    settings = load_settings()
    given = settings.flat_given()
    table = Table("setting", "value", "from", box=None, pad_edge=False)
    for name, value in settings.flat().items():
        shown = _shown_setting(name, value)
        source = "-" if shown == UNSET else "set" if name in given else "default"
        table.add_row(f"T21_{name.upper()}", shown, source)
    out.print(table)
    out.print(
        f"\n{UNSET}: no value (T21 works without it, or derives one: see the README); "
        "default: T21's own value, not set anywhere.",
        highlight=False,
        markup=False,
    )
    out.print(f"\nSandbox: {_sandbox_address(settings)}", highlight=False, markup=False)
    problems = production_problems(settings)
    if problems:
        out.print("\nNot fit for production yet:")
        for problem in problems:
            out.print(f"  • {problem}", highlight=False, markup=False)


def _sandbox_address(settings: Settings) -> str:
    """Where `t21 serve` reaches the sandbox's fakes, and where their world is kept."""
    if not settings.sandbox_enabled:
        return "off"
    if settings.sandbox_url is not None:
        return f"{redact_url(settings.sandbox_url)} (T21_SANDBOX_URL, run on its own)"
    port = settings.resolved_sandbox_port
    where = f"http://127.0.0.1:{port}" if port else "a free loopback port, chosen at start"
    return f"{where}, state in {settings.resolved_sandbox_state_file}"


UNSET = "(unset)"
# Names of settings whose text is a credential (a number such as `access_token_ttl_s` is not).
SECRET_WORDS = ("secret", "password", "token", "api_key", "access_key")


def _shown_setting(name: str, value: Any) -> str:
    """The value as `t21 config` prints it: `(unset)` for nothing (None, empty text or list),
    `(set, hidden)` for a credential, URLs without their passwords."""
    if value is None or value == "" or value == [] or value == {}:
        return UNSET
    if isinstance(value, SecretStr):
        return "(set, hidden)" if value.get_secret_value() else UNSET
    if isinstance(value, list) and any(isinstance(item, SecretStr) for item in value):
        return "(set, hidden)"
    if isinstance(value, str) and any(word in name for word in SECRET_WORDS):
        return "(set, hidden)"
    if name.endswith("_url") and isinstance(value, str):
        return redact_url(value) if "://" in value else value
    return str(value.value if hasattr(value, "value") else value)


app.add_typer(staff_app, name="staff")

analytics_app = typer.Typer(help="Analytics: collect posts' numbers from their networks.")
app.add_typer(analytics_app, name="analytics")


@analytics_app.command("collect")
@friendly_errors
def analytics_collect(
    post: Annotated[
        str | None, typer.Option(help="Only this post's targets (its id).", show_default=False)
    ] = None,
) -> None:
    """Collect the numbers of published posts now instead of on their schedule (in development,
    the sandbox's networks grow numbers as time passes: collect to see them in the charts)."""
    import uuid

    from t21.analytics.collection import collect_now
    from t21.runtime import open_runtime

    settings = load_settings()
    configure_logging(settings)
    try:
        post_id = uuid.UUID(post) if post is not None else None
    except ValueError:
        raise Refused(f"--post must be a post id, not {post!r}.") from None

    async def run() -> tuple[int, int]:
        await preflight(settings, migrate=settings.is_sqlite)
        async with open_runtime(settings, consume_jobs=False, run_loops=False) as runtime:
            if settings.sandbox_enabled and settings.sandbox_url is None:
                # The sandbox of a running `t21 serve`, on its stable port.
                port = settings.resolved_sandbox_port
                runtime.state["sandbox_url"] = f"http://127.0.0.1:{port}"
            done = await collect_now(runtime, post_id=post_id)
            return done.targets, done.snapshots

    targets, snapshots = asyncio.run(run())
    out.print(
        f"Collected {targets} target{'' if targets == 1 else 's'}: "
        f"{snapshots} new snapshot{'' if snapshots == 1 else 's'}.",
        highlight=False,
    )


@app.command()
def version() -> None:
    """Print the version."""
    out.print(f"t21 {__version__}", highlight=False)


def main() -> None:
    app()
