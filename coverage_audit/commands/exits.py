"""Exit codes and the usage error: what every command and the CLI share, importable without
loading the analysis (``rules`` needs none of it)."""

from __future__ import annotations

EXIT_OK, EXIT_GAPS, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    """A request that cannot be run as given (missing inputs, bad combination)."""
