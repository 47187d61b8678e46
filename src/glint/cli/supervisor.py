"""The process `glint serve` becomes once its checks pass: uvicorn and its workers.

`glint serve` checks the configuration, database and stores (which needs
SQLAlchemy and Alembic), then replaces itself with this small program so the
long-lived supervisor process does not keep all of that in memory; each worker
imports the application itself.
"""

from __future__ import annotations

import json
import logging
import os
import sys

import uvicorn

SETTINGS_ENVIRONMENT_VARIABLE = "GLINT_SERVE_SETTINGS"
LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s %(message)s"


def main() -> None:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    server = json.loads(os.environ[SETTINGS_ENVIRONMENT_VARIABLE])["server"]
    uvicorn.run(
        "glint.app:app_from_environment",
        factory=True,
        host=server["bind_host"],
        port=server["bind_port"],
        workers=server["workers"],
        access_log=False,
        log_config=None,
        loop="uvloop",
        http="httptools",
        timeout_keep_alive=30,
    )


if __name__ == "__main__":
    main()
