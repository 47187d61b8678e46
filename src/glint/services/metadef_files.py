"""Loading, unloading and exporting metadata definition files (`glint db load-metadefs`).

The operator's equivalent of `glance-manage db load_metadefs / unload_metadefs /
export_metadefs`: each file is one namespace in Glance's JSON format and is
loaded in its own transaction, so one bad file does not stop the others.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from sqlalchemy.orm import Session

from glint.db import metadef_content_repositories as content_repo
from glint.db import metadef_repositories as repo
from glint.db.session import Database
from glint.domain.errors import GlintError
from glint.domain.metadef_documents import contents_from_document, document_of, file_name_for
from glint.domain.metadefs import NamespaceContents
from glint.services.clock import now

log = logging.getLogger(__name__)


class Existing(StrEnum):
    """What loading does with a namespace that is already in the database."""

    SKIP = "skip"            # default: leave it alone
    MERGE = "merge"          # --merge: add what is missing, keep what is there
    PREFER_NEW = "prefer_new"  # --merge --prefer-new: add and replace from the file
    OVERWRITE = "overwrite"  # --merge --overwrite: drop it and load the file


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def default_definitions() -> Traversable:
    """Glint's own definition files, shipped as package data."""
    return resources.files("glint") / "metadefs"


def definition_files(source: Path | Traversable) -> list[Path | Traversable]:
    """The .json files of a folder (sorted), or the file itself."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise FileNotFoundError(f"no such file or folder: {source}")
    return sorted((f for f in source.iterdir() if f.name.endswith(".json") and f.is_file()),
                  key=lambda f: f.name)


def _insert_all(session: Session, namespace_id: int, contents: NamespaceContents) -> None:
    for association in contents.associations:
        repo.resource_type_id(session, association.name, association.created_at, protected=True)
        repo.insert_association(session, namespace_id, association)
    for prop in contents.properties:
        content_repo.insert_property(session, namespace_id, prop)
    for obj in contents.objects:
        content_repo.insert_object(session, namespace_id, obj)
    content_repo.insert_tags(session, namespace_id, contents.tags)


def _merge(session: Session, namespace_id: int, contents: NamespaceContents, *, replace: bool) -> None:
    """Add what the database lacks; with `replace`, also overwrite what it has."""
    if replace:
        repo.save_namespace(session, namespace_id, contents.namespace)
    existing = {a.name for a in repo.associations(session, [namespace_id]).get(namespace_id, [])}
    for association in contents.associations:
        repo.resource_type_id(session, association.name, association.created_at, protected=True)
        if association.name not in existing:
            repo.insert_association(session, namespace_id, association)
        elif replace:
            repo.save_association(session, namespace_id, association)
    for prop in contents.properties:
        if content_repo.get_property(session, namespace_id, prop.name) is None:
            content_repo.insert_property(session, namespace_id, prop)
        elif replace:
            content_repo.save_property(session, namespace_id, prop.name, prop)
    for obj in contents.objects:
        if content_repo.get_object(session, namespace_id, obj.name) is None:
            content_repo.insert_object(session, namespace_id, obj)
        elif replace:
            content_repo.save_object(session, namespace_id, obj.name, obj)
    content_repo.insert_tags(session, namespace_id, [
        tag for tag in contents.tags if content_repo.get_tag(session, namespace_id, tag.name) is None
    ])


def load_one(db: Database, contents: NamespaceContents, existing: Existing) -> bool:
    """Load one namespace; False when it was skipped because it exists."""
    with db.writing() as session:
        row = repo.namespace_row(session, contents.namespace.namespace)
        if row is not None and existing == Existing.OVERWRITE:
            repo.delete_namespace(session, row.id)
            session.flush()
            row = None
        if row is None:
            _insert_all(session, repo.insert_namespace(session, contents.namespace), contents)
            return True
        if existing == Existing.SKIP:
            return False
        contents.namespace.created_at = row.created_at
        _merge(session, row.id, contents, replace=existing == Existing.PREFER_NEW)
        return True


def load_definitions(db: Database, source: Path | Traversable, existing: Existing) -> LoadReport:
    """Load every definition file of `source`; a file that cannot be read or saved
    is logged and reported as failed. Raises FileNotFoundError for a missing source."""
    report = LoadReport()
    for path in definition_files(source):
        try:
            contents = contents_from_document(json.loads(path.read_text(encoding="utf-8")), now())
            loaded = load_one(db, contents, existing)
        except (OSError, ValueError, GlintError) as exc:
            log.error("cannot load %s: %s", path.name, getattr(exc, "message", exc))
            report.failed.append(path.name)
            continue
        (report.loaded if loaded else report.skipped).append(contents.namespace.namespace)
    return report


def unload_definitions(db: Database) -> None:
    """Remove every namespace and resource type."""
    with db.writing() as session:
        repo.delete_everything(session)


def export_definitions(db: Database, target: Path) -> list[Path]:
    """Write one file per namespace into `target` (created if needed); returns the files."""
    with db.reading() as session:
        documents = [document_of(repo.contents(session, row))
                     for row in repo.all_namespace_rows(session)]
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for document in documents:
        name = file_name_for(document["namespace"])
        path, serial = target / name, 2
        while path in written:  # two names that differ only in punctuation
            path = target / f"{name.removesuffix('.json')}-{serial}.json"
            serial += 1
        path.write_text(json.dumps(document, indent=4, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
