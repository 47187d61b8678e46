"""The image cache's rules: what may be served, what admission evicts."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from glint.domain.cache import (
    CacheEntry,
    ClearTarget,
    EntryState,
    cacheable,
    clear_target,
    evictions,
    expected_digest,
    glance_entry,
    prune_order,
    serves,
)
from glint.domain.context import RequestContext
from glint.domain.errors import InvalidInput
from glint.domain.image import Image, ImageStatus, Visibility
from glint.domain.policy import Target
from glint.services.authorization import build_policy
from glint.settings import PolicySettings

T0 = datetime(2026, 1, 1)


def _image(**changes: object) -> Image:
    values: dict[str, object] = dict(
        id="i1", status=ImageStatus.ACTIVE, visibility=Visibility.PRIVATE, created_at=T0,
        updated_at=T0, size=10, checksum="md5sum", os_hash_algo="sha512", os_hash_value="h1")
    values.update(changes)
    return Image(**values)  # type: ignore[arg-type]


def _entry(image_id: str = "i1", size: int = 10, age: int = 0,
           state: EntryState = EntryState.READY, checksum: str = "h1",
           signature: str | None = "sig") -> CacheEntry:
    moment = T0 + timedelta(seconds=age)
    return CacheEntry(node="n", image_id=image_id, state=state, size=size, hits=0,
                      checksum=checksum, signature=signature, last_accessed=moment,
                      last_modified=moment)


def test_digest_prefers_the_multihash_and_falls_back_to_md5() -> None:
    assert expected_digest(_image()) == expected_digest(_image(checksum=None))
    assert expected_digest(_image()).value == "h1"  # type: ignore[union-attr]
    fallback = expected_digest(_image(os_hash_algo=None, os_hash_value=None))
    assert fallback is not None and (fallback.algorithm, fallback.value) == ("md5", "md5sum")
    assert expected_digest(_image(os_hash_value=None, checksum=None)) is None


@pytest.mark.parametrize("changes", [
    {"status": ImageStatus.DEACTIVATED}, {"status": ImageStatus.QUEUED}, {"size": None},
    {"size": 101}, {"os_hash_value": None, "checksum": None},
])
def test_not_cacheable(changes: dict[str, object]) -> None:
    assert cacheable(_image(**changes), max_size=100) is None


def test_cacheable_up_to_the_whole_cache() -> None:
    assert cacheable(_image(size=100), max_size=100) is not None


def test_served_only_when_ready_current_and_untouched() -> None:
    image = _image()
    assert serves(_entry(), image, "sig")
    assert not serves(None, image, "sig")
    assert not serves(_entry(state=EntryState.FILLING), image, "sig")
    assert not serves(_entry(), image, "other")  # the file changed on disk
    assert not serves(_entry(), image, None)
    assert not serves(_entry(checksum="old"), image, "sig")  # the image has new data
    assert not serves(_entry(size=9), image, "sig")
    assert not serves(_entry(), _image(status=ImageStatus.DEACTIVATED), "sig")


def test_evictions_take_least_recently_used_first() -> None:
    entries = [_entry("new", 40, age=30), _entry("old", 40, age=10), _entry("mid", 10, age=20)]
    chosen = evictions(entries, needed=30, max_size=100)
    assert [e.image_id for e in chosen or []] == ["old"]
    chosen = evictions(entries, needed=100, max_size=100)
    assert [e.image_id for e in chosen or []] == ["old", "mid", "new"]
    assert evictions(entries, needed=5, max_size=100) == []


def test_filling_entries_hold_their_space() -> None:
    entries = [_entry("filling", 90, state=EntryState.FILLING), _entry("ready", 5)]
    assert evictions(entries, needed=20, max_size=100) is None
    assert evictions(entries, needed=101, max_size=1000) == []
    assert evictions([], needed=101, max_size=100) is None


def test_prune_order_fits_the_maximum() -> None:
    entries = [_entry("a", 60, age=1), _entry("b", 60, age=2)]
    assert [e.image_id for e in prune_order(entries, 100)] == ["a"]
    assert [e.image_id for e in prune_order(entries, 0)] == ["a", "b"]


@pytest.mark.parametrize("header,target", [
    (None, ClearTarget.BOTH), ("", ClearTarget.BOTH), ("cache", ClearTarget.CACHE),
    ("Queue", ClearTarget.QUEUE),
])
def test_clear_target(header: str | None, target: ClearTarget) -> None:
    assert clear_target(header) == target


def test_bad_clear_target() -> None:
    with pytest.raises(InvalidInput):
        clear_target("everything")


def test_glance_entry_fields() -> None:
    shown = glance_entry(_entry(age=5))
    assert set(shown) == {"image_id", "hits", "last_accessed", "last_modified", "size"}
    # Stored times are naive UTC: 2026-01-01T00:00:05Z, whatever the local zone.
    assert shown["last_accessed"] == 1_767_225_605.0


CACHE_RULES = ("cache_list", "cache_image", "cache_delete", "cache_clean", "cache_prune",
               "list_cached_nodes")


def test_cache_rules_default_to_admin_and_can_be_opened(tmp_path: Path) -> None:
    admin = RequestContext(request_id="r", project_id="p", roles=frozenset({"admin"}),
                           is_admin=True)
    member = RequestContext(request_id="r", project_id="p", roles=frozenset({"member"}))
    defaults = build_policy(PolicySettings())
    for rule in CACHE_RULES:
        assert defaults.allows(rule, admin, Target())
        assert not defaults.allows(rule, member, Target())
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"cache_list": "role:member"\n')
    opened = build_policy(PolicySettings(policy_file=policy_file))
    assert opened.allows("cache_list", member, Target())
    assert not opened.allows("cache_prune", member, Target())
