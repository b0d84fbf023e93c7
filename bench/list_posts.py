"""Does a page of `GET /api/v1/posts` cost the same on the millionth post as on the first?

For each `--sizes` value this creates a throwaway PostgreSQL database on the server of
`--database-url` (as the test suite does), migrates it, and runs the API in-process (httpx over
ASGI, rate limits off), seeded as `seeding.py` says: an owner with four brands (45 %, 30 %, 15 %
and 10 % of the posts), one connected account per network and brand, the posts and their targets
spread over three past years and one ahead. Every list below is requested `--requests` times (after
three warm-up requests) as the owner, and its p50/p95 reported, with the `EXPLAIN (ANALYZE,
BUFFERS)` of the posts query the request actually sent (captured from the engine): execution time,
buffers touched and the index used. Middle and deep pages are reached with the cursor of the row at
that position (`encode_cursor`, as the previous page's `next_cursor` would be). Full plans are
printed for the first and deep pages and for every query that touched more than a few hundred
buffers. Last, the owner creates a second organization and the first and deep pages are measured
again: a person in two organizations lists through `organization_id IN (a, b)`.

Run: `.venv/bin/python bench/list_posts.py --sizes 10000,1000000`
(`--database-url postgresql://postgres@127.0.0.1:5432/postgres` by default; its own database is
never touched: each size gets `t21_bench_<random>`, dropped at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from seeding import bench_settings, log, seeded_app, throwaway_database
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from t21.core.pagination import encode_cursor

POSTS = "/api/v1/posts"
# A query touching more buffers than this is not a constant-cost page: its plan is printed.
BUFFERS_WORTH_SHOWING = 500


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    params: dict[str, Any]


@dataclass
class Result:
    case: str
    latencies_ms: list[float]
    items: int
    more: bool
    sql_ms: float
    buffers: int
    rows_removed: int
    access: str
    plan_cache: str
    plan: list[str] = field(default_factory=list)
    statement: str = ""
    parameters: tuple[Any, ...] = ()

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p95(self) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0]  # nan: not requested through the app
        return statistics.quantiles(self.latencies_ms, n=20)[18]


class QueryTap:
    """The SQL a request sends, as the driver receives it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.seen: list[tuple[str, Any]] = []
        self.on = False
        event.listen(engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.on:
            self.seen.append((statement, parameters))

    @contextmanager
    def capture(self) -> Iterator[list[tuple[str, Any]]]:
        self.seen = []
        self.on = True
        try:
            yield self.seen
        finally:
            self.on = False


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _walk(child)


def sql_literal(value: Any) -> str:
    """A parameter value written into SQL (EXECUTE takes no protocol parameters); the values
    are this script's own."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


async def explain(
    engine: AsyncEngine, statement: str, parameters: Any, *, generic: bool
) -> dict[str, Any]:
    """Execution time, buffers, rows filtered away, access paths and the text plan of the
    statement with these parameters; with `generic`, of the generic plan PostgreSQL caches for
    a prepared statement (what the app's requests ran once the cache chose it)."""
    values = tuple(parameters)
    target = statement
    async with engine.connect() as conn:
        if generic:
            await conn.exec_driver_sql("PREPARE bench_list AS " + statement)
            await conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
            target = f"EXECUTE bench_list({', '.join(sql_literal(v) for v in values)})"
            values = ()
        try:
            raw = await conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + target, values
            )
            document = raw.scalar_one()
            plan_text = await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + target, values)
            lines = [str(row[0]) for row in plan_text]
        finally:
            if generic:
                await conn.exec_driver_sql("DEALLOCATE bench_list")
                await conn.exec_driver_sql("RESET plan_cache_mode")
    [top] = json.loads(document) if isinstance(document, str) else document
    nodes = list(_walk(top["Plan"]))
    access: list[str] = []
    for node in nodes:
        kind = str(node["Node Type"])
        if "Index Name" in node:
            access.append(f"{kind.replace(' Scan', '')} {node['Index Name']}")
        elif kind in ("Seq Scan", "Bitmap Heap Scan"):
            access.append(f"{kind} {node.get('Relation Name', '')}")
        elif kind in ("Sort", "Incremental Sort", "Hash Join", "Merge Join", "Merge Append"):
            access.append(kind)
    plan = top["Plan"]
    return {
        "sql_ms": float(top["Execution Time"]),
        "buffers": int(plan.get("Shared Hit Blocks", 0)) + int(plan.get("Shared Read Blocks", 0)),
        "rows_removed": sum(int(node.get("Rows Removed by Filter", 0)) for node in nodes),
        "access": ", ".join(dict.fromkeys(access)),
        "plan": lines,
    }


async def went_generic(engine: AsyncEngine, statement: str) -> bool | None:
    """Whether the driver's prepared `statement` ran with a generic plan on any pooled
    connection (None: none of them prepared it)."""
    found: bool | None = None
    async with AsyncExitStack() as stack:
        idle = max(1, engine.pool.checkedin())  # type: ignore[attr-defined]
        for _ in range(idle):
            conn = await stack.enter_async_context(engine.connect())
            row = (
                await conn.execute(
                    text("SELECT generic_plans FROM pg_prepared_statements WHERE statement = :sql"),
                    {"sql": statement},
                )
            ).first()
            if row is not None:
                found = bool(found) or int(row.generic_plans) > 0
    return found


