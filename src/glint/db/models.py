"""SQLAlchemy models: the schema Alembic migrations create (and the only
place it is described in Python)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# MySQL's DATETIME drops fractions of a second unless asked; ordering by
# creation time needs them.
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ImageRow(Base):
    __tablename__ = "images"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    disk_format: Mapped[str | None] = mapped_column(String(20))
    container_format: Mapped[str | None] = mapped_column(String(20))
    size: Mapped[int | None] = mapped_column(BigInteger)
    virtual_size: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(30))
    visibility: Mapped[str] = mapped_column(String(20))
    checksum: Mapped[str | None] = mapped_column(String(32))
    os_hash_algo: Mapped[str | None] = mapped_column(String(64))
    os_hash_value: Mapped[str | None] = mapped_column(String(128))
    min_disk: Mapped[int] = mapped_column(Integer, default=0)
    min_ram: Mapped[int] = mapped_column(Integer, default=0)
    owner: Mapped[str | None] = mapped_column(String(255))
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    os_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(Timestamp)

    # Each listing walks one of these in its sort order and stops after a page
    # (db/listing_sql.py), whatever the number of images: live images newest
    # first, or by name (also a name filter); a project's own images and the
    # images of one visibility newest first (non-admin listings, visibility filter).
    __table_args__ = (
        Index(None, "deleted", "created_at", "id"),
        Index(None, "deleted", "name", "created_at", "id"),
        Index(None, "owner", "deleted", "created_at", "id"),
        Index(None, "visibility", "deleted", "created_at", "id"),
        Index(None, "status"),
        Index(None, "checksum"),
        Index(None, "os_hash_value"),
    )


class ImagePropertyRow(Base):
    __tablename__ = "image_properties"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("image_id", "name"), Index(None, "name"))


class ImageTagRow(Base):
    __tablename__ = "image_tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id"), index=True)
    value: Mapped[str] = mapped_column(String(255))

    # (value, image_id): the images with a tag, from the index alone.
    __table_args__ = (UniqueConstraint("image_id", "value"), Index(None, "value", "image_id"))


class ImageMemberRow(Base):
    __tablename__ = "image_members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id"), index=True)
    member: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (UniqueConstraint("image_id", "member"), Index(None, "member", "status"))


class ImageLocationRow(Base):
    __tablename__ = "image_locations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("images.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    store: Mapped[str] = mapped_column(String(255))
    meta_data: Mapped[str] = mapped_column(Text, default="{}")
    position: Mapped[int] = mapped_column(Integer, default=0)



class ImageCopyCheckRow(Base):
    """The integrity auditor's last verdict on one copy of an image's data
    (glint.jobs.audit): "good", "mismatch" or "unreadable", with what differed.

    Keyed by the image and its location URL; the URL is kept in full, and its
    SHA-256 (`url_digest`) is the key, since a URL is too long for a MySQL key.
    Downloads skip a copy whose verdict is not good (one indexed query on
    `image_id`, the key's first column); a later good verdict clears it.
    """

    __tablename__ = "image_copy_checks"

    image_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    store: Mapped[str] = mapped_column(String(255))
    verdict: Mapped[str] = mapped_column(String(20))
    # JSON list of what differed ("size: ...", "checksum: ...") or why it could not be read.
    differences: Mapped[str] = mapped_column(Text, default="[]")
    checked_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (Index(None, "verdict", "checked_at"),)


class AuditCursorRow(Base):
    """Where an unfinished audit pass stopped, per scope ("all" or "store:NAME"):
    the last image whose copies were all checked (images go in id order). The
    row is removed when the pass ends, so the next pass starts from the top."""

    __tablename__ = "audit_cursors"

    scope: Mapped[str] = mapped_column(String(300), primary_key=True)
    last_image_id: Mapped[str] = mapped_column(String(36))
    started_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)

# Metadata definitions (metadefs) -------------------------------------------
# Child rows keep an integer id so definitions come back in the order they
# were written (export and the namespace document rely on it).


class MetadefNamespaceRow(Base):
    __tablename__ = "metadef_namespaces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(32))
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    # Nullable, unlike Glance: an unauthenticated caller has no project.
    owner: Mapped[str | None] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class MetadefObjectRow(Base):
    __tablename__ = "metadef_objects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("metadef_namespaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(Text)
    # JSON documents: a list of names and a {name: definition} object.
    required: Mapped[str | None] = mapped_column(Text)
    json_schema: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (UniqueConstraint("namespace_id", "name"),)


class MetadefPropertyRow(Base):
    __tablename__ = "metadef_properties"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("metadef_namespaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    json_schema: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (UniqueConstraint("namespace_id", "name"),)


class MetadefTagRow(Base):
    __tablename__ = "metadef_tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("metadef_namespaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (UniqueConstraint("namespace_id", "name"),)


class MetadefResourceTypeRow(Base):
    __tablename__ = "metadef_resource_types"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class MetadefAssociationRow(Base):
    """A namespace applied to a resource type (Glance's metadef_namespace_resource_types)."""

    __tablename__ = "metadef_namespace_resource_types"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("metadef_namespaces.id"), index=True)
    resource_type_id: Mapped[int] = mapped_column(
        ForeignKey("metadef_resource_types.id"), index=True
    )
    prefix: Mapped[str | None] = mapped_column(String(80))
    properties_target: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (UniqueConstraint("namespace_id", "resource_type_id"),)


class TaskRow(Base):
    """An asynchronous task (Glance's tasks + task_info): image imports run as
    `api_image_import` tasks whose state lives here, so any worker can pick
    one up again after a restart."""

    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(30))
    owner: Mapped[str | None] = mapped_column(String(255))
    image_id: Mapped[str | None] = mapped_column(String(36))
    # JSON documents.
    input: Mapped[str] = mapped_column(Text, default="{}")
    result: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(255))
    # The owner id (glint.db.ownership) of the worker process running the task.
    worker: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(Timestamp)

    __table_args__ = (
        Index(None, "image_id"),
        Index(None, "status", "updated_at"),
        Index(None, "owner", "deleted"),
    )


