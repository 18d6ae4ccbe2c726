"""GitLab's product hierarchy: group -> stage -> section.

Metric definitions name a ``product_group`` (``source_code``, or in older files the label form
``group::source code``). The stage a metric's users are counted under comes from this mapping.

The mapping is a JSON file (default: ``fixtures/stages.json``; operators may point
``PINGTALLY_STAGES_FILE`` at their own copy) with four tables::

    sections: {<section>: {"name": <display name>}}
    stages:   {<stage>:   {"name": <display name>, "section": <section or null>}}
    groups:   {<group>:   {"name": ..., "stage": <stage>, "section": <section>,
                           "retired"?: bool, "fallback"?: bool, "note"?: str}}
    aliases:  {<old group>: <group> | null}

An alias points a group that was renamed or merged at its successor; ``null`` marks a group
that is gone without one (it then has no stage). Alias targets must be groups, not aliases.

Pure domain code: no framework imports.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "GroupInfo",
    "StageMap",
    "StagesFileError",
    "default_stages_file",
    "normalise_group",
    "normalise_key",
]

_SEPARATORS = re.compile(r"(?:::|:|\s)+")
_GROUP_PREFIX = "group::"


class StagesFileError(ValueError):
    """The stages mapping file is missing, unreadable or not shaped as expected."""


def normalise_key(name: str) -> str:
    """Turn a section/stage/group name into its key form.

    Lowercase, trim, and turn ``::``, ``:`` and runs of whitespace into one ``_``. Hyphens are
    kept (``anti-abuse``, ``5-min-app``). Applying it to a key returns the key unchanged.
    """
    return _SEPARATORS.sub("_", name.strip().lower()).strip("_")


def normalise_group(name: str) -> str:
    """Normalise a ``product_group`` value to a group key.

    ``group::source code`` -> ``source_code``; ``group::distribution::deploy`` ->
    ``distribution_deploy``; ``source_code`` -> ``source_code`` (idempotent).
    """
    value = name.strip().lower()
    if value.startswith(_GROUP_PREFIX):
        value = value[len(_GROUP_PREFIX):]
    return normalise_key(value)


def default_stages_file() -> Path:
    """The mapping shipped with pingtally: ``fixtures/stages.json`` at the repository root."""
    return Path(__file__).resolve().parents[1] / "fixtures" / "stages.json"


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A product group as placed in the mapping."""

    key: str
    name: str
    stage: str
    section: str | None
    retired: bool = False  # only in an older snapshot, no successor known


