"""The machine's limits, measured in the same run as the comparison (the machine is shared).

All rates are MB/s with 1 MB = 10^6 bytes. Each is the best of `rounds` tries.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from common import MB, log, stop_process, tail
from workload import get_stream, get_stream_lean, put_stream

BLOCK = 4 * 1024 * 1024
BARE_PIPELINE = Path(__file__).resolve().parent / "bare_pipeline.py"


def _best(rounds: int, measure: Callable[[], float]) -> float:
    return max(measure() for _ in range(rounds))


def _hash_rate(names: list[str], total: int) -> float:
    """Hash `total` bytes with every algorithm in `names`, one after the other in one thread."""
    block = memoryview(os.urandom(BLOCK))
    hashers = [hashlib.new(name) for name in names]
    started = time.perf_counter()
    for _ in range(total // BLOCK):
        for hasher in hashers:
            hasher.update(block)
    return total / (time.perf_counter() - started) / MB


def loopback_tcp(total: int) -> float:
    """One TCP connection over 127.0.0.1, 4 MiB sendall into recv_into: no HTTP, no copies."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        received = [0]

        def receive() -> None:
            sock, _ = server.accept()
            buffer = memoryview(bytearray(BLOCK))
            with sock:
                while got := sock.recv_into(buffer):
                    received[0] += got

        reader = threading.Thread(target=receive)
        reader.start()
        block = os.urandom(BLOCK)
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as sender:
            for _ in range(total // BLOCK):
                sender.sendall(block)
        reader.join()
        elapsed = time.perf_counter() - started
    return received[0] / elapsed / MB


def disk_write(folder: Path, total: int) -> float:
    """Like `dd bs=4M conv=fdatasync`: write `total` bytes, fdatasync, count the time of both."""
    path = folder / "dd-test.bin"
    block = os.urandom(BLOCK)
    started = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(total // BLOCK):
            os.write(fd, block)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - started
    path.unlink()
    return total / elapsed / MB


@contextmanager
def bare_server(folder: Path, *extra: str) -> Iterator[str]:
    """Start bare_pipeline.py as a process of its own; yield its base URL."""
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "bare.log"
    with log_path.open("ab") as errors:
        process = subprocess.Popen(
            [sys.executable, str(BARE_PIPELINE), "--dir", str(folder), *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,
            start_new_session=True,
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        if not line.startswith("PORT "):
            raise RuntimeError(f"bare pipeline did not start:\n{tail(log_path)}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        stop_process(process, timeout=5)


def bare_pipeline_upload(folder: Path, payload: Path, md5: str, rounds: int) -> float:
    """The upload limit: the workload's own PUT into the bare pipeline (md5, sha512, write)."""
    def measure() -> float:
        with httpx.Client(timeout=600) as client:
            rate, response = put_stream(client, f"{url}/upload", payload)
        if response.status_code != 204 or response.headers.get("x-checksum-md5") != md5:
            raise RuntimeError(f"bare pipeline answered {response.status_code} {response.headers}")
        return rate

    with bare_server(folder) as url:
        return _best(rounds, measure)


def bare_sendfile_download(folder: Path, payload: Path, rounds: int) -> dict[str, float]:
    """The download limit: both download clients of the workload against a raw socket
    server that answers with one blocking sendfile() of the whole file (no HTTP framework)."""
    with bare_server(folder, "--serve-file", str(payload)) as url:
        def httpx_download() -> float:
            with httpx.Client(timeout=600) as client:
                return get_stream(client, f"{url}/file")[0]

        return {
            "bare_sendfile_download_mb_s": _best(rounds, lambda: get_stream_lean(f"{url}/f")[0]),
            "bare_sendfile_httpx_mb_s": _best(rounds, httpx_download),
        }


def client_ceilings(folder: Path, payload: Path, rounds: int) -> dict[str, float]:
    """What the httpx client itself can push and pull: a server that discards / sendfile()s."""
    with bare_server(folder, "--discard", "--serve-file", str(payload)) as url:
        def upload() -> float:
            with httpx.Client(timeout=600) as client:
                return put_stream(client, f"{url}/discard", payload)[0]

        def download() -> float:
            with httpx.Client(timeout=600) as client:
                return get_stream(client, f"{url}/file")[0]

        return {
            "client_upload_ceiling_mb_s": _best(rounds, upload),
            "client_download_ceiling_mb_s": _best(rounds, lambda: get_stream_lean(f"{url}/f")[0]),
            "httpx_download_ceiling_mb_s": _best(rounds, download),
        }


def measure_all(folder: Path, payload: Path, md5: str, rounds: int) -> dict[str, float]:
    total = payload.stat().st_size
    folder.mkdir(parents=True, exist_ok=True)
    results: dict[str, float] = {}
    steps: list[tuple[str, Callable[[], float]]] = [
        ("md5_mb_s", lambda: _hash_rate(["md5"], total)),
        ("sha512_mb_s", lambda: _hash_rate(["sha512"], total)),
        ("md5_then_sha512_one_thread_mb_s", lambda: _hash_rate(["md5", "sha512"], total)),
        ("loopback_tcp_mb_s", lambda: loopback_tcp(2 * total)),
        ("disk_write_fdatasync_mb_s", lambda: disk_write(folder, total)),
    ]
    for key, measure in steps:
        results[key] = _best(rounds, measure)
        log(f"limit {key} = {results[key]:.0f}")
    results["bare_pipeline_upload_mb_s"] = bare_pipeline_upload(folder, payload, md5, rounds)
    log(f"limit bare_pipeline_upload_mb_s = {results['bare_pipeline_upload_mb_s']:.0f}")
    results.update(client_ceilings(folder, payload, rounds))
    log(f"client ceilings: upload {results['client_upload_ceiling_mb_s']:.0f}, download "
        f"{results['client_download_ceiling_mb_s']:.0f} (httpx "
        f"{results['httpx_download_ceiling_mb_s']:.0f})")
    return results
