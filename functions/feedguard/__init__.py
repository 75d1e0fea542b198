"""feedguard: watches the packages of software feeds for known vulnerabilities."""

import logging

__version__ = "0.1.0"


def _drop_debug(record: logging.LogRecord) -> bool:
    return record.levelno > logging.DEBUG


# botocore logs whole request and response bodies at DEBUG: Secrets Manager
# values and source tokens among them. Lambda's log-level controls (or a
# DEBUG root logger) would print them, so those two loggers never emit DEBUG,
# whatever level anyone sets.
for _name in ("botocore.endpoint", "botocore.parsers"):
    logging.getLogger(_name).addFilter(_drop_debug)
