"""One plain help style for both command lines (`mediaenhancer`, `mediaenhancer-server`).

Typer 0.29 labels every value with its Python type in help (`<str>`, `<int range>`, `<list[str]>`,
`{file}` in the usage line). People read names, not types: :func:`tidy_help` walks a built click
command tree once and gives every parameter a metavar that says what to type, in click's plain style:

    --output FILE, --jobs N, --quality [draft|standard|high|archive], FILES...

It works on the click objects by duck typing (no click import here), so it costs nothing until a
command is about to show its help or run. An explicit ``metavar=`` on a parameter wins.
"""

from __future__ import annotations

from typing import Any

__all__ = ["tidy_help"]

_NUMBER = {int: "N", float: "NUMBER"}


def _metavar(param: Any) -> str:
    desc = getattr(param, "type_descriptor", None)  # typer >= 0.29 has no click types
    if desc is None:
        kind = getattr(param, "type", None)
        choices = getattr(kind, "choices", None)
        name = {"integer": int, "float": float}.get(getattr(kind, "name", ""), None)
        is_path, path_type = getattr(kind, "name", "") == "path", "path"
    else:
        choices = desc.choices
        annotation = desc.annotation
        args: tuple[Any, ...] = getattr(annotation, "__args__", ())
        name = args[0] if desc.is_list and len(args) == 1 else annotation
        is_path = desc.is_path
        path_type = desc.path_type if is_path else ""
    if choices:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in choices) + "]"
    if name in _NUMBER:
        return _NUMBER[name]
    if is_path:
        return {"file": "FILE", "dir": "DIR"}.get(path_type, "PATH")
    return (param.name or "value").upper()


def _argument_usage(param: Any) -> str:
    name = param.metavar + ("..." if param.nargs != 1 else "")
    return name if param.required else f"[{name}]"


def tidy_help(command: Any) -> Any:
    """Give every parameter of ``command`` and its sub-commands a plain metavar; idempotent."""
    if getattr(command, "_tidy_help", False):
        return command
    command._tidy_help = True
    for param in getattr(command, "params", ()):
        if param.param_type_name == "argument":
            if param.metavar is None:
                param.metavar = (param.name or "value").upper()
            # typer prints "NAME <type>" in the list and "{NAME}" in the usage line: plain click style instead
            param.display_type_rich = lambda ctx: None
            param._usage_display_name = lambda p=param: _argument_usage(p)
        elif not (param.is_flag or getattr(param, "count", False)) and param.metavar is None:
            param.metavar = _metavar(param)
    for sub in (getattr(command, "commands", None) or {}).values():
        tidy_help(sub)
    return command