def is_list_query(statement: str) -> bool:
    return "FROM posts" in statement and "ORDER BY posts.sort_at" in statement


async def measure(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    engine: AsyncEngine,
    tap: QueryTap,
    case: Case,
    requests: int,
    budget_s: float,
) -> Result:
    for _ in range(3):
        warm = await http.get(POSTS, params=case.params, headers=headers)
        if warm.status_code != 200:
            raise RuntimeError(f"{case.name}: {warm.status_code} {warm.text}")
    with tap.capture() as seen:
        answer = await http.get(POSTS, params=case.params, headers=headers)
    body = answer.json()
    [(statement, parameters)] = [one for one in seen if is_list_query(one[0])]
    latencies: list[float] = []
    began = time.perf_counter()
    while len(latencies) < requests:
        started = time.perf_counter()
        response = await http.get(POSTS, params=case.params, headers=headers)
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{case.name}: {response.status_code} {response.text}")
        if time.perf_counter() - began > budget_s and len(latencies) >= 5:
            break
    generic = await went_generic(engine, statement)
    plan = await explain(engine, statement, parameters, generic=generic is True)
    result = Result(
        case=case.name,
        plan_cache={True: "generic", False: "custom", None: "?"}[generic],
        latencies_ms=latencies,
        items=len(body["items"]),
        more=body["next_cursor"] is not None,
        statement=statement,
        parameters=tuple(parameters),
        **plan,
    )
    log(
        f"  {case.name:34} p50 {result.p50:7.1f} ms  p95 {result.p95:7.1f} ms  "
        f"(n={len(latencies)}, {result.items} items)  SQL {result.sql_ms:7.2f} ms, "
        f"{result.buffers:,} buffers, {result.plan_cache} plan  {result.access}"
    )
    return result


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def cursor_at(engine: AsyncEngine, position: int) -> str:
    """The cursor a client holds after reading the first `position` posts."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT sort_at, created_at, id FROM posts "
                    "ORDER BY sort_at, created_at, id OFFSET :skip LIMIT 1"
                ),
                {"skip": position - 1},
            )
        ).one()
    return encode_cursor((row.sort_at, row.created_at, row.id))


async def bench_size(
    database_url: str, size: int, requests: int, budget_s: float, workdir: Path
) -> list[Result]:
    settings = bench_settings(database_url, workdir, "b" * 48, access_token_ttl_s=3600)
    now = datetime.now(UTC).replace(microsecond=0)
    async with seeded_app(settings, size, now) as (app, http, owner):
        engine: AsyncEngine = app.state.runtime.engine
        headers = {"Authorization": f"Bearer {owner.access_token}"}
        brand_ids = owner.tenant.brand_ids
        smallest = str(brand_ids[-1])
        month = {
            "from": rfc3339(now - timedelta(days=365)),
            "to": rfc3339(now - timedelta(days=335)),
        }
        cases = [
            Case("first page", {"limit": 20}),
            Case("first page, limit 100", {"limit": 100}),
            Case(
                "middle page (row N/2)",
                {"limit": 20, "cursor": await cursor_at(engine, size // 2)},
            ),
            Case(
                "deep page (row N-100)",
                {"limit": 20, "cursor": await cursor_at(engine, size - 100)},
            ),
            Case("brand_id (10 % brand)", {"limit": 20, "brand_id": smallest}),
            Case(
                "brand_id + status=scheduled",
                {"limit": 20, "brand_id": smallest, "status": "scheduled"},
            ),
            Case("status=published", {"limit": 20, "status": "published"}),
            Case("status=failed", {"limit": 20, "status": "failed"}),
            Case("status=scheduled", {"limit": 20, "status": "scheduled"}),
            Case("status=draft", {"limit": 20, "status": "draft"}),
            Case("platform=tiktok", {"limit": 20, "platform": "tiktok"}),
            Case("month window (from/to)", {"limit": 20, **month}),
            Case("month window + platform", {"limit": 20, **month, "platform": "tiktok"}),
        ]
        tap = QueryTap(engine)
        log(f"measuring {len(cases)} lists, {requests} requests each")
        results = [
            await measure(http, headers, engine, tap, case, requests, budget_s) for case in cases
        ]
        second = await http.post(
            "/api/v1/organizations", json={"name": "Side project"}, headers=headers
        )
        assert second.status_code == 201, second.text
        log("the owner now belongs to two organizations")
        for case in (cases[0], cases[2], cases[3]):
            two = Case(f"{case.name}, 2 orgs", case.params)
            results.append(await measure(http, headers, engine, tap, two, requests, budget_s))
        organizations = [owner.tenant.organization_id, uuid.UUID(second.json()["id"])]
        await try_proposals(engine, results, organizations)
    return results


# The multi-organization list as one keyset page per organization, merged: each branch walks its
# organization's index in order and stops after a page (PostgreSQL plans a Merge Append).
PER_ORGANIZATION = """
SELECT * FROM (
    (SELECT * FROM posts WHERE organization_id = $1 {after}
     ORDER BY sort_at, created_at, id LIMIT 21)
    UNION ALL
    (SELECT * FROM posts WHERE organization_id = $2 {after}
     ORDER BY sort_at, created_at, id LIMIT 21)
) AS page ORDER BY sort_at, created_at, id LIMIT 21
"""


async def try_proposals(
    engine: AsyncEngine, results: list[Result], organizations: list[uuid.UUID]
) -> None:
    """The plans the slow lists would get with the changes proposed in bench/README.md: an
    index led by (organization_id, status), and one page per organization merged. Run on the
    throwaway database only; T21's schema and queries are unchanged."""
    log("trying the proposed changes (EXPLAIN only, not through the app)")
    by_name = {result.case: result for result in results}
    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(
            text(
                "CREATE INDEX bench_posts_organization_id_status_sort "
                "ON posts (organization_id, status, sort_at, created_at, id)"
            )
        )
        await autocommit.execute(text("ANALYZE posts"))
    for name in ("status=scheduled", "status=draft"):
        before = by_name[name]
        after = await explain(engine, before.statement, before.parameters, generic=False)
        results.append(
            Result(
                case=f"{name}, proposed index",
                latencies_ms=[float("nan")],
                items=before.items,
                more=before.more,
                plan_cache="custom",
                **after,
            )
        )
    middle = by_name["middle page (row N/2), 2 orgs"]
    # The cursor's keys: sort_at and created_at, then the id.
    first = next(i for i, v in enumerate(middle.parameters) if isinstance(v, datetime))
    cursor_values = middle.parameters[first : first + 3]
    for name, after_clause, values in (
        ("first page, 2 orgs", "", tuple(organizations)),
        (
            "middle page (row N/2), 2 orgs",
            "AND (sort_at, created_at, id) > ($3, $4, $5)",
            (*organizations, *cursor_values),
        ),
    ):
        statement = PER_ORGANIZATION.format(after=after_clause)
        plan = await explain(engine, statement, values, generic=False)
        results.append(
            Result(
                case=f"{name}, one page per org merged",
                latencies_ms=[float("nan")],
                items=20,
                more=True,
                plan_cache="custom",
                **plan,
            )
        )
    for result in results[-4:]:
        log(
            f"  {result.case:50} SQL {result.sql_ms:7.2f} ms, {result.buffers:,} buffers  "
            f"{result.access}"
        )


