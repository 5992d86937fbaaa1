"""The exception hierarchy: every expected failure derives from `OtelCostError`."""


class OtelCostError(Exception):
    """Base class of every error that otel-cost reports without a traceback."""


class ConfigError(OtelCostError):
    """A setting, option or environment variable has an invalid value."""


class StoreError(OtelCostError):
    """The ClickHouse store cannot be opened, migrated or written."""


class StoreLockedError(StoreError):
    """Another process already has the embedded store open."""


class RateCardError(OtelCostError):
    """A rate card cannot be read or contains an invalid entry."""


class UsageFormatError(OtelCostError):
    """A usage object does not follow the convention it claims."""
