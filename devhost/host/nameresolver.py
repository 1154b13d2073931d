"""`%NAME%` tokens in host configuration, resolved from app settings as the host does
(azure-webjobs-sdk src/Microsoft.Azure.WebJobs.Host/NameResolverExtensions.cs,
ResolveWholeStringCore, with DefaultNameResolver reading app settings / environment)."""

from __future__ import annotations

from collections.abc import Mapping


class UnresolvedName(Exception):
    """A `%NAME%` token names no setting, or a `%` is never closed."""


def resolve_whole_string(text: str, settings: Mapping[str, str]) -> str:
    """Every `%NAME%` replaced by that setting's value; text between tokens kept."""
    out: list[str] = []
    i = 0
    while True:
        start = text.find("%", i)
        if start < 0:
            out.append(text[i:])
            return "".join(out)
        end = text.find("%", start + 1)
        if end < 0:
            raise UnresolvedName(f"the '%' at position {start} does not have a closing '%'")
        name = text[start + 1:end]
        value = settings.get(name) if name else None
        if value is None:
            raise UnresolvedName(f"'%{name}%' does not resolve to a value")
        out.append(text[i:start])
        out.append(value)
        i = end + 1


def try_resolve_whole_string(text: str, settings: Mapping[str, str]) -> str | None:
    """TryResolveWholeString: None where ResolveWholeString would throw."""
    try:
        return resolve_whole_string(text, settings)
    except UnresolvedName:
        return None
