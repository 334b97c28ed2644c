"""Reading a configuration given as a file, a dict or an object, and naming the wrong kind of file.

Two kinds of configuration exist: a search's (``config.json`` of a run folder, for ``ranksearch run
--config``) and a point's (what ``ranksearch export`` writes, for ``ranksearch train --config``).
Given the other kind, a run folder or ``front.json``, the user gets the command that makes the right one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ranksearch.config import read_json

EXPORT_HINT = "`ranksearch export RUN_FOLDER --take -o point.json` writes one"


def as_dict(config: Any, kind: str) -> Any:
    """``config`` as its JSON form: a file read, an object's ``to_dict()``, a dict as it is."""
    if isinstance(config, (str, Path)):
        return read_json(config)
    if hasattr(config, "to_dict"):
        return config.to_dict()
    if isinstance(config, dict):
        return config
    raise ValueError(f"{kind} must be a file path, a dict or a {kind} object, got {type(config).__name__}")


def point_dict(config: Any) -> dict[str, Any]:
    """A point's configuration as a dict; a run folder, a search's config.json or front.json refused by name."""
    if isinstance(config, (str, Path)) and Path(config).is_dir():
        raise ValueError(f"{config} is a folder, not a point's configuration; `ranksearch export {config} --take -o "
                         "point.json` writes the configuration of what its verdict takes")
    if isinstance(config, (str, Path)) and not Path(config).exists():
        raise ValueError(f"{config}: no such file; a point's configuration is a JSON file: {EXPORT_HINT}")
    data = as_dict(config, "TrainConfig")
    if isinstance(data, list):
        raise ValueError(f"{config} holds a list (front.json?), not one point's configuration; "
                         "`ranksearch export RUN_FOLDER --trial N -o point.json` writes one member's")
    if isinstance(data, dict) and "budget" in data:
        raise ValueError(f"{config} is a search's configuration (`ranksearch run --config` runs it), not a point's; "
                         f"`ranksearch export {Path(str(config)).parent} --take -o point.json` writes one")
    return data


def search_dict(config: Any) -> dict[str, Any]:
    """A search's configuration as a dict; a point's configuration refused by name."""
    data = as_dict(config, "SearchConfig")
    if isinstance(data, dict) and "budget" not in data and {"model", "recipe", "seed"} <= set(data):
        raise ValueError(f"{config} is a point's configuration (`ranksearch train --config` trains it), not a "
                         "search's; a search's is the config.json of a run folder")
    return data
