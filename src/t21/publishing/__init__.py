"""The publishing engine: every due target goes out once, on time, never twice, never lost.

The database decides everything: the dispatcher claims due targets, a publish job holds one
under a lease and an attempt id, the reaper recovers lost jobs and reconciles attempts that were
cut off. See `service` for the state machine.
"""
