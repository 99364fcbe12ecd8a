"""The wired engine of tests/services, for campaigns whose metrics are checked."""

from tests.services.conftest import engine  # noqa: F401  (the wired engine)
