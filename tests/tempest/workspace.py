"""OpenStack's Tempest (47, from PyPI) in a virtual environment of its own,
tests/.tempest (git-ignored, installed on first use: its pins must not meet
Glint's), a workspace with a tempest.conf for one Keystone and one image
service, and the results of a run read from stestr's subunit stream."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.servers import REPO

TEMPEST_VENV = REPO / "tests" / ".tempest"
TEMPEST_REQUIREMENTS = ["tempest==47.0.0"]
# Reads a subunit v2 stream on stdin and prints one JSON line per test:
# its id, its status and, for a skip, the reason (for a failure, the end of
# its traceback). Runs in Tempest's venv, which has python-subunit and testtools.
RESULTS_SCRIPT = """
import json, sys
import subunit, testtools
def record(test):
    detail = test["details"].get("reason") or test["details"].get("traceback")
    print(json.dumps({"id": test["id"], "status": test["status"],
                      "reason": detail.as_text()[-3000:] if detail is not None else ""}))
stream = subunit.ByteStreamToStreamResult(sys.stdin.buffer, non_subunit_name="stdout")
result = testtools.StreamToDict(record)
result.startTestRun()
stream.run(result)
result.stopTestRun()
"""


def ensure_tempest_installed() -> Path:
    """Tempest's bin folder, installing it into tests/.tempest first if needed."""
    stamp = TEMPEST_VENV / ".installed"
    if stamp.exists() and stamp.read_text().split() == TEMPEST_REQUIREMENTS:
        return TEMPEST_VENV / "bin"
    shutil.rmtree(TEMPEST_VENV, ignore_errors=True)
    subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(TEMPEST_VENV)],
                   check=True)
    subprocess.run([str(TEMPEST_VENV / "bin" / "pip"), "install", "-q",
                    *TEMPEST_REQUIREMENTS], check=True, stdin=subprocess.DEVNULL, timeout=1200)
    stamp.write_text(" ".join(TEMPEST_REQUIREMENTS) + "\n")
    return TEMPEST_VENV / "bin"


@dataclass(frozen=True)
class Cloud:
    """What tempest.conf says about the cloud under test."""

    keystone_url: str
    admin_password: str
    region: str
    http_image: str
    http_qcow2_image: str
    hashing_algorithm: str


def tempest_conf(cloud: Cloud, log_file: Path) -> str:
    """tempest.conf for an image service alone behind Keystone: Nova, Cinder,
    Neutron and Swift absent (their tests skip themselves), one region."""
    sections: dict[str, dict[str, object]] = {
        "DEFAULT": {"log_file": log_file, "debug": True},
        "auth": {"admin_username": "admin", "admin_password": cloud.admin_password,
                 "admin_project_name": "admin", "admin_domain_name": "Default",
                 "use_dynamic_credentials": True, "create_isolated_networks": False},
        "identity": {"uri_v3": f"{cloud.keystone_url}/v3", "auth_version": "v3",
                     "region": cloud.region, "disable_ssl_certificate_validation": True},
        "identity-feature-enabled": {"api_v2": False},
        "enforce_scope": {"glance": True},
        "service_available": {"glance": True, "nova": False, "cinder": False,
                              "neutron": False, "swift": False},
        "image": {"region": cloud.region, "http_image": cloud.http_image,
                  "http_qcow2_image": cloud.http_qcow2_image,
                  "hashing_algorithm": cloud.hashing_algorithm,
                  "image_caching_enabled": False, "build_timeout": 120},
        "image-feature-enabled": {"api_v2": True, "api_v1": False, "import_image": True,
                                  "os_glance_reserved": True, "manage_locations": True,
                                  "http_store_enabled": True, "do_secure_hash": True,
                                  # ListUserImagesTest uploads random bytes as qcow2,
                                  # vhd, ami…: the image service must let it (below).
                                  "image_format_enforcement": False,
                                  "image_conversion": False},
    }
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {value}" for key, value in values.items())
        lines.append("")
    return "\n".join(lines)


def init_workspace(bin_dir: Path, folder: Path, conf: str) -> Path:
    """`tempest init` in `folder` (registered in a workspace file inside it,
    not in ~/.tempest) with `conf` as its etc/tempest.conf."""
    workdir = folder / "workspace"
    subprocess.run([str(bin_dir / "tempest"), "init", "--workspace-path",
                    str(folder / "workspaces.yaml"), str(workdir)],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=300)
    (workdir / "etc" / "tempest.conf").write_text(conf)
    return workdir


@dataclass(frozen=True)
class Outcome:
    test_id: str
    status: str
    # Why it was skipped, or the end of its traceback if it failed.
    reason: str

    @property
    def name(self) -> str:
        """The id without Tempest's `[id-…,smoke]` attributes."""
        return self.test_id.split("[", 1)[0]


def run_tempest(bin_dir: Path, workdir: Path, regex: str, exclude: str,
                timeout: float) -> tuple[subprocess.CompletedProcess[str], list[Outcome]]:
    """`tempest run` in the workspace, then every test's outcome from its stestr repository."""
    env = {**os.environ, "OS_TEST_TIMEOUT": "300"}
    for name in list(env):
        if name.startswith("OS_") and name != "OS_TEST_TIMEOUT":
            env.pop(name)  # an operator's openrc must not leak into the run
    run = subprocess.run([str(bin_dir / "tempest"), "run", "--regex", regex,
                          "--exclude-regex", exclude, "--concurrency", "2"],
                         cwd=workdir, env=env, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=timeout)
    stream = subprocess.run([str(bin_dir / "stestr"), "last", "--subunit"], cwd=workdir,
                            capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
    parsed = subprocess.run([str(bin_dir / "python"), "-c", RESULTS_SCRIPT],
                            input=stream.stdout, capture_output=True, timeout=120, check=True)
    outcomes = [Outcome(item["id"], item["status"], item["reason"])
                for item in map(json.loads, parsed.stdout.decode().splitlines())]
    return run, outcomes
