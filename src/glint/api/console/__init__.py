"""The web console at /console: static pages that use the public API through
a thin forward carrying the session's token (see middleware.py)."""
