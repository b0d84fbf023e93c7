"""Outgoing webhooks: endpoints per organization, signed deliveries of events, retried from the
database, with a log of every attempt."""
