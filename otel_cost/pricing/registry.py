"""The versioned rate-card registry and event pricing.

Cards come from three places: the built-in LiteLLM snapshot, cards added to
the local registry with ``otel-cost pricing add``, and ``--pricing-file``
specs given to one command. An event is priced with the newest card whose
effective date is not after the event's timestamp.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path

from otel_cost import config
from otel_cost.errors import ConfigError, RateCardError
from otel_cost.events import CostEvent, CostStatus, Usage
from otel_cost.pricing.engine import PricedUsage, RatePlan
from otel_cost.pricing.ratecard import RateCard, load_rate_card
from otel_cost.pricing.resolve import resolve_model

logger = logging.getLogger(__name__)

BUILTIN_FILE = "litellm-model-prices-2026-07-24.json"
BUILTIN_VERSION = "litellm-2026-07-24"
BUILTIN_EFFECTIVE = datetime(2026, 7, 24, tzinfo=UTC)
# The nominal start of a card given with --pricing-file and no date. Such a
# card is pinned, so it overrides the dated cards for events at any time.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INDEX_NAME = "index.json"
#: Model names and card layers whose resolution a registry keeps.
MAX_CACHED_MODELS = 4096
#: The version of the card that prices a model, the card's name for the model,
#: and its rate plan. The last two are None when no card in force lists it.
ResolvedModel = tuple[str, str | None, RatePlan | None]


@dataclass(frozen=True)
class Quote:
    """The price of one request: what was resolved and what it costs."""

    model: str
    resolved_model: str | None
    pricing_version: str
    priced: PricedUsage | None

    @property
    def status(self) -> CostStatus:
        """Whether the request could be priced."""
        if self.priced is None or self.priced.missing:
            return CostStatus.UNPRICED
        return CostStatus.PRICED


class PricingRegistry:
    """Rate cards layered by date: newer cards override older ones model by model.

    For an event at time ``ts`` the cards in force are the pinned cards (given
    without a date), then every dated card that took effect at or before
    ``ts``, newest first. A model is priced by the first of those cards that
    lists it, so a small card of negotiated rates overrides only its models.
    An event older than every card is priced with the oldest card.
    """

    def __init__(self, cards: Iterable[RateCard]) -> None:
        loaded = list(cards)
        if not loaded:
            raise RateCardError("no rate card is loaded")
        self.cards = sorted(loaded, key=lambda card: card.effective_from)
        self._dated = [card for card in self.cards if not card.pinned]
        # Among pinned cards the one given last wins.
        self._pinned = [card for card in reversed(loaded) if card.pinned]
        self._starts = [card.effective_from for card in self._dated]
        # Caches keyed by how many dated cards are in force, which is all that
        # decides the card order at a time. The cards do not change after
        # loading, so an entry never goes stale.
        self._layers: dict[int, list[RateCard]] = {}
        self._plans: dict[tuple[str, int], ResolvedModel] = {}

    def cards_at(self, ts: datetime) -> list[RateCard]:
        """Return the cards in force at ``ts``, the first one winning."""
        return list(self._layer(bisect.bisect_right(self._starts, ts)))

    def card_at(self, ts: datetime) -> RateCard:
        """Return the card with the highest precedence at ``ts``."""
        return self._layer(bisect.bisect_right(self._starts, ts))[0]

    def _layer(self, count: int) -> list[RateCard]:
        cards = self._layers.get(count)
        if cards is None:
            dated = self._dated[:count][::-1] or self._dated[:1]
            cards = self._layers[count] = [*self._pinned, *dated]
        return cards

    def quote(
        self,
        model: str,
        usage: Usage,
        ts: datetime,
        service_tier: str = "",
        speed: str = "",
        single_request: bool = True,
    ) -> Quote:
        """Price one request (or a summed total) with the cards in force at ``ts``."""
        version, resolved, plan = self._plan(model, ts)
        if plan is None:
            return Quote(model, None, version, None)
        priced = plan.price(usage, service_tier, speed, single_request)
        return Quote(model, resolved, version, priced)

    def _plan(self, model: str, ts: datetime) -> ResolvedModel:
        count = bisect.bisect_right(self._starts, ts)
        key = (model, count)
        found = self._plans.get(key)
        if found is None:
            if len(self._plans) >= MAX_CACHED_MODELS:
                # Model names come from clients, so the cache is bounded.
                self._plans.clear()
            found = self._plans[key] = self._resolve(model, count)
        return found

    def _resolve(self, model: str, count: int) -> ResolvedModel:
        cards = self._layer(count)
        for card in cards:
            resolved = resolve_model(model, card.models.__contains__)
            if resolved is not None:
                return card.version, resolved, RatePlan(card.models[resolved])
        return cards[0].version, None, None

    def price_event(self, event: CostEvent) -> CostEvent:
        """Fill in the resolved model, pricing version and cost of ``event``."""
        # The steps of `quote`, without building a Quote and a PricedUsage.
        version, resolved, plan = self._plan(event.model, event.ts)
        priced = None
        if plan is not None:
            priced = plan.price_lines(
                event.usage,
                event.service_tier,
                event.attributes.get("speed", ""),
                single_request=event.attributes.get("granularity") != "session",
            )
        event.resolved_model = resolved or ""
        event.pricing_version = version
        # Priced only when every counted category has a rate, as `Quote.status`.
        if priced is not None and not priced.missing:
            event.cost_lines = priced.lines
            event.cost_usd = priced.total_usd
            if priced.unpriced_fees:
                event.attributes["otel_cost.unpriced_fees"] = ",".join(
                    priced.unpriced_fees
                )
            if event.cost_status is not CostStatus.ESTIMATED:
                event.cost_status = CostStatus.PRICED
        else:
            event.cost_lines = []
            event.cost_usd = None
            event.cost_status = CostStatus.UNPRICED
        return event


def registry_dir() -> Path:
    """Return the directory of the local rate-card registry."""
    return config.data_dir() / "rate-cards"


def builtin_card() -> RateCard:
    """Load the rate card shipped with the package."""
    resource = resources.files("otel_cost.pricing") / "data" / BUILTIN_FILE
    with resources.as_file(resource) as path:
        return load_rate_card(path, BUILTIN_VERSION, BUILTIN_EFFECTIVE)


def load_registry(pricing_files: Iterable[str] = ()) -> PricingRegistry:
    """Load the built-in card, the local registry and any extra card specs."""
    cards = [builtin_card(), *registered_cards()]
    specs = [*config.pricing_files_from_env(), *pricing_files]
    cards.extend(card_from_spec(spec) for spec in specs)
    for card in cards:
        for finding in card.findings:
            logger.debug(
                "rate card %s: %s %s", card.version, finding.model, finding.message
            )
    return PricingRegistry(cards)


def card_from_spec(spec: str) -> RateCard:
    """Load a card from ``PATH`` or ``PATH@YYYY-MM-DD``."""
    path_text, _, date_text = spec.rpartition("@")
    if not path_text or not _looks_like_date(date_text):
        _check_not_a_bad_date(spec)
        path_text, date_text = spec, ""
    path = Path(path_text).expanduser()
    effective = parse_effective_date(date_text) if date_text else EPOCH
    version = f"file:{path.name}:{file_digest(path)[:12]}"
    card = load_rate_card(path, version, effective)
    card.pinned = not date_text
    return card


def _check_not_a_bad_date(spec: str) -> None:
    """Raise `ConfigError` when ``spec`` ends in ``@`` and a non-date, and is no file.

    A part after the last ``@`` that contains a path separator belongs to a
    path, so that spec is left to fail as a missing file.
    """
    _, at, date_text = spec.rpartition("@")
    if not at or "/" in date_text or "\\" in date_text:
        return
    if Path(spec).expanduser().is_file():
        return
    raise ConfigError(
        f"invalid effective date {date_text!r} in rate card {spec!r}; "
        "expected PATH@YYYY-MM-DD such as card.json@2026-09-01, or the path of "
        "an existing rate card"
    )


def _looks_like_date(text: str) -> bool:
    return len(text) == 10 and text[4] == "-" and text[7] == "-"


def parse_effective_date(text: str) -> datetime:
    """Parse ``YYYY-MM-DD`` (or a full ISO 8601 time) as a UTC instant."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"invalid effective date {text!r}; expected YYYY-MM-DD"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def file_digest(path: Path) -> str:
    """Return the SHA-256 of a file, or raise a rate-card error when it is missing."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise RateCardError(f"cannot read rate card {str(path)!r}: {exc}") from exc


def registered_cards() -> list[RateCard]:
    """Load every card added to the local registry."""
    return [
        load_rate_card(
            registry_dir() / entry["file"],
            entry["version"],
            parse_effective_date(entry["effective_from"]),
        )
        for entry in read_index()
    ]


def read_index() -> list[dict[str, str]]:
    """Return the registry's index entries, oldest first."""
    index = registry_dir() / INDEX_NAME
    if not index.exists():
        return []
    entries: list[dict[str, str]] = json.loads(index.read_text(encoding="utf-8"))
    return entries


