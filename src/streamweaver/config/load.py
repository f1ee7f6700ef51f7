"""Loading ``config.yml``: YAML, secrets from the environment, clear errors."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from streamweaver.config.model import Config
from streamweaver.errors import ConfigError

ENV_SECRETS: dict[str, tuple[str, ...]] = {
    "STREAMWEAVER_REDIS_URL": ("redis", "url"),
    "STREAMWEAVER_REDIS_USERNAME": ("redis", "username"),
    "STREAMWEAVER_REDIS_PASSWORD": ("redis", "password"),
    "STREAMWEAVER_S3_ACCESS_KEY": ("storage", "s3", "access_key"),
    "STREAMWEAVER_S3_SECRET_KEY": ("storage", "s3", "secret_key"),
    "STREAMWEAVER_S3_SESSION_TOKEN": ("storage", "s3", "session_token"),
    "STREAMWEAVER_MONITORING_TOKEN": ("monitoring", "token"),
}
"""Environment variables that set a secret instead of the file; they win."""

SECRET_KEYS = frozenset(
    {"password", "url", "access_key", "secret_key", "session_token", "token"}
)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read, merge with the environment and validate a configuration file.

    Raises :class:`ConfigError` with one line per problem, each naming the key
    path, the offending value (redacted when secret) and what is allowed.
    """
    source = str(path) if path is not None else "<defaults>"
    raw = _read_yaml(Path(path)) if path is not None else {}
    return config_from_mapping(raw, source=source, environ=os.environ)


def config_from_mapping(
    raw: Mapping[str, Any],
    *,
    source: str = "<config>",
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Validate an already-parsed configuration mapping."""
    data = _apply_env_secrets(dict(raw), environ or {})
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {_describe(error)}" for error in exc.errors()]
        raise ConfigError("\n".join(lines), path=_path_of(exc.errors()[0])) from None


def redacted(config: Config) -> dict[str, Any]:
    """The effective configuration as plain data, with every secret masked."""
    return config.model_dump(mode="json", by_alias=True)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: {where}not valid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of sections "
            f"(redis, storage, retention, ...), not {type(data).__name__}"
        )
    return data


def _apply_env_secrets(data: dict[str, Any], environ: Mapping[str, str]) -> dict:
    for variable, key_path in ENV_SECRETS.items():
        value = environ.get(variable)
        if not value:
            continue
        node = data
        for key in key_path[:-1]:
            child = node.get(key)
            node[key] = child = dict(child) if isinstance(child, dict) else {}
            node = child
        node[key_path[-1]] = value
    return data


def _path_of(error: Mapping[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    if "path" in ctx:
        return str(ctx["path"])
    return ".".join(str(part) for part in error["loc"])


def _describe(error: Mapping[str, Any]) -> str:
    path = _path_of(error)
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key; {_allowed_here(error['loc'])}"
    if kind == "missing":
        return f"{path}: required but missing"
    if kind == "required_for":
        return str(error["msg"])

    message = str(error["msg"]).removeprefix("Value error, ")
    if kind in ("value_error", "assertion_error") and "is not a" in message:
        return f"{path}: {message}"
    leaf = str(error["loc"][-1]) if error["loc"] else ""
    value = "<redacted>" if leaf in SECRET_KEYS else repr(error.get("input"))
    if not error["loc"]:
        return message
    return f"{path}: {_lower_first(message)} (got {value})"


def _allowed_here(loc: tuple[Any, ...]) -> str:
    model = _model_at(Config, loc[:-1])
    if model is None:
        return "this section takes no extra keys"
    allowed = sorted(info.alias or name for name, info in model.model_fields.items())
    hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    guess = f"did you mean {hint[0]!r}? " if hint else ""
    return f"{guess}allowed keys here: {', '.join(allowed)}"


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    current: Any = model
    skip_next = False
    for part in loc:
        if skip_next:
            skip_next = False
            continue
        fields = {
            info.alias or name: info for name, info in current.model_fields.items()
        }
        info = fields.get(str(part))
        if info is None:
            return None
        annotation = info.annotation
        if get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
            skip_next = True
        current = _first_model(annotation)
        if current is None:
            return None
    return current


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
