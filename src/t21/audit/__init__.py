"""The audit log: who did what, and when, in each organization."""
