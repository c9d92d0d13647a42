"""The built-in rule pack, one module per family. Importing this package registers every rule."""
from . import arm  # noqa: F401
from . import deploy  # noqa: F401
from . import environment  # noqa: F401
from . import keyvault  # noqa: F401
from . import live  # noqa: F401
from . import scan  # noqa: F401
from . import scoring  # noqa: F401
from . import resolve  # noqa: F401
