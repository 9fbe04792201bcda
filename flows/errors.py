"""The errors that end a run without publishing, in a module light enough for the command line to import first."""

from __future__ import annotations


class TableValidationError(RuntimeError):
    """Table-level failures (duplicate keys, broken references, wrong columns): nothing is published."""


class AccountingError(RuntimeError):
    """A paper block that is neither published nor rejected: the run must not publish."""


class PublishGateError(RuntimeError):
    """The new release would shrink a table or drop a profile; publishing was refused."""
