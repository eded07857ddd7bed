"""The README's configuration reference, generated from the schema of voiced.config:

    python -m voiced.config_reference README.md

rewrites the section between the README's config-reference markers (a test checks they agree)."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import List

import yaml

from voiced.config import Config, is_live
from voiced.config_rules import RULES


def reference() -> str:
    """The configuration reference as a Markdown table, generated from the schema."""
    rows = ["| key | default | reload | meaning |", "| --- | --- | --- | --- |"]
    _reference_rows(Config, "", rows, True)
    rows += ["", ("Settings that must agree, checked at load: an error fails the load like a bad value; a "
                  "warning is logged and the file loads."), "",
             "| settings | rule | if broken |", "| --- | --- | --- |"]
    rows += [f"| {', '.join(f'`{k}`' for k in rule.keys)} | {rule.doc} | {'warning' if rule.warning else 'error'} |"
             for rule in RULES]
    return "\n".join(rows)


_TOPIC_RULES = {"level": " (one MQTT topic level: no '/', '+', '#' or control characters)",
                "prefix": " (MQTT topic levels joined by '/': no '+', '#', control characters or empty levels)"}


def _reference_rows(cls: type, prefix: str, rows: List[str], live: bool) -> None:
    instance = cls()
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        path = f"{prefix}{f.name}"
        value = getattr(instance, f.name)
        if dataclasses.is_dataclass(value):
            _reference_rows(type(value), path + ".", rows, is_live(f, live))
            continue
        doc = f.metadata.get("doc", "")
        if "choices" in f.metadata:
            doc += f" ({' / '.join(map(str, f.metadata['choices']))})"
        elif "min" in f.metadata:
            hi = f.metadata.get("max")
            doc += f" ({f.metadata['min']} to {hi})" if hi is not None else f" (at least {f.metadata['min']})"
        doc += _TOPIC_RULES.get(f.metadata.get("topic"), "")
        if f.metadata.get("nonempty"):
            doc += " (if given, not blank)"
        default = "" if value is None else yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
        rows.append(f"| `{path}` | `{default}` | {'live' if is_live(f, live) else 'restart'} | {doc} |")


def write_reference(readme: Path) -> None:
    """Replace the configuration reference section of the README with `reference()`."""
    text = readme.read_text(encoding="utf-8")
    start_tag, end_tag = "<!-- section:config-reference -->", "<!-- /section:config-reference -->"
    start, end = text.index(start_tag) + len(start_tag), text.index(end_tag)
    readme.write_text(text[:start] + "\n" + reference() + "\n" + text[end:], encoding="utf-8")


if __name__ == "__main__":
    import sys

    write_reference(Path(sys.argv[1] if len(sys.argv) > 1 else "README.md"))
