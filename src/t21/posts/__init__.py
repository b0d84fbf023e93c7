"""Posts: what a brand publishes, to which of its accounts and when; and reusable templates."""
