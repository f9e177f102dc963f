"""Tunedeck's job contract: the spec, the workspace layout, state files, atomic IO and registries.

The dashboard, the spooler and the trainer import this package and never each other.
"""
from .atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, read_json
from .spec import Problem, Validation, validate
from .workspace import Workspace

__all__ = ["Workspace", "validate", "Validation", "Problem", "atomic_write_json", "atomic_write_text",
           "atomic_write_bytes", "read_json"]
