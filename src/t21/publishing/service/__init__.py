"""The publishing state machine of one target, and the claims that drive it.

    scheduled/retrying ──dispatcher──► queued ──publish job (compare-and-set)──► publishing
    publishing ──outcome under its attempt id──► published | retrying | failed | needs_review

- The dispatcher claims due targets in one transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL,
  `BEGIN IMMEDIATE` on SQLite) and sends a publish job per target after the commit.
- A publish job starts only by moving its target `queued → publishing` with a fresh attempt id
  and a lease: a duplicate delivery finds it no longer queued and does nothing.
- A network still working on what an attempt sent (Instagram processing a reel) answers
  `Continuing`: the target goes back to `retrying`, due again shortly, with the provider's
  progress kept on it (`progress`, tied to the content's fingerprint) for the next attempt to
  resume instead of starting over. No worker waits, and the attempt count is unchanged.
- Nothing is ever re-sent on a doubt. When a request may have taken effect (`Ambiguous`, a
  timeout, a worker that died), the attempt is left to the reaper, which asks the network
  (`find_recent`): found → published; certainly absent → retried; otherwise → needs_review.
"""

from t21.publishing.service.attempt import (
    LEASE_MARGIN,
    Attempt,
    Outcome,
    attempt_outcome,
    content_fingerprint,
    resumable,
)
from t21.publishing.service.batch import (
    HAND_BACK_PAUSE_S,
    PUBLISH_BATCH_JOB,
    RECORD_TRIES,
    WAITING_JOBS_MAX,
    AttemptSlots,
    publish,
    publish_batch,
)
from t21.publishing.service.claim import (
    DISABLE_CLAIM_CAS_ENV,
    Pipeline,
    TakenFrontier,
    begin,
    begin_batch,
    claim_due,
    sample_pipeline,
    taken_frontier,
)
from t21.publishing.service.record import RECONCILE_AFTER, record, record_batch

__all__ = [
    "DISABLE_CLAIM_CAS_ENV",
    "HAND_BACK_PAUSE_S",
    "LEASE_MARGIN",
    "PUBLISH_BATCH_JOB",
    "RECONCILE_AFTER",
    "RECORD_TRIES",
    "WAITING_JOBS_MAX",
    "Attempt",
    "AttemptSlots",
    "Outcome",
    "Pipeline",
    "TakenFrontier",
    "attempt_outcome",
    "begin",
    "begin_batch",
    "claim_due",
    "content_fingerprint",
    "publish",
    "publish_batch",
    "record",
    "record_batch",
    "resumable",
    "sample_pipeline",
    "taken_frontier",
]
