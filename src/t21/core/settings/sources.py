"""The environment and `.env` sources of every settings model, analysing each field once.

pydantic-settings works out, on every instantiation, each field's variable names and whether its
value is JSON (a walk over its type) — for `Settings` and every network's model, twice each
(environment and `.env`): most of a `load_settings()` call. That work depends only on the model,
so these sources keep it per model; the variables and the file are still read on every call
(once: the default sources read them, these take what they read).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic.fields import FieldInfo

FieldNames = list[tuple[str, str, bool]]

# (model, field, prefix, prefix target, case-sensitive) -> the field's names, as
# `_extract_field_info` gives them; the model's fields are fixed once it is built.
_names: dict[tuple[type[BaseSettings], str, str, str, bool], FieldNames] = {}
# id(field) -> (the field, whether its value is JSON and whether it may fail to parse).
_complexity: dict[int, tuple[FieldInfo, tuple[bool, bool]]] = {}


class _ReadOnce(EnvSettingsSource):
    """A source given what this call's default source read, analysing each field once."""

    def __init__(
        self, settings_cls: type[BaseSettings], read: Mapping[str, str | None], **options: Any
    ) -> None:
        self._read = read
        super().__init__(settings_cls, **options)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._read

    def _extract_field_info(
        self, field: FieldInfo, field_name: str, model_config: Mapping[str, Any] | None = None
    ) -> FieldNames:
        return _extract_once(self, field, field_name, model_config)

    def _field_is_complex(self, field: FieldInfo) -> tuple[bool, bool]:
        return _complex_once(self, field)


class CachedEnvSource(_ReadOnce):
    """The environment variables, as the default source of this call read them."""


class CachedDotEnvSource(_ReadOnce, DotEnvSettingsSource):
    """The `.env` file's variables, as the default source of this call read them."""

    def __call__(self) -> dict[str, Any]:
        # No file, or nothing in it: nothing to read for any field.
        if not self.env_vars:
            return {}
        if self.config.get("extra") == "ignore" and not self.env_nested_delimiter:
            # The file's other variables would only be extras, which the model ignores: its
            # fields' own are all that matter (the default walks every field's type for each
            # other variable).
            return EnvSettingsSource.__call__(self)
        return super().__call__()


def _extract_once(
    source: EnvSettingsSource,
    field: FieldInfo,
    field_name: str,
    model_config: Mapping[str, Any] | None,
) -> FieldNames:
    if model_config is not None:  # a nested model's field: not one of the model's own
        return EnvSettingsSource._extract_field_info(source, field, field_name, model_config)
    key = (
        source.settings_cls,
        field_name,
        source.env_prefix,
        source.env_prefix_target,
        bool(source.case_sensitive),
    )
    names = _names.get(key)
    if names is None:
        names = _names[key] = EnvSettingsSource._extract_field_info(source, field, field_name)
    return list(names)


def _complex_once(source: EnvSettingsSource, field: FieldInfo) -> tuple[bool, bool]:
    known = _complexity.get(id(field))
    if known is not None and known[0] is field:
        return known[1]
    answer = EnvSettingsSource._field_is_complex(source, field)
    _complexity[id(field)] = (field, answer)
    return answer


def cached_sources(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
    dotenv_settings: PydanticBaseSettingsSource,
    file_secret_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The default sources in their default order, the environment's and `.env`'s replaced by
    twins that keep each field's analysis: configured as pydantic-settings configured the
    defaults (keywords such as `_env_file` and `_env_prefix` included), with what they read."""
    assert isinstance(env_settings, EnvSettingsSource)
    assert isinstance(dotenv_settings, DotEnvSettingsSource)
    env = CachedEnvSource(settings_cls, env_settings.env_vars, **_env_options(env_settings))
    dotenv = CachedDotEnvSource(
        settings_cls,
        dotenv_settings.env_vars,
        env_file=dotenv_settings.env_file,
        env_file_encoding=dotenv_settings.env_file_encoding,
        dotenv_filtering=dotenv_settings.dotenv_filtering,
        env_file_depth=dotenv_settings.env_file_depth,
        **_env_options(dotenv_settings),
    )
    return init_settings, env, dotenv, file_secret_settings


def _env_options(source: EnvSettingsSource) -> dict[str, Any]:
    return {
        "case_sensitive": source.case_sensitive,
        "env_prefix": source.env_prefix,
        "env_prefix_target": source.env_prefix_target,
        "env_nested_delimiter": source.env_nested_delimiter,
        "env_nested_max_split": source.env_nested_max_split,
        "env_ignore_empty": source.env_ignore_empty,
        "env_parse_none_str": source.env_parse_none_str,
        "env_parse_enums": source.env_parse_enums,
        "_init_state": source._init_state,
    }