def add_card(path: Path, effective: date, version: str | None = None) -> RateCard:
    """Copy a card into the local registry, in force from ``effective``."""
    effective_from = datetime(
        effective.year, effective.month, effective.day, tzinfo=UTC
    )
    name = version or f"{path.stem}-{effective.isoformat()}"
    card = load_rate_card(path, name, effective_from)
    if not card.models:
        raise RateCardError(
            f"rate card {str(path)!r} has no model with a valid price; "
            'expected LiteLLM\'s format: {"model": {"input_cost_per_token": ...}}'
        )
    entries = read_index()
    if any(entry["version"] == name for entry in entries):
        raise ConfigError(
            f"rate card version {name!r} already exists; choose --version"
        )
    target_dir = registry_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    file_name = f"{name}.json"
    shutil.copyfile(path, target_dir / file_name)
    entries.append(
        {
            "version": name,
            "effective_from": effective_from.isoformat(),
            "file": file_name,
            "sha256": file_digest(path),
            "added_at": datetime.now(UTC).isoformat(),
        }
    )
    entries.sort(key=lambda entry: entry["effective_from"])
    (target_dir / INDEX_NAME).write_text(
        json.dumps(entries, indent=2), encoding="utf-8"
    )
    return card


def remove_card(version: str) -> None:
    """Remove a card from the local registry; the built-in card cannot be removed."""
    entries = read_index()
    kept = [entry for entry in entries if entry["version"] != version]
    if len(kept) == len(entries):
        raise ConfigError(
            f"rate card {version!r} is not in the local registry; "
            "see `otel-cost pricing list`"
        )
    removed = next(entry for entry in entries if entry["version"] == version)
    (registry_dir() / removed["file"]).unlink(missing_ok=True)
    (registry_dir() / INDEX_NAME).write_text(
        json.dumps(kept, indent=2), encoding="utf-8"
    )
