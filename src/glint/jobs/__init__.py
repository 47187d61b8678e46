"""Background jobs (scrub, ...): idempotent passes, scheduled by jobs/runner.py."""
