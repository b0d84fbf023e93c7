"""`t21 staff grant|revoke EMAIL`: who may use the operator console at /admin (audited)."""

from __future__ import annotations

from typing import Annotated

import typer

staff_app = typer.Typer(
    help="T21 staff: who may sign in to the operator console at /admin.", no_args_is_help=True
)


def _set(email: str, *, staff: bool) -> None:
    from t21.admin import service
    from t21.cli import Refused, _run, friendly_errors, out, preflight
    from t21.core.errors import T21Error
    from t21.core.logging import configure_logging
    from t21.core.settings import load_settings
    from t21.core.uow import session_scope
    from t21.runtime import open_runtime

    settings = load_settings()
    configure_logging(settings)

    async def run() -> tuple[str, bool]:
        await preflight(settings, migrate=settings.is_sqlite)
        async with (
            open_runtime(settings, consume_jobs=False, run_loops=False),
            session_scope() as session,
        ):
            user, changed = await service.set_staff(
                session, email, staff=staff, actor=service.command_line_actor()
            )
            return user.email, changed

    @friendly_errors
    def command() -> None:
        try:
            address, changed = _run(run())
        except T21Error as exc:
            raise Refused(exc.detail) from None
        state = "is now staff" if staff else "is no longer staff"
        if not changed:
            state = "was already staff" if staff else "was not staff"
        out.print(f"{address} {state}.", highlight=False)

    command()


@staff_app.command("grant")
def grant(email: Annotated[str, typer.Argument(help="The account's email address.")]) -> None:
    """Make an account T21 staff: it may then sign in to /admin."""
    _set(email, staff=True)


@staff_app.command("revoke")
def revoke(email: Annotated[str, typer.Argument(help="The account's email address.")]) -> None:
    """Take the staff flag away: the account's console sessions stop at once."""
    _set(email, staff=False)
