"""What tests share: builders, constants and small harnesses, imported as
``from tests.support.<module> import <name>``. Fixtures are declared in conftest files, which
import from here; no test imports a conftest."""
