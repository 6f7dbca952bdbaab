"""multipath.conf(5) parsing, merging and `multipathd show config` rendering.

multipathd reads built-in defaults, then /etc/multipath.conf, then each
/etc/multipath/conf.d/*.conf in alphabetical order; later files override
earlier ones.  The daemon keeps what it read until it is reloaded, which is
why the host stores the merged result rather than re-reading on every query.
"""

import re

BUILTIN_DEFAULTS = {
    "verbosity": "2",
    "polling_interval": "5",
    "max_polling_interval": "20",
    "path_selector": "service-time 0",
    "path_grouping_policy": "failover",
    "uid_attribute": "ID_SERIAL",
    "prio": "const",
    "features": "0",
    "path_checker": "tur",
    "failback": "manual",
    "rr_weight": "uniform",
    "no_path_retry": "fail",
    "user_friendly_names": "no",
    "find_multipaths": "strict",
    "flush_on_last_del": "no",
    "max_fds": "max",
    "queue_without_daemon": "no",
    "config_dir": "/etc/multipath/conf.d",
}
CONF = "/etc/multipath.conf"
CONF_DIR = "/etc/multipath/conf.d"
_LIST_SECTIONS = ("blacklist", "blacklist_exceptions")
_TOKEN = re.compile(r'"([^"]*)"|([{}])|([^\s{}"#!]+)|([#!].*)')


class ConfError(ValueError):
    """The file cannot be parsed (unbalanced braces or quotes)."""


def _tokens(line, where):
    out = []
    pos = 0
    line = line.strip()
    while pos < len(line):
        if line[pos].isspace():
            pos += 1
            continue
        m = _TOKEN.match(line, pos)
        if m is None:
            raise ConfError(f"{where}: unterminated quote")
        if m.group(4) is not None:
            break
        out.append(m.group(2) or (m.group(1) if m.group(1) is not None else m.group(3)))
        pos = m.end()
    return out


def parse(text, name="multipath.conf"):
    """Parse into a tree: a list of (keyword, value) with value a str or a sub-list."""
    root = []
    stack = [root]
    for lineno, line in enumerate(text.splitlines(), 1):
        toks = _tokens(line, f"{name}:{lineno}")
        while toks:
            if toks[0] == "}":
                if len(stack) == 1:
                    raise ConfError(f"{name}:{lineno}: unexpected '}}'")
                stack.pop()
                toks = toks[1:]
            elif len(toks) > 1 and toks[1] == "{":
                section = []
                stack[-1].append((toks[0], section))
                stack.append(section)
                toks = toks[2:]
            else:
                end = toks.index("}") if "}" in toks else len(toks)
                stack[-1].append((toks[0], " ".join(toks[1:end])))
                toks = toks[end:]
    if len(stack) != 1:
        raise ConfError(f"{name}: missing '}}'")
    return root


def empty_config():
    return {
        "defaults": dict(BUILTIN_DEFAULTS),
        "blacklist": [],
        "blacklist_exceptions": [],
        "devices": [],
        "overrides": {},
        "multipaths": [],
        "warnings": [],
    }


def merge(config, tree, name):
    """Apply one parsed file on top of config, as multipathd does file by file."""
    for keyword, value in tree:
        if keyword in ("defaults", "overrides") and isinstance(value, list):
            config[keyword].update((k, v) for k, v in value if isinstance(v, str))
        elif keyword in _LIST_SECTIONS and isinstance(value, list):
            config[keyword] += [[k, v if isinstance(v, str) else _flat(v)] for k, v in value]
        elif keyword == "devices" and isinstance(value, list):
            _merge_entries(config["devices"], value, "device", ("vendor", "product", "revision"))
        elif keyword == "multipaths" and isinstance(value, list):
            _merge_entries(config["multipaths"], value, "multipath", ("wwid",))
        else:
            config["warnings"].append(f"{name}: invalid keyword: {keyword}")
    return config


def _flat(section):
    return {k: v for k, v in section if isinstance(v, str)}


def _merge_entries(entries, section, kind, identity):
    """Entries with the same identity (e.g. vendor+product) are merged, others appended."""
    for keyword, value in section:
        if keyword != kind or not isinstance(value, list):
            continue
        entry = _flat(value)
        key = tuple(entry.get(k) for k in identity)
        match = next((e for e in entries if tuple(e.get(k) for k in identity) == key), None)
        if match is None:
            entries.append(entry)
        else:
            match.update(entry)


def load(fs):
    """Read the configuration from a host's files, in multipathd's order."""
    config = empty_config()
    paths = [CONF] if fs.exists(CONF) else []
    if fs.exists(CONF_DIR) and fs.get(CONF_DIR).is_dir:
        paths += [
            f"{CONF_DIR}/{n}"
            for n in fs.listdir(CONF_DIR)
            if n.endswith(".conf") and not fs.get(f"{CONF_DIR}/{n}").is_dir
        ]
    for path in paths:
        merge(config, parse(fs.read(path).decode(errors="replace"), path), path)
    return config


# String-typed keywords multipathd quotes even when the value looks numeric.
_ALWAYS_QUOTED = {
    "features",
    "hardware_handler",
    "vendor",
    "product",
    "revision",
    "wwid",
    "alias",
    "devnode",
    "product_blacklist",
}


def _value(key, value):
    if re.fullmatch(r"-?\d+", value) and key not in _ALWAYS_QUOTED:
        return value
    return f'"{value}"'


def _block(lines, indent, name, items):
    lines.append("\t" * indent + name + " {")
    for key, value in items:
        if isinstance(value, dict):
            _block(lines, indent + 1, key, value.items())
        else:
            lines.append("\t" * (indent + 1) + f"{key} {_value(key, value)}")
    lines.append("\t" * indent + "}")


def render(config):
    """Text in the layout of `multipathd show config` (tab indented, strings quoted)."""
    lines = []
    _block(lines, 0, "defaults", config["defaults"].items())
    for section in _LIST_SECTIONS:
        _block(lines, 0, section, config[section])
    _block(lines, 0, "devices", [("device", d) for d in config["devices"]])
    _block(lines, 0, "overrides", config["overrides"].items())
    _block(lines, 0, "multipaths", [("multipath", m) for m in config["multipaths"]])
    return "\n".join(lines) + "\n"
