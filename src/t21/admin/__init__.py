"""The operator console at /admin: T21's staff look after every organization from here."""
