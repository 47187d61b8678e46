"""Notifications: Glance's event payloads (payloads.py) and their sending (publisher.py)."""
