"""YAML -> validated, frozen Config; every problem reported at once as `file:line: key.path: message`.

The schema is the dataclasses in settings.py: their fields are the keys, their annotations the
types, their defaults the defaults. Checks a type cannot express (ranges, choices) live in CHECKS.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from scrobblerd.config.checks import CHECKS, PATH_KEYS, SCALAR_AS_LIST
from scrobblerd.config.settings import (
    Config,
    IdentifyConfig,
    LogConfig,
    NotifyConfig,
    OverrideRule,
    PlayersConfig,
    ResumeConfig,
    ScrobbleConfig,
    TraktConfig,
    default_config_path,
    is_loopback,
    split_listen,
)
from scrobblerd.errors import ConfigError
from scrobblerd.secret import Secret

ENV_CONFIG = "SCROBBLERD_CONFIG"
MAX_DEPTH = 32  # levels of nesting; the deepest key in the schema is 4 levels down


@dataclasses.dataclass
class _Ctx:
    file: str
    problems: list[str]

    def error(self, node: yaml.Node | None, key: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        self.problems.append(f"{self.file}:{line}: {key}: {message}")


def expand_path(value: str) -> str:
    return os.path.expanduser(os.path.expandvars(value))


def resolve_path(explicit: str | Path | None) -> tuple[Path, bool]:
    """The config file to read, and whether the user named it (a missing named file is an error)."""
    if explicit:
        return Path(expand_path(str(explicit))), True
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(expand_path(env)), True
    return default_config_path(), False


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate the config; raise ConfigError listing every problem."""
    file, explicit = resolve_path(path)
    if not file.exists() and not explicit:
        return Config()
    try:
        text = file.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ConfigError([f"{file}:1: (file): is a directory, not a config file"]) from None
    except FileNotFoundError:
        raise ConfigError([f"{file}:1: (file): no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{file}:1: (file): cannot read: {exc}"]) from None
    return parse_config(text, str(file), source=file)


def parse_config(text: str, filename: str = "config.yaml", source: Path | None = None) -> Config:
    ctx = _Ctx(filename, [])
    try:
        _check_depth(text, filename)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError([f"{filename}:{line}: (yaml): {exc.problem or exc}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{filename}:1: (yaml): {exc}"]) from None
    if root is None:  # an empty file means every default
        return dataclasses.replace(Config(), source=source)
    if not isinstance(root, yaml.MappingNode):
        ctx.error(root, "(top level)", "must be a mapping of keys, like the example config")
        raise ConfigError(ctx.problems)
    config = _build(Config, root, "", ctx)
    if isinstance(config, Config):
        _check_web(config, root, ctx)
    if ctx.problems:
        raise ConfigError(ctx.problems)
    assert isinstance(config, Config)
    return dataclasses.replace(config, source=source)