class StageMap:
    """Lookups over the group -> stage -> section mapping.

    Build it with :meth:`load`. Every lookup accepts raw names (label form, display name or
    key): they are normalised first, then renamed groups are followed through ``aliases``.
    """

    __slots__ = ("_groups", "_aliases", "_stages", "_sections", "source")

    def __init__(
        self,
        groups: dict[str, GroupInfo],
        aliases: dict[str, str | None],
        stages: dict[str, tuple[str, str | None]],
        sections: dict[str, str],
        source: str | None = None,
    ) -> None:
        self._groups = groups
        self._aliases = aliases
        self._stages = stages  # stage -> (display name, section)
        self._sections = sections  # section -> display name
        self.source = source

    # -- loading -----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path | None = None) -> "StageMap":
        """Read a mapping file (default: :func:`default_stages_file`).

        Raises :class:`StagesFileError` when the file cannot be read, is not JSON, or its
        tables do not fit together (a group on an unknown stage, an alias to nowhere...).
        """
        file = Path(path) if path is not None else default_stages_file()
        try:
            raw = json.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise StagesFileError(f"cannot read stages file {file}: {exc.strerror or exc}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StagesFileError(f"stages file {file} is not valid JSON: {exc}") from None
        return cls.from_data(raw, source=str(file))

    @classmethod
    def from_data(cls, raw: Any, source: str | None = None) -> "StageMap":
        """Build a map from already-parsed mapping data (same shape as the file)."""
        where = source or "stages data"

        def fail(message: str) -> StagesFileError:
            return StagesFileError(f"{where}: {message}")

        if not isinstance(raw, dict):
            raise fail("top level must be an object")
        for table in ("stages", "groups"):
            if not isinstance(raw.get(table), dict):
                raise fail(f"missing or invalid '{table}' table (expected an object)")
        raw_sections = raw.get("sections", {})
        raw_aliases = raw.get("aliases", {})
        if not isinstance(raw_sections, dict) or not isinstance(raw_aliases, dict):
            raise fail("'sections' and 'aliases' must be objects when present")

        sections: dict[str, str] = {}
        for key, entry in raw_sections.items():
            name = entry.get("name") if isinstance(entry, dict) else None
            sections[normalise_key(key)] = name if isinstance(name, str) and name else key

        stages: dict[str, tuple[str, str | None]] = {}
        for key, entry in raw["stages"].items():
            if not isinstance(entry, dict):
                raise fail(f"stage {key!r} must be an object")
            section = entry.get("section")
            if section is not None and not isinstance(section, str):
                raise fail(f"stage {key!r}: 'section' must be a string or null")
            name = entry.get("name")
            stage_key = normalise_key(key)
            stages[stage_key] = (
                name if isinstance(name, str) and name else _title(stage_key),
                normalise_key(section) if section else None,
            )

        groups: dict[str, GroupInfo] = {}
        for key, entry in raw["groups"].items():
            if not isinstance(entry, dict):
                raise fail(f"group {key!r} must be an object")
            stage = entry.get("stage")
            if not isinstance(stage, str) or normalise_key(stage) not in stages:
                raise fail(f"group {key!r} is on unknown stage {stage!r}")
            stage = normalise_key(stage)
            section = entry.get("section", stages[stage][1])
            if section is not None and not isinstance(section, str):
                raise fail(f"group {key!r}: 'section' must be a string or null")
            group_key = normalise_group(key)
            name = entry.get("name")
            groups[group_key] = GroupInfo(
                key=group_key,
                name=name if isinstance(name, str) and name else key,
                stage=stage,
                section=normalise_key(section) if section else None,
                retired=bool(entry.get("retired", False)),
            )

        aliases: dict[str, str | None] = {}
        for old, new in raw_aliases.items():
            old_key = normalise_group(old)
            if old_key in groups:
                raise fail(f"alias {old!r} is also a group")
            if new is None:
                aliases[old_key] = None
                continue
            if not isinstance(new, str) or normalise_group(new) not in groups:
                raise fail(f"alias {old!r} points to unknown group {new!r}")
            aliases[old_key] = normalise_group(new)

        return cls(groups, aliases, stages, sections, source=source)

    # -- lookups -----------------------------------------------------------------------------

    def group(self, name: str | None) -> GroupInfo | None:
        """The group a ``product_group`` value names, following aliases; None if unknown."""
        if not name or not isinstance(name, str):
            return None
        key = normalise_group(name)
        info = self._groups.get(key)
        if info is None and key in self._aliases:
            target = self._aliases[key]
            info = self._groups.get(target) if target else None
        return info

    def stage_of_group(self, name: str | None) -> str | None:
        """Stage key of a group (after normalising and aliases), or None."""
        info = self.group(name)
        return info.stage if info else None

    def section_of_stage(self, stage: str | None) -> str | None:
        """Section key of a stage, or None for unknown stages and stages without a section."""
        if not stage:
            return None
        entry = self._stages.get(normalise_key(stage))
        return entry[1] if entry else None

    def stage_name(self, stage: str) -> str:
        """Display name of a stage; unknown keys get a title-cased form (``data_stores`` ->
        ``Data Stores``)."""
        key = normalise_key(stage)
        entry = self._stages.get(key)
        return entry[0] if entry else _title(key)

    def section_name(self, section: str) -> str:
        """Display name of a section, with the same title-case fallback."""
        key = normalise_key(section)
        return self._sections.get(key) or _title(key)

    def stages(self) -> list[str]:
        """Stage keys in file order (the mapping's product order, not alphabetical)."""
        return list(self._stages)

    def sections(self) -> list[str]:
        """Section keys in file order."""
        return list(self._sections)

    def groups(self, stage: str | None = None) -> list[GroupInfo]:
        """All groups (aliases excluded), or only those of ``stage``, in file order."""
        if stage is None:
            return list(self._groups.values())
        key = normalise_key(stage)
        return [info for info in self._groups.values() if info.stage == key]

    def has_stage(self, stage: str) -> bool:
        """True when ``stage`` is a stage of this mapping."""
        return normalise_key(stage) in self._stages

    def __repr__(self) -> str:
        return (
            f"StageMap({len(self._groups)} groups, {len(self._aliases)} aliases, "
            f"{len(self._stages)} stages, source={self.source!r})"
        )


def _title(key: str) -> str:
    return key.replace("_", " ").replace("-", " ").title()
