"""What a reload (SIGHUP) applies: the schema marks each setting live or not (live=False), and a
reload runs the new file's live settings with the old values of the rest."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Iterator, List, Tuple

from voiced.config import Config, is_live


def restart_needed(old: Config, new: Config) -> List[str]:
    """The key paths whose value differs between `old` and `new` and that a reload cannot apply."""
    return [path for path, live, a, b in _leaves(old, new, "", True) if not live and a != b]


def reloaded(old: Config, new: Config) -> Config:
    """What a reload runs with: `new`, except that every setting it cannot apply keeps `old`'s value."""
    return _merge(old, new, True)


def _leaves(old: Any, new: Any, prefix: str, live: bool) -> Iterator[Tuple[str, bool, Any, Any]]:
    for f in dataclasses.fields(old):
        if f.metadata.get("internal"):
            continue
        a, b, f_live = getattr(old, f.name), getattr(new, f.name), is_live(f, live)
        if dataclasses.is_dataclass(a):
            yield from _leaves(a, b, f"{prefix}{f.name}.", f_live)
        else:
            yield prefix + f.name, f_live, a, b


def _merge(old: Any, new: Any, live: bool) -> Any:
    kept: Dict[str, Any] = {}
    for f in dataclasses.fields(new):
        if f.metadata.get("internal"):
            continue
        a, f_live = getattr(old, f.name), is_live(f, live)
        if dataclasses.is_dataclass(a):
            kept[f.name] = _merge(a, getattr(new, f.name), f_live)
        elif not f_live:
            kept[f.name] = a
    return dataclasses.replace(new, **kept)
