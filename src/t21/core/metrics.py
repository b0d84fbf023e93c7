"""Prometheus metrics of one process, served at `/metrics` (API) or the worker's ops port."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

HTTP_REQUESTS = Counter(
    "t21_http_requests",
    "HTTP requests answered, by route template and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "t21_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
HTTP_IN_FLIGHT = Gauge(
    "t21_http_requests_in_flight", "HTTP requests being answered.", registry=REGISTRY
)

JOBS_SENT = Counter("t21_jobs_sent", "Jobs handed to the broker.", ["job"], registry=REGISTRY)
JOB_RUNS = Counter(
    "t21_job_runs", "Job executions, by outcome (ok, error).", ["job", "outcome"], registry=REGISTRY
)
JOB_DURATION = Histogram(
    "t21_job_duration_seconds",
    "Time a job took to run.",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    registry=REGISTRY,
)

LOOP_ITERATIONS = Counter(
    "t21_loop_iterations",
    "Iterations of a periodic loop, by outcome (ok, error).",
    ["loop", "outcome"],
    registry=REGISTRY,
)
LOOP_ITEMS = Counter(
    "t21_loop_items", "Items a periodic loop handled.", ["loop"], registry=REGISTRY
)
LOOP_DURATION = Histogram(
    "t21_loop_iteration_duration_seconds",
    "Time one iteration of a periodic loop took.",
    ["loop"],
    registry=REGISTRY,
)
LOOP_LAST_SUCCESS = Gauge(
    "t21_loop_last_success_timestamp_seconds",
    "When a periodic loop last completed an iteration (alert when it falls behind).",
    ["loop"],
    registry=REGISTRY,
)

EMAILS = Counter(
    "t21_emails", "Email delivery attempts, by outcome.", ["backend", "outcome"], registry=REGISTRY
)

WEBHOOK_DELIVERIES = Counter(
    "t21_webhook_deliveries",
    "Webhook delivery attempts and outcomes (succeeded, failed_attempt, given_up).",
    ["outcome"],
    registry=REGISTRY,
)
PUBLISH_OUTCOMES = Counter(
    "t21_publish_outcomes",
    "Publishing attempts, by network and outcome (published, retrying, failed, reauth, "
    "unconfirmed, deferred, continuing).",
    ["platform", "outcome"],
    registry=REGISTRY,
)
PUBLISH_LATENCY = Histogram(
    "t21_publish_latency_seconds",
    "From the time a target was due to the time it was published.",
    ["platform"],
    buckets=(0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
    registry=REGISTRY,
)
REAPER_ACTIONS = Counter(
    "t21_reaper_actions",
    "What the reaper did: requeued (a lost job), reconciled (found, absent, unknown).",
    ["action"],
    registry=REGISTRY,
)
TARGETS_BY_STATUS = Gauge(
    "t21_post_targets",
    "Targets waiting in the publishing pipeline, by status (sampled by the dispatcher).",
    ["status"],
    registry=REGISTRY,
)
DUE_UNCLAIMED = Gauge(
    "t21_post_targets_due_unclaimed",
    "Targets due now that no dispatcher has claimed yet (sampled by the dispatcher).",
    registry=REGISTRY,
)
BROKER_CONSUMER_UP = Gauge(
    "t21_broker_consumer_up",
    "1 while this process's job consumer reads the Redis stream, 0 while it waits for the broker.",
    registry=REGISTRY,
)
BROKER_CONSUMER_ERRORS = Counter(
    "t21_broker_consumer_errors",
    "Broker errors met by the job consumer (each retried), by error class.",
    ["error"],
    registry=REGISTRY,
)
BROKER_CONSUMER_RECOVERIES = Counter(
    "t21_broker_consumer_recoveries",
    "Times the job consumer read the broker again after a fault.",
    registry=REGISTRY,
)
BROKER_CLAIMED = Counter(
    "t21_broker_claimed",
    "Pending jobs of dead or stalled consumers claimed back (XAUTOCLAIM).",
    registry=REGISTRY,
)
BROKER_TRIMMED = Counter(
    "t21_broker_trimmed",
    "Entries the group was done with, trimmed from the jobs stream.",
    registry=REGISTRY,
)


def render() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
