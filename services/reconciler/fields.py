"""R7, R8 and the synced links: what a card's fields and links become, at creation and on later syncs.
Pure."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from services.reconciler.mapping import link_value
from services.reconciler.model import CARD_COLUMNS, CurrentMember, LinkValue, MappedCard
from shared.card_links import LINK_FIELDS, link_problem
from shared.config import FieldTarget, FieldToggles, SyncConfig

Overwritten = tuple[list[str], list[str], list[str]]


def _link_toggles(config: SyncConfig) -> Iterator[tuple[str, FieldToggles]]:
    for source in LINK_FIELDS:
        yield source, config.toggles(source)
    for mapping in config.custom_mappings:
        if not isinstance(mapping.target, FieldTarget):
            yield (
                f"mapping:{mapping.target.label}",
                FieldToggles(sync=mapping.sync, overwrite=mapping.overwrite),
            )


def _link_value(card: MappedCard, source: str) -> str | None:
    if source in LINK_FIELDS:
        value = card.fields.get(source)
        return link_value(LINK_FIELDS[source][0], value) if value else None
    link = card.links.get(source)
    return link.value if link else None


def _link(card: MappedCard, source: str) -> LinkValue | None:
    if source in LINK_FIELDS:
        value = _link_value(card, source)
        return LinkValue(*LINK_FIELDS[source], value) if value else None
    return card.links.get(source)


def desired_links(
    card: MappedCard, config: SyncConfig
) -> Iterator[tuple[str, LinkValue | None, FieldToggles]]:
    """Every link a sync owns, as (source, wanted value or None, the toggles that govern it)."""
    for source, rule in _link_toggles(config):
        yield source, _link(card, source), rule


def _custom_toggles(config: SyncConfig) -> Iterator[tuple[str, FieldToggles]]:
    for mapping in config.custom_mappings:
        if isinstance(mapping.target, FieldTarget):
            yield mapping.target.name, FieldToggles(sync=mapping.sync, overwrite=mapping.overwrite)


def overwritten(config: SyncConfig) -> Overwritten:
    """The card columns, custom fields and link sources whose overwrite toggle is on."""
    columns = [f for f in CARD_COLUMNS if config.toggles(f).overwrite]
    custom = [name for name, rule in _custom_toggles(config) if rule.overwrite]
    links = [source for source, rule in _link_toggles(config) if rule.overwrite]
    return columns, custom, links


def fingerprint(
    card: MappedCard, config: SyncConfig, spec: Overwritten | None = None
) -> list[str | None] | None:
    """The values a member holds when ``updated`` finds nothing to change, in ``overwritten`` order: columns,
    custom fields, link values. None when the user cannot leave its member unchanged (disabled, and disabled
    users are removed: R2), or when a link value was refused: the rules report it on every run that sees it.
    The gathering compares it with the member in SQL, so unchanged members never reach Python. ``spec``:
    ``overwritten(config)``, when the caller fingerprints many cards under one config."""
    if (not card.enabled and config.remove_disabled_users) or card.refused:
        return None
    columns, custom, links = spec or overwritten(config)
    return (
        [card.fields.get(f) for f in columns]
        + [card.custom.get(name) for name in custom]
        + [_link_value(card, source) for source in links]
    )


@dataclass(frozen=True, slots=True)
class Synced:
    """The card columns, custom fields and link sources whose sync toggle is on: what a created member
    gets."""

    columns: tuple[str, ...]
    custom: tuple[str, ...]
    links: tuple[str, ...]


def synced(config: SyncConfig) -> Synced:
    return Synced(
        tuple(f for f in CARD_COLUMNS if config.toggles(f).sync),
        tuple(name for name, rule in _custom_toggles(config) if rule.sync),
        tuple(source for source, rule in _link_toggles(config) if rule.sync),
    )


def created(
    card: MappedCard, config: SyncConfig, spec: Synced | None = None
) -> tuple[dict, dict, dict[str, LinkValue | None]]:
    """Fields, custom fields and links of a member a sync creates: what the sync toggles let through.
    ``spec``: ``synced(config)``, when the caller creates many members under one config."""
    spec = spec or synced(config)
    fields = dict.fromkeys(CARD_COLUMNS)
    for name in spec.columns:
        fields[name] = card.fields.get(name)
    custom = {name: value for name in spec.custom if (value := card.custom.get(name)) is not None}
    links = {source: link for source in spec.links if (link := _link(card, source))}
    return fields, custom, links


def updated(
    card: MappedCard, current: CurrentMember, config: SyncConfig
) -> tuple[dict, dict, dict[str, dict[str, Any]], dict[str, LinkValue | None]]:
    """New fields, custom fields, the changes (field -> old/new) and link writes (None deletes) of an existing
    member: only fields whose overwrite toggle is on, only where the value differs; a refused link stays."""
    fields = dict(current.fields)
    changes: dict[str, dict[str, Any]] = {}
    for name in CARD_COLUMNS:
        new = card.fields.get(name)
        if config.toggles(name).overwrite and new != current.fields.get(name):
            changes[name] = {"old": current.fields.get(name), "new": new}
            fields[name] = new
    custom = dict(current.custom)
    for name, rule in _custom_toggles(config):
        new = card.custom.get(name)
        if rule.overwrite and new != current.custom.get(name):
            changes[f"fields.{name}"] = {"old": current.custom.get(name), "new": new}
            if new is None:
                del custom[name]
            else:
                custom[name] = new
    links: dict[str, LinkValue | None] = {}
    for source, link, rule in desired_links(card, config):
        old = current.links.get(source)
        # A refused value leaves the member's link as it is, unless that one may not be a link either (it was
        # synced before values were checked): then it goes, as an emptied value's would.
        if source in card.refused and (old is None or link_problem(old) is None):
            continue
        new_value = link.value if link else None
        if rule.overwrite and new_value != old:
            changes[f"links.{source}"] = {"old": old, "new": new_value}
            links[source] = link
    return fields, custom, changes, links
