"""The multipath.conf(5) syntax of a drop-in, both ways: settings to text and text to settings.

A drop-in holds `defaults` and `overrides` (flat settings) and `devices` / `multipaths` (lists of
`device` / `multipath` blocks). Rendering is deterministic, so the same settings give the same file.
"""

from __future__ import annotations

import re

FLAT_SECTIONS = ("defaults", "overrides")
LIST_SECTIONS = {"devices": "device", "multipaths": "multipath"}
SECTIONS = FLAT_SECTIONS + tuple(LIST_SECTIONS)

# VDSM depends on these; the procedure says never to override them.
FORBIDDEN = {
    "user_friendly_names": "every host must see a device under the same name, so VDSM keeps it `no`",
    "find_multipaths": "oVirt must reach every device through multipath, even one with a single path",
}
# The procedure says to change these only when the storage vendor requires it.
VENDOR_ONLY = {
    "no_path_retry": "VDSM's `16` (since vdsm 4.40.40) queues I/O for 80 seconds after the last path is lost, "
    "as long as sanlock's lease timeout",
    "polling_interval": "VDSM's `5` seconds lets the host notice path failures quickly",
}

HEADER = "# Managed by ovirt-she-migration: a drop-in overriding /etc/multipath.conf. Edits here are reverted.\n"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_BARE_VALUE = re.compile(r"^[A-Za-z0-9_.:/+-]+$")


def _value(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # numbers cross Pulumi's wire as doubles
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text if _BARE_VALUE.match(text) else f'"{text}"'


def _block(name: str, settings: dict, indent: str) -> list[str]:
    lines = [f"{indent}{name} {{"]
    lines += [f"{indent}    {key} {_value(settings[key])}" for key in sorted(settings)]
    return lines + [f"{indent}}}"]


def render(sections: dict) -> str:
    lines: list[str] = []
    for section in SECTIONS:
        content = sections.get(section)
        if not content:
            continue
        if section in FLAT_SECTIONS:
            lines += _block(section, content, "")
        else:
            lines.append(f"{section} {{")
            for entry in content:
                lines += _block(LIST_SECTIONS[section], entry, "    ")
            lines.append("}")
    return HEADER + "\n".join(lines) + ("\n" if lines else "")


def _tokens(text: str) -> list[str]:
    tokens = []
    for line in text.splitlines():
        line = line.split("#", 1)[0] if '"' not in line else line
        tokens += re.findall(r'"[^"]*"|[{}]|[^\s{}"]+', line)
    return tokens


def _scalar(token: str) -> str:
    return token[1:-1] if token.startswith('"') else token


def _read_block(tokens: list[str], position: int) -> tuple[dict, int]:
    """Reads `{ key value ... }` starting at the opening brace; returns settings and the next position."""
    settings, position = {}, position + 1
    while position < len(tokens) and tokens[position] != "}":
        key, value = tokens[position], tokens[position + 1] if position + 1 < len(tokens) else ""
        settings[key] = _scalar(value)
        position += 2
    return settings, position + 1


def parse(text: str) -> dict:
    """Reads a drop-in back into sections; sections it does not manage are kept under their names."""
    tokens, sections, position = _tokens(text), {}, 0
    while position < len(tokens):
        name = tokens[position]
        if name in LIST_SECTIONS and position + 1 < len(tokens) and tokens[position + 1] == "{":
            entries, position = [], position + 2
            while position < len(tokens) and tokens[position] != "}":
                entry, position = _read_block(tokens, position + 1)
                entries.append(entry)
            sections[name] = entries
            position += 1
        elif position + 1 < len(tokens) and tokens[position + 1] == "{":
            sections[name], position = _read_block(tokens, position + 1)
        else:
            position += 1
    return sections


def _settings(sections: dict):
    """Yields (where, key, value) for every setting, `where` naming it as the stack does."""
    for section in FLAT_SECTIONS:
        for key, value in (sections.get(section) or {}).items():
            yield f"{section}.{key}", key, str(value)
    for section in LIST_SECTIONS:
        for index, entry in enumerate(sections.get(section) or []):
            for key, value in entry.items():
                yield f"{section}[{index}].{key}", key, str(value)


def problems(sections: dict) -> list[str]:
    """What makes these settings unfit for an oVirt host; empty when they are fine."""
    found = [
        f"unknown section `{name}`: a drop-in holds {', '.join(SECTIONS)}" for name in sections if name not in SECTIONS
    ]
    for section in FLAT_SECTIONS:
        if not isinstance(sections.get(section) or {}, dict):
            found.append(f"`{section}` must be a map of setting to value")
    for section in LIST_SECTIONS:
        entries = sections.get(section) or []
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            found.append(f"`{section}` must be a list of maps of setting to value")
    if found:
        return found
    for where, key, value in _settings(sections):
        if key in FORBIDDEN:
            found.append(f"`{where}` must not be overridden: {FORBIDDEN[key]}. Remove it from the drop-in.")
        elif not _NAME.match(key):
            found.append(f"`{where}` is not a multipath.conf setting name (lower case letters, digits and _)")
        if '"' in value or "\n" in value or "#" in value:
            found.append(f"`{where}` contains a quote, `#` or a line break, which multipath.conf cannot hold")
    return found


def vendor_only_settings(sections: dict) -> list[str]:
    """The settings that should change only when the storage vendor requires it, with why."""
    return [f"`{where}`: {VENDOR_ONLY[key]}" for where, key, _ in _settings(sections) if key in VENDOR_ONLY]


def normalise(sections: dict) -> dict:
    """The settings as they read back from the rendered file, for comparing stack and host."""
    return parse(render(sections))
