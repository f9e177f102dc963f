"""The JSON Schema of a job spec, generated from the param declarations."""
from __future__ import annotations

from jobs.methods import BUILTINS
from jobs.params import COMMON_PARAMS


def json_schema() -> dict:
    common = {p.name: p.json_schema() for p in COMMON_PARAMS}
    per_method = {}
    for m in BUILTINS.values():
        per_method[m.name] = {
            "if": {"properties": {"method": {"const": m.name}}},
            "then": {"properties": {"params": {"properties": {p.name: p.json_schema() for p in m.params}}}},
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Tunedeck job spec",
        "type": "object",
        "required": ["method", "base_model", "dataset"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "maxLength": 120, "description": "Display name."},
            "method": {"type": "string", "description": "A built-in method (" + ", ".join(BUILTINS)
                       + ") or a custom one from workspace/methods/."},
            "base_model": {"type": "string", "description": "A registered base model name (alias MODEL_PATH)."},
            "dataset": {"type": "string", "description": "A registered dataset name (alias DATASET_PATH)."},
            "priority": {"type": "integer", "minimum": -1000, "maximum": 1000, "default": 0,
                         "description": "Higher runs sooner; FIFO within a priority."},
            "parent_job": {"type": ["string", "null"], "description": "The job this one was copied from."},
            "notes": {"type": "string"},
            "params": {
                "type": "object",
                "description": "Training parameters. UPPER_CASE and CamelCase spellings are accepted as aliases. "
                               "Methods add their own (see allOf).",
                "properties": common,
            },
        },
        "allOf": list(per_method.values()),
        "x-method-params": {m.name: {p.name: p.json_schema() for p in m.params} for m in BUILTINS.values()},
    }
