"""Replication between image services: glance-replicator's commands over two clients."""
