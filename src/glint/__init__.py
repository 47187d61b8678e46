"""Glint: an image service that speaks the OpenStack Image (Glance) v2 API."""
