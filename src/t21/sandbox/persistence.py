"""Keeping the sandbox's world across restarts.

Every fake keeps its world (issued tokens, users, Stripe customers and subscriptions...) in
objects on its app's `state`. With a state file, the sandbox writes them to it after every
request that may change them and when it stops, and reads them back when it starts, so the
accounts connected and the customers created before a restart are still known after it.

The file is the sandbox's own (development only, beside T21's database in `T21_DATA_DIR`), written
and read by this process: its format is Python's pickle, so no fake needs a serialiser of its own.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

log = structlog.get_logger(__name__)

STATE_FILE_NAME = "sandbox-state.pickle"
FORMAT_VERSION = 1
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def held_states(app: Starlette) -> dict[str, dict[str, Any]]:
    """The world of every mounted fake: mount path → the objects on its app's `state`."""
    found: dict[str, dict[str, Any]] = {}
    for route in app.routes:
        if not isinstance(route, Mount):
            continue
        held: State | None = getattr(route.app, "state", None)
        if held is not None:
            found[route.path] = dict(vars(held)["_state"])
    return found


def save(app: Starlette, path: Path) -> None:
    """Write the fakes' world to `path` (atomically: a crash leaves the previous file)."""
    document = {"version": FORMAT_VERSION, "states": held_states(app)}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            pickle.dump(document, file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read(path: Path) -> dict[str, Any] | None:
    try:
        with path.open("rb") as file:
            document = pickle.load(file)  # noqa: S301 (our own file, see the module doc)
    except FileNotFoundError:
        return None
    except Exception as exc:  # an old or damaged file: start afresh rather than not at all
        log.warning("sandbox state unreadable, starting afresh", path=str(path), error=repr(exc))
        return None
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        log.warning("sandbox state of another version, starting afresh", path=str(path))
        return None
    return document


def restore(app: Starlette, path: Path) -> bool:
    """Bring back the world saved in `path`, if any; whether it did. Each object is refilled in
    place (the fakes' routes hold on to their state objects), and only from an object of its
    own type: a fake whose state changed shape starts afresh."""
    document = _read(path)
    if document is None:
        return False
    saved: dict[str, dict[str, Any]] = document.get("states", {})
    for mount, states in held_states(app).items():
        for key, current in states.items():
            previous = saved.get(mount, {}).get(key)
            if type(previous) is type(current) and hasattr(current, "__dict__"):
                current.__dict__.update(previous.__dict__)
    return True


class PersistMiddleware:
    """Saves the fakes' world after every request that may have changed it."""

    def __init__(self, app: ASGIApp, sandbox: Starlette, path: Path) -> None:
        self.app = app
        self.sandbox = sandbox
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READ_ONLY_METHODS:
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            save(self.sandbox, self.path)
