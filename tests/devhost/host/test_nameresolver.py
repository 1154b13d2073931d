"""`%NAME%` resolution as azure-webjobs-sdk NameResolverExtensions.ResolveWholeStringCore
does it (src/Microsoft.Azure.WebJobs.Host/NameResolverExtensions.cs)."""

from __future__ import annotations

import pytest

from devhost.host.nameresolver import UnresolvedName, resolve_whole_string, try_resolve_whole_string

SETTINGS = {"TASKHUB_NAME": "OrdersHub", "SLOT": "Staging", "EMPTY": ""}


def test_whole_token_is_the_setting_value() -> None:
    assert resolve_whole_string("%TASKHUB_NAME%", SETTINGS) == "OrdersHub"


def test_tokens_inside_text_and_several_tokens() -> None:
    """ResolveWholeStringCore: text between tokens is kept, every token replaced."""
    assert resolve_whole_string("x%TASKHUB_NAME%%SLOT%y", SETTINGS) == "xOrdersHubStagingy"
    assert resolve_whole_string("NoTokens", SETTINGS) == "NoTokens"


def test_an_empty_setting_resolves_to_empty() -> None:
    """Only a missing value (null from DefaultNameResolver) fails; "" is a value."""
    assert resolve_whole_string("a%EMPTY%b", SETTINGS) == "ab"


def test_missing_setting_and_unclosed_percent_fail() -> None:
    with pytest.raises(UnresolvedName, match="'%MISSING%' does not resolve to a value"):
        resolve_whole_string("%MISSING%", SETTINGS)
    with pytest.raises(UnresolvedName, match="position 3 does not have a closing"):
        resolve_whole_string("Hub%TASKHUB_NAME", SETTINGS)
    # TryResolveWholeString: null instead of throwing.
    assert try_resolve_whole_string("%MISSING%", SETTINGS) is None
