"""Image properties checked against the metadata definitions (a Glint option).

With `[DEFAULT] validate_image_properties_with_metadefs = true`, image
create and update refuse (400) property values that break the definitions of
namespaces associated with OS::Glance::Image, under that association's
prefix. Properties nobody defined are left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from glint.db import metadef_repositories as repo
from glint.domain.metadef_validation import check_value
from glint.domain.metadefs import IMAGE_RESOURCE_TYPE


def image_definitions(session: Session) -> dict[str, list[dict[str, Any]]]:
    """Every definition that applies to an image property, by full property name."""
    found: dict[str, list[dict[str, Any]]] = {}
    for prefix, contents in repo.definitions_for(session, IMAGE_RESOURCE_TYPE):
        lead = prefix or ""
        for prop in contents.properties:
            found.setdefault(lead + prop.name, []).append(prop.definition)
        for obj in contents.objects:
            for name, definition in obj.properties.items():
                if isinstance(definition, dict):
                    found.setdefault(lead + name, []).append(definition)
    return found


def check_image_properties(
    session: Session, enabled: bool, properties: Mapping[str, str],
    only: Iterable[str] | None = None,
) -> None:
    """Raise InvalidInput for the first property (of `only`, if given) whose value
    breaks a definition; does nothing unless `enabled`
    (`validate_image_properties_with_metadefs`)."""
    if not enabled:
        return
    names = set(properties) if only is None else set(only) & set(properties)
    if not names:
        return
    definitions = image_definitions(session)
    for name in sorted(names):
        for definition in definitions.get(name, []):
            check_value(name, properties[name], definition)
