"""What each role sees first. Other areas add their panels by registering a provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Each provider takes the user and returns extra template context (or {}).
HOME_PANELS: list[Callable[[Any], dict[str, Any]]] = []


def home_panel(fn: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
    HOME_PANELS.append(fn)
    return fn


def home_context(user: Any) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for provider in HOME_PANELS:
        context.update(provider(user))
    return context
