"""When a data write, or an import task, counts as abandoned by its process."""

from __future__ import annotations

from datetime import datetime, timedelta

from glint.domain.task import Task, TaskStatus, TaskType
from glint.domain.writes import DataWrite, WriteKind, abandoned
from glint.services.imports.recovery import abandoned_task

NOW = datetime(2030, 1, 1, 12, 0, 0)


def write(touched_ago: float) -> DataWrite:
    touched = NOW - timedelta(seconds=touched_ago)
    return DataWrite(token="t", image_id="i", owner="o", kind=WriteKind.UPLOAD, store="file",
                     started_at=touched, touched_at=touched)


def seconds_ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def test_a_write_of_a_live_owner_is_kept() -> None:
    assert not abandoned(write(60), owner_dead_since=None, now=NOW)


def test_a_write_is_abandoned_once_its_owner_is_dead_for_a_while() -> None:
    assert not abandoned(write(60), owner_dead_since=seconds_ago(1), now=NOW)
    assert abandoned(write(60), owner_dead_since=seconds_ago(4), now=NOW)


def test_a_write_touched_just_now_is_left_to_publish() -> None:
    assert not abandoned(write(2), owner_dead_since=seconds_ago(60), now=NOW)
    assert abandoned(write(5), owner_dead_since=seconds_ago(60), now=NOW)


def test_a_silent_write_is_abandoned_whatever_the_lock_says() -> None:
    assert abandoned(write(600), owner_dead_since=None, now=NOW)
    assert not abandoned(write(590), owner_dead_since=None, now=NOW)


def task(status: TaskStatus, updated_ago: float, worker: str | None = "w") -> Task:
    return Task(id="t", type=TaskType.API_IMAGE_IMPORT, status=status, owner="p",
                created_at=NOW, updated_at=seconds_ago(updated_ago), worker=worker)


def test_a_task_of_a_dead_worker_is_taken_over_at_once() -> None:
    running = task(TaskStatus.PROCESSING, 1)
    assert not abandoned_task(running, worker_dead_since=seconds_ago(1), when=NOW)
    assert abandoned_task(running, worker_dead_since=seconds_ago(4), when=NOW)
    assert abandoned_task(task(TaskStatus.PENDING, 1), worker_dead_since=seconds_ago(4),
                          when=NOW)


def test_silent_tasks_are_taken_over_whoever_runs_them() -> None:
    assert not abandoned_task(task(TaskStatus.PROCESSING, 100), worker_dead_since=None, when=NOW)
    assert abandoned_task(task(TaskStatus.PROCESSING, 121), worker_dead_since=None, when=NOW)
    assert abandoned_task(task(TaskStatus.PROCESSING, 121, worker=None), worker_dead_since=None,
                          when=NOW)
    assert not abandoned_task(task(TaskStatus.PENDING, 20), worker_dead_since=None, when=NOW)
    assert abandoned_task(task(TaskStatus.PENDING, 31), worker_dead_since=None, when=NOW)
