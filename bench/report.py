"""Turn measured figures into the comparison table (and its rows for results.json)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from common import MB

Results = dict[str, Any]


@dataclass
class Row:
    metric: str
    glance: float | None
    glint: float | None
    ratio: float | None
    target: str
    met: bool | None
    digits: int = 0


def _get(results: Results, side: str, *path: str) -> float | None:
    node: Any = results.get(side)
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) else None


def _ratio(glance: float | None, glint: float | None) -> float | None:
    if glance is None or glint is None or glance == 0:
        return None
    return glint / glance


def _compare(metric: str, path: tuple[str, ...], results: Results, target: str,
             passes: Callable[[float], bool], digits: int = 0,
             scale: float = 1.0) -> Row:
    glance = _get(results, "glance", *path)
    glint = _get(results, "glint", *path)
    glance = None if glance is None else glance / scale
    glint = None if glint is None else glint / scale
    ratio = _ratio(glance, glint)
    return Row(metric, glance, glint, ratio, target,
               None if ratio is None else passes(ratio), digits)


def _absolute(metric: str, path: tuple[str, ...], results: Results, target: str,
              passes: Callable[[float], bool], digits: int = 0, scale: float = 1.0,
              with_ratio: bool = True) -> Row:
    glance = _get(results, "glance", *path)
    glint = _get(results, "glint", *path)
    glance = None if glance is None else glance / scale
    glint = None if glint is None else glint / scale
    ratio = _ratio(glance, glint) if with_ratio else None
    return Row(metric, glance, glint, ratio, target,
               None if glint is None else passes(glint), digits)


def _share(results: Results, side: str) -> float | None:
    """Upload rate over the bare pipeline measured right before that server's upload."""
    rate = _get(results, side, "sqlite", "upload_mb_s")
    limit = _get(results, side, "sqlite", "bare_pipeline_upload_mb_s")
    return None if rate is None or not limit else rate / limit


def _share_of_limit(results: Results) -> Row:
    glance_share, glint_share = _share(results, "glance"), _share(results, "glint")
    return Row("upload / bare-pipeline limit", glance_share, glint_share, None,
               "Glint >= 0.85", None if glint_share is None else glint_share >= 0.85, 2)


def _download_share(results: Results, side: str, rate: str, limit: str) -> float | None:
    """A download rate over the bare sendfile() measured right before that server's
    downloads, with the same client."""
    measured = _get(results, side, "sqlite", rate)
    bare = _get(results, side, "sqlite", limit)
    return None if measured is None or not bare else measured / bare


def _download_share_row(metric: str, results: Results, rate: str, limit: str) -> Row:
    glance_share = _download_share(results, "glance", rate, limit)
    glint_share = _download_share(results, "glint", rate, limit)
    return Row(metric, glance_share, glint_share, None, "Glint >= 0.85",
               None if glint_share is None else glint_share >= 0.85, 2)


def rows(results: Results, size: str, images: int) -> list[Row]:
    table = [
        _compare(f"upload {size} (MB/s)", ("sqlite", "upload_mb_s"), results,
                 ">= 2.0x", lambda r: r >= 2.0),
        _share_of_limit(results),
        _compare(f"download {size} (MB/s)", ("sqlite", "download_mb_s"), results,
                 ">= 1.2x", lambda r: r >= 1.2),
        _download_share_row("download / bare-sendfile limit", results, "download_mb_s",
                            "bare_sendfile_download_mb_s"),
        _compare(f"download {size} via httpx (MB/s)", ("sqlite", "download_httpx_mb_s"),
                 results, ">= 1.2x", lambda r: r >= 1.2),
        _download_share_row("  via httpx / bare-sendfile limit", results,
                            "download_httpx_mb_s", "bare_sendfile_httpx_mb_s"),
        _compare("GET ?limit=20 p50 (ms)", ("sqlite", "limit20_p50_ms"), results,
                 "<= 0.33x", lambda r: r <= 0.33, 2),
        _compare("GET ?limit=20 p99 (ms)", ("sqlite", "limit20_p99_ms"), results,
                 "(none)", lambda r: True, 2),
        _compare(f"full listing of {images:,} (ms)", ("sqlite", "full_listing_ms"), results,
                 "<= 0.33x", lambda r: r <= 0.33, 1),
    ]
    for db in ("sqlite", "mariadb"):
        label = "SQLite" if db == "sqlite" else "MariaDB"
        table.append(_compare(f"16 clients req/s ({label})", (db, "concurrent_rps"), results,
                              ">= 4.0x", lambda r: r >= 4.0, 1))
        table.append(_absolute(f"16 clients errors ({label})", (db, "concurrent_errors"),
                               results, "Glint = 0", lambda v: v == 0, with_ratio=False))
    table.append(_absolute(f"server peak RSS, {size} through (MB)",
                           ("sqlite", "peak_rss_bytes"), results, "Glint < 200",
                           lambda v: v < 200, 0, scale=MB))
    table.append(_compare("  same, as PSS (shared pages once)", ("sqlite", "peak_pss_bytes"),
                          results, "(none)", lambda r: True, 0, scale=MB))
    for row in table:
        if row.target == "(none)":
            row.met = None
    return table


def _cell(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def format_table(table: list[Row]) -> str:
    header = ["metric", "Glance", "Glint", "Glint/Glance", "target", "met"]
    body = [
        [row.metric, _cell(row.glance, row.digits), _cell(row.glint, row.digits),
         _cell(row.ratio, 2), row.target,
         "-" if row.met is None else ("met" if row.met else "NOT MET")]
        for row in table
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.ljust(width) if i in (0, 4, 5) else cell.rjust(width)
                         for i, (cell, width) in enumerate(zip(cells, widths, strict=True)))

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(cells) for cells in body)])


LIMIT_LABELS = {
    "md5_mb_s": "md5 alone, one thread",
    "sha512_mb_s": "sha512 alone, one thread",
    "md5_then_sha512_one_thread_mb_s": "md5 + sha512 in one thread",
    "loopback_tcp_mb_s": "loopback TCP (raw sockets)",
    "disk_write_fdatasync_mb_s": "file write + fdatasync (like dd)",
    "bare_pipeline_upload_mb_s": "bare pipeline upload (the upload limit)",
    "client_upload_ceiling_mb_s": "httpx client upload into a discarding server",
    "client_download_ceiling_mb_s": "download client (stdlib, readinto) from sendfile()",
    "httpx_download_ceiling_mb_s": "httpx client download from sendfile()",
}


def format_limits(limits: dict[str, float]) -> str:
    width = max(len(label) for label in LIMIT_LABELS.values())
    return "\n".join(f"{LIMIT_LABELS.get(key, key).ljust(width)}  {value:8,.0f} MB/s"
                     for key, value in limits.items())


def as_json(table: list[Row]) -> list[dict[str, Any]]:
    return [asdict(row) for row in table]
