"""The built-in rule pack, one module per family. Importing this package registers every rule."""
from . import environment  # noqa: F401