def _check_depth(text: str, filename: str) -> None:
    """Refuse nesting deeper than any config needs before composing it (PyYAML composes
    recursively: a few thousand levels would crash it). Its parser is iterative, so this is safe."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 1
                raise ConfigError([f"{filename}:{line}: (yaml): nested deeper than {MAX_DEPTH} levels"])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _fields(cls: type) -> dict[str, tuple[dataclasses.Field[Any], Any]]:
    hints = typing.get_type_hints(cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(cls) if f.name not in ("source", "line")}


def _build(cls: type, node: yaml.MappingNode, prefix: str, ctx: _Ctx) -> Any:
    known = _fields(cls)
    values: dict[str, Any] = {}
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        path = f"{prefix}{key}"
        if key is None or key not in known:
            import difflib  # only when a key is misspelt

            hint = difflib.get_close_matches(str(key), list(known), n=1)
            guess = f"; did you mean {prefix}{hint[0]!s}?" if hint else ""
            ctx.error(key_node, path, f"unknown key{guess}")
            continue
        if key in seen:
            ctx.error(key_node, path, "given twice")
        seen.add(key)
        value = _convert(known[key][1], value_node, path, ctx)
        if value is not _BAD:
            values[key] = value
    if cls is OverrideRule:
        values["line"] = node.start_mark.line + 1
        _check_rule(values, node, prefix.rstrip("."), ctx)
    if cls is ResumeConfig and values.get("min_progress", 0.0) >= (values.get("max_progress") or 100.0):
        ctx.error(node, prefix + "min_progress", "must be below resume.max_progress")
    return cls(**values)


def _check_rule(values: dict[str, Any], node: yaml.Node, path: str, ctx: _Ctx) -> None:
    if not values.get("path") and not values.get("title"):
        ctx.error(node, path, "a rule needs `path` (a regular expression) or `title`")
    if not any(values.get(k) for k in ("trakt", "slug", "imdb", "tmdb", "tvdb")):
        ctx.error(node, path, "a rule needs one of trakt, slug, imdb, tmdb, tvdb")


def _check_web(config: Config, root: yaml.MappingNode, ctx: _Ctx) -> None:
    """The page may leave loopback only behind a token: anyone who reaches it could act on it."""
    web = config.web
    found = split_listen(web.listen)
    if not web.enabled or found is None or is_loopback(found[0]) or web.token:
        return
    ctx.error(
        _node_at(root, "web", "listen"),
        "web.listen",
        f"{web.listen} is not a loopback address: set web.token first (anyone who can reach the "
        "page could act on it), or listen on 127.0.0.1",
    )


def _node_at(root: yaml.MappingNode, *keys: str) -> yaml.Node | None:
    node: yaml.Node | None = root
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
    return node


class _Bad:
    pass


_BAD = _Bad()
_SCALARS: dict[type, str] = {
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    str: "a string",
    Path: "a path (a string)",
}


def _convert(hint: Any, node: yaml.Node, path: str, ctx: _Ctx) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):  # Optional[X]
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return None
        hint = next(a for a in args if a is not type(None))
        return _convert(hint, node, path, ctx)
    if dataclasses.is_dataclass(hint):
        if not isinstance(node, yaml.MappingNode):
            ctx.error(node, path, "expected a mapping of keys")
            return _BAD
        return _build(typing.cast(type, hint), node, path + ".", ctx)
    if origin is tuple:
        return _convert_list(args[0], node, path, ctx)
    return _convert_scalar(hint, node, path, ctx)


def _convert_list(item_hint: Any, node: yaml.Node, path: str, ctx: _Ctx) -> Any:
    if isinstance(node, yaml.ScalarNode) and path in SCALAR_AS_LIST and node.tag != "tag:yaml.org,2002:null":
        nodes: list[yaml.Node] = [node]
    elif isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        nodes = []
    elif isinstance(node, yaml.SequenceNode):
        nodes = list(node.value)
    else:
        ctx.error(node, path, "expected a list")
        return _BAD
    items = []
    for index, child in enumerate(nodes):
        value = _convert(item_hint, child, f"{path}[{index}]", ctx)
        if value is not _BAD:
            items.append(value)
    return tuple(items)


def _construct(node: yaml.ScalarNode) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node)
    except yaml.YAMLError:  # an unknown tag such as !!python/object
        return _BAD
    finally:
        loader.dispose()


def _convert_scalar(hint: Any, node: yaml.Node, path: str, ctx: _Ctx) -> Any:
    want = _SCALARS.get(hint, str(hint))
    if not isinstance(node, yaml.ScalarNode):
        ctx.error(
            node,
            path,
            f"expected {want}, got a {'list' if isinstance(node, yaml.SequenceNode) else 'mapping'}",
        )
        return _BAD
    raw = _construct(node)
    if raw is _BAD:
        ctx.error(node, path, f"unsupported YAML tag {node.tag}")
        return _BAD
    value: Any = _coerce(hint, raw)
    if value is _BAD:
        ctx.error(node, path, f"expected {want}, got {raw!r}")
        return _BAD
    generic = re.sub(r"\[\d+\]", "[]", path)
    if hint is str and generic in PATH_KEYS:
        value = expand_path(value)
    if hint is Path:
        value = Path(expand_path(value))
    check = CHECKS.get(generic)
    problem = check(value) if check else None
    if problem:
        ctx.error(node, path, problem)
        return _BAD
    return value


def _coerce(hint: Any, raw: Any) -> Any:
    if hint is bool:
        return raw if isinstance(raw, bool) else _BAD
    if hint is int:
        return raw if isinstance(raw, int) and not isinstance(raw, bool) else _BAD
    if hint is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            return _BAD
        return float(raw) if math.isfinite(raw) else _BAD
    if hint in (str, Path, Secret):
        if raw is None or isinstance(raw, bool | list | dict):
            return _BAD
        return Secret(raw) if hint is Secret else str(raw)
    return _BAD


def schema_keys(cls: type = Config, prefix: str = "") -> list[str]:
    """Every key path the schema knows, e.g. `players.vlc.poll_interval` (for docs tests)."""
    keys: list[str] = []
    for name, (_field, hint) in _fields(cls).items():
        inner = hint
        if typing.get_origin(hint) is tuple:
            inner = typing.get_args(hint)[0]
        if dataclasses.is_dataclass(inner):
            sub = f"{prefix}{name}[]." if inner is not hint else f"{prefix}{name}."
            keys.extend(schema_keys(typing.cast(type, inner), sub))
        else:
            keys.append(f"{prefix}{name}")
    return keys


__all__ = [
    "Config",
    "IdentifyConfig",
    "LogConfig",
    "NotifyConfig",
    "PlayersConfig",
    "ScrobbleConfig",
    "TraktConfig",
    "load_config",
    "parse_config",
    "schema_keys",
]
