"""Deployment settings, read from the environment that template.yaml sets."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Settings:
    admin_key_secret: str
    source_secret_prefix: str
    scan_queue_url: str
    scan_request_queue_url: str
    event_bus_name: str
    allow_http_sources: bool
    allow_private_sources: bool

    @classmethod
    def from_environ(cls) -> Settings:
        return cls(
            admin_key_secret=os.environ.get("ADMIN_KEY_SECRET", "feedguard/admin-key"),
            source_secret_prefix=os.environ.get("SOURCE_SECRET_PREFIX", "feedguard/sources/"),
            scan_queue_url=os.environ.get("SCAN_QUEUE_URL", ""),
            scan_request_queue_url=os.environ.get("SCAN_REQUEST_QUEUE_URL", ""),
            event_bus_name=os.environ.get("EVENT_BUS_NAME", "default"),
            allow_http_sources=os.environ.get("FEEDGUARD_ALLOW_HTTP_SOURCES", "0") == "1",
            # Sources on loopback, link-local or private addresses (the local stack's fake OSS Index)
            allow_private_sources=os.environ.get("FEEDGUARD_ALLOW_PRIVATE_SOURCES", "0") == "1",
        )


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_environ()


def table_name(variable: str) -> str:
    """The table name template.yaml passes in `variable`; a readable default elsewhere."""
    default = "feedguard-" + variable.removesuffix("_TABLE").lower().replace("_", "-")
    return os.environ.get(variable, default)
