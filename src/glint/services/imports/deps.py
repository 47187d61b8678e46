"""What the steps of an import use, and no more: the steps never see the
ImportServices that runs them."""

from __future__ import annotations

from dataclasses import dataclass, field

from glint.db.session import Database
from glint.domain.image import Image
from glint.domain.import_filter import ImportFilter, Resolver
from glint.events.publisher import Publisher
from glint.services.ingest import IngestRules, QuotaMeter, format_check
from glint.services.quotas import Quotas
from glint.services.staging import Staging
from glint.settings import FormatSettings, ImportSettings, NotificationSettings, UploadSettings
from glint.stores.registry import StoreRegistry


@dataclass(frozen=True)
class ImportDeps:
    db: Database
    staging: Staging
    stores: StoreRegistry
    settings: ImportSettings
    upload: UploadSettings
    formats: FormatSettings
    # This worker's owner id, recorded on the tasks it runs.
    owner: str
    # `[import_filtering_opts]` and the resolver its checks use.
    uri_filter: ImportFilter
    resolve: Resolver
    # Storage quotas: a copy task holds a reservation (glint.services.quotas).
    quotas: Quotas
    # Notifications, emitted after each change is committed (glint.events).
    events: Publisher = field(default_factory=lambda: Publisher(NotificationSettings()))

    def staged_data_rules(self, image: Image, quota: QuotaMeter | None = None) -> IngestRules:
        """How downloaded data is staged: hashed, capped, inspected if bare, held
        to the import's quota reservation (if any)."""
        return IngestRules(size_cap=self.upload.image_size_cap,
                           algorithm=self.upload.hashing_algorithm,
                           formats=format_check(image, self.formats), quota=quota)