# --- reporting -----------------------------------------------------------------------------------


def short(size: int) -> str:
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000}M"
    if size >= 1000 and size % 1000 == 0:
        return f"{size // 1000}k"
    return str(size)


def ms(value: float, decimals: int) -> str:
    return "—" if math.isnan(value) else f"{value:.{decimals}f} ms"


def report(sizes: list[int], runs: dict[int, list[Result]]) -> None:
    for size in sizes:
        print(f"\n=== {size:,} posts: plans of the posts query ===")
        for result in runs[size]:
            always = (
                result.case.startswith(("first page", "deep page")) or "proposed" in result.case
            )
            always = always or "merged" in result.case
            if always or result.buffers > BUFFERS_WORTH_SHOWING:
                print(f"\n-- {result.case} ({result.plan_cache} plan, {result.buffers:,} buffers)")
                print("\n".join(result.plan))
    columns = ["case"]
    for size in sizes:
        columns += [f"{short(size)} p50", f"{short(size)} p95"]
    for size in sizes:
        columns += [f"{short(size)} SQL", f"{short(size)} buffers"]
    columns.append(f"plan at {short(sizes[-1])}")
    columns.append("plan cache")
    print("\n| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    names = [result.case for result in runs[sizes[0]]]
    for index, name in enumerate(names):
        row = [name]
        for size in sizes:
            one = runs[size][index]
            row += [ms(one.p50, 1), ms(one.p95, 1)]
        for size in sizes:
            one = runs[size][index]
            row += [ms(one.sql_ms, 2), f"{one.buffers:,}"]
        row.append(runs[sizes[-1]][index].access)
        row.append("/".join(runs[size][index].plan_cache for size in sizes))
        print("| " + " | ".join(row) + " |")


async def run(sizes: list[int], server_url: str, requests: int, budget_s: float) -> None:
    runs: dict[int, list[Result]] = {}
    began = time.perf_counter()
    for size in sizes:
        with tempfile.TemporaryDirectory() as workdir:
            async with throwaway_database(server_url) as database_url:
                runs[size] = await bench_size(database_url, size, requests, budget_s, Path(workdir))
    report(sizes, runs)
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,1000000", help="posts per run, comma-separated")
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server (and a database to connect to) where databases may be created",
    )
    parser.add_argument("--requests", type=int, default=50, help="timed requests per list")
    parser.add_argument(
        "--budget", type=float, default=30.0, help="seconds at most per list (at least 5 requests)"
    )
    args = parser.parse_args()
    sizes = [int(part.replace("_", "")) for part in args.sizes.split(",") if part.strip()]
    asyncio.run(run(sizes, args.database_url, args.requests, args.budget))


if __name__ == "__main__":
    main()
