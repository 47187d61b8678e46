"""Typed HTTP clients (httpx) for the Images v2 API and Keystone, used by the replicator."""
