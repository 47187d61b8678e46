"""Interoperable image import (stage, then import as a background task); see
`service` for how a task runs and the modules beside it for its steps."""

from glint.services.imports.service import ImportServices

__all__ = ["ImportServices"]
