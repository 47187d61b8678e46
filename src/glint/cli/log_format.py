"""The log line of every Glint process: the CLI, the server's supervisor and its workers."""

LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s %(message)s"
