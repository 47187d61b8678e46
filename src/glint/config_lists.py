"""The one parser of list-valued configuration options.

oslo.config reads a list option either bare (`a, b`) or, for options
declared with bounds, in brackets (`[a, b]`); Glance declares some of its
options with bounds (`[import_filtering_opts] allowed_hosts`, `allowed_ports`,
`enabled_import_methods`) and its sample files write others bare. An operator
copies Glance's file, so every list option Glint reads takes both spellings,
with items optionally quoted (`['a', "b"]`, as oslo.config's quoting String
items allow). Dict options (`key:value` pairs) may likewise be wrapped in braces.
"""

from __future__ import annotations

QUOTES = ("'", '"')


def parse_list(text: str, *, bounds: str = "[]") -> tuple[str, ...]:
    """The items of a list option, stripped and unquoted, empty ones dropped.

    `bounds` are the optional enclosing characters (`[]`, or `{}` for a dict
    option's pairs). Raises ValueError when only one of them is there.
    """
    value = text.strip().rstrip(",").strip()
    opened, closed = value.startswith(bounds[0]), value.endswith(bounds[1])
    if opened != closed:
        raise ValueError(f"unbalanced {bounds[0]} {bounds[1]} in {text.strip()!r}")
    if opened:
        value = value[1:-1]
    items: list[str] = []
    for raw in value.split(","):
        item = raw.strip()
        if len(item) >= 2 and item[0] in QUOTES and item[-1] == item[0]:
            item = item[1:-1].strip()
        if item:
            items.append(item)
    return tuple(items)


def parse_pairs(text: str) -> tuple[str, ...]:
    """The `key:value` items of a dict option (`a:1, b:2` or `{a:1, b:2}`),
    each still to be split by its caller, which knows what a key may be."""
    return parse_list(text, bounds="{}")