class ImageWriteRow(Base):
    """A data write in progress for an image: an upload to a store or a stage.

    Inserted in the transaction that moves the image to saving (uploading),
    removed in the one that ends the write; `owner` is the owner id
    (glint.db.ownership) of the process writing, so a write whose process
    died is found and undone (glint.services.recovery). `token` tells this
    write from any later one of the same image.
    """

    __tablename__ = "image_writes"

    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    image_id: Mapped[str] = mapped_column(String(36), index=True)
    owner: Mapped[str] = mapped_column(String(255))
    # "upload" (to `store`) or "stage" (to the staging area).
    kind: Mapped[str] = mapped_column(String(20))
    store: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(Timestamp)
    touched_at: Mapped[datetime] = mapped_column(Timestamp)


class ConsoleSessionRow(Base):
    """A web console session (glint.services.console_sessions).

    `id` is a digest of the secret in the browser's cookie, never the secret
    itself; `sealed_token` is the Keystone token encrypted with a key derived
    from that secret, so neither the database nor the cookie alone yields it.
    """

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    csrf: Mapped[str] = mapped_column(String(64))
    sealed_token: Mapped[str | None] = mapped_column(Text)
    user_name: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(255))
    project_name: Mapped[str | None] = mapped_column(String(255))
    project_id: Mapped[str | None] = mapped_column(String(255))
    roles: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    expires_at: Mapped[datetime] = mapped_column(Timestamp, index=True)


class QuotaReservationRow(Base):
    """Bytes an upload, stage, import or copy in flight holds against its project's
    storage quota (glint.services.quotas), so parallel writes cannot together pass
    it. Removed in the transaction that records the data on the image, or when
    the write fails; `owner` (glint.db.ownership) lets crash recovery remove the
    reservations of a process that died.
    """

    __tablename__ = "quota_reservations"

    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    project: Mapped[str] = mapped_column(String(255), index=True)
    image_id: Mapped[str] = mapped_column(String(36))
    owner: Mapped[str] = mapped_column(String(255), index=True)
    # "upload", "stage", "import" or "copy": staging space is counted apart.
    kind: Mapped[str] = mapped_column(String(20))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class QuotaLockRow(Base):
    """One row per project, locked (SELECT ... FOR UPDATE) while its usage is
    summed and a reservation taken, so two servers never both grant the last bytes."""

    __tablename__ = "quota_locks"

    project: Mapped[str] = mapped_column(String(255), primary_key=True)


class CacheNodeRow(Base):
    """A node running the image cache: `node` is its worker_self_reference_url
    (or host name). Its row is locked while the node admits an entry, so the
    node's entries never add up past image_cache_max_size."""

    __tablename__ = "cache_nodes"

    node: Mapped[str] = mapped_column(String(255), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp)


class CachedImageRow(Base):
    """One image in one node's cache (glint.services.image_cache).

    `state` is "filling" while the data is on its way (the row reserves its
    size) and "ready" once the file is complete and verified; `checksum` is
    the image's os_hash_value (or md5 checksum) the file was verified
    against, so an entry never serves data the image no longer has.
    `signature` is the file's inode, size, modification and change times when
    it was verified: a file changed on disk since no longer matches it.
    """

    __tablename__ = "cached_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node: Mapped[str] = mapped_column(String(255))
    image_id: Mapped[str] = mapped_column(String(36), index=True)
    state: Mapped[str] = mapped_column(String(20))
    size: Mapped[int] = mapped_column(BigInteger)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    checksum: Mapped[str] = mapped_column(String(128))
    signature: Mapped[str | None] = mapped_column(String(255))
    last_accessed: Mapped[datetime] = mapped_column(Timestamp)
    last_modified: Mapped[datetime] = mapped_column(Timestamp)

    __table_args__ = (UniqueConstraint("node", "image_id"),)


class CacheQueueRow(Base):
    """An image queued (PUT /v2/cache/{id}) for one node's prefetcher."""

    __tablename__ = "cache_queue"

    node: Mapped[str] = mapped_column(String(255), primary_key=True)
    image_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    queued_at: Mapped[datetime] = mapped_column(Timestamp)
