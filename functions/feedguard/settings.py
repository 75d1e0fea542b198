"""Deployment settings, read from the environment that template.yaml sets.

Nothing here has a default: a deployment whose environment lacks a value
fails, naming the variable, instead of writing to a table, queue or bus of
a guessed name. Table names are read when feedguard.dal.models is imported;
each handler module names the other settings its function needs
(`settings().require(...)`), so those fail at its cold start too; any other
is read, and checked, on first use.
"""

from __future__ import annotations

import os
from functools import cached_property, lru_cache
from typing import ClassVar


class MissingSetting(RuntimeError):
    """The function's environment lacks a variable template.yaml sets."""


def required(variable: str) -> str:
    """The value of `variable`; MissingSetting if it is unset or empty."""
    value = os.environ.get(variable, "")
    if not value:
        raise MissingSetting(f"{variable} is not set: template.yaml sets it in the function's environment")
    return value


def flag(variable: str) -> bool:
    """A "0"/"1" variable; anything else is as much a misconfiguration as its absence."""
    value = required(variable)
    if value not in ("0", "1"):
        raise MissingSetting(f"{variable} is {value!r}: template.yaml sets it to 0 or 1")
    return value == "1"


class Settings:
    """Each attribute is the variable of its name in capitals, but the two flags."""

    VARIABLES: ClassVar[dict[str, str]] = {
        "admin_key_secret": "ADMIN_KEY_SECRET",
        "source_secret_prefix": "SOURCE_SECRET_PREFIX",
        "scan_queue_url": "SCAN_QUEUE_URL",
        "scan_request_queue_url": "SCAN_REQUEST_QUEUE_URL",
        "scan_retry_seconds": "SCAN_RETRY_SECONDS",
        "feed_purge_queue_url": "FEED_PURGE_QUEUE_URL",
        "event_bus_name": "EVENT_BUS_NAME",
        "expiring_warning_days": "EXPIRING_WARNING_DAYS",
        "allow_http_sources": "FEEDGUARD_ALLOW_HTTP_SOURCES",
        # Sources on loopback, link-local or private addresses (the local stack's fake OSS Index)
        "allow_private_sources": "FEEDGUARD_ALLOW_PRIVATE_SOURCES",
    }

    @cached_property
    def admin_key_secret(self) -> str:
        return required("ADMIN_KEY_SECRET")

    @cached_property
    def source_secret_prefix(self) -> str:
        return required("SOURCE_SECRET_PREFIX")

    @cached_property
    def scan_queue_url(self) -> str:
        return required("SCAN_QUEUE_URL")

    @cached_property
    def scan_request_queue_url(self) -> str:
        return required("SCAN_REQUEST_QUEUE_URL")

    @cached_property
    def scan_retry_seconds(self) -> int:
        """Seconds before a scan batch that failed comes back, doubled with each receive."""
        value = required("SCAN_RETRY_SECONDS")
        if not (value.isascii() and value.isdigit()) or int(value) < 1:
            raise MissingSetting(f"SCAN_RETRY_SECONDS is {value!r}: template.yaml sets it to a whole number of seconds")
        return int(value)

    @cached_property
    def feed_purge_queue_url(self) -> str:
        return required("FEED_PURGE_QUEUE_URL")

    @cached_property
    def event_bus_name(self) -> str:
        return required("EVENT_BUS_NAME")

    @cached_property
    def expiring_warning_days(self) -> int:
        """Days before a decision expires that its `expiring` event fires (ExpiringWarningDays)."""
        value = required("EXPIRING_WARNING_DAYS")
        if not (value.isascii() and value.isdigit()) or int(value) < 1:
            raise MissingSetting(f"EXPIRING_WARNING_DAYS is {value!r}: template.yaml sets it to a whole number of days")
        return int(value)

    @cached_property
    def allow_http_sources(self) -> bool:
        return flag("FEEDGUARD_ALLOW_HTTP_SOURCES")

    @cached_property
    def allow_private_sources(self) -> bool:
        return flag("FEEDGUARD_ALLOW_PRIVATE_SOURCES")

    def require(self, *names: str) -> Settings:
        """Read `names` now: a handler module calls this at import, so its
        cold start fails on a variable its function needs and lacks."""
        for name in names:
            if name not in self.VARIABLES:
                raise AttributeError(f"no setting {name!r}")
            getattr(self, name)
        return self


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()


def table_name(variable: str) -> str:
    """The table name template.yaml passes in `variable`."""
    return required(variable)
