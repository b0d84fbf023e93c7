"""Events out: the event log (an outbox written with every change), its API and live stream."""
