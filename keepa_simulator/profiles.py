"""Market profiles: how the simulated market moves and how Keepa reports it.

``calibrated`` (the default) reproduces what the real ``/deal`` samples of the shipped query
show (tests/fixtures/keepa/, FIX 2 and 3; the figures and how they were measured are in the
README, "Keepa simulator", and docs/keepa.md §11). ``busy`` is the older, fast-moving market:
about three times the churn, every listed deal updated within 12 hours, nothing failing; it is
kept for stress tests and for the tests and benchmarks written against its churn.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    # Random market changes per simulated minute (re-crawls come on top).
    changes_per_minute: int
    # Share of products generated in a deal.
    deal_share: float
    # current[2] (USED) is the lowest used item price without shipping (docs/keepa.md §11);
    # False: the lowest landed used price, as the busy market always had it.
    used_excludes_shipping: bool
    # The used buy box (type 32) goes to a Fulfilled-by-Amazon used offer when one is close to
    # the cheapest copy (product.used_buy_box), so it differs from the cheapest landed offer
    # in a fair share of products; False: always the cheapest landed used offer.
    used_buy_box_prefers_fba: bool
    # creationDate moves only when the deal's price (current[2], or the main price of a new
    # product) changes; False: any change of an offer-derived price re-dates it.
    creation_follows_deal_price: bool
    # /deal lists products Keepa updated within this many minutes.
    deal_window: int
    # Share of offers look-ups that fail (offersSuccessful false, 1 token).
    offers_fail_rate: float
    # A /deal page without deals omits the "deals" object.
    omit_empty_deals: bool
    # The calibrated market's mix of changes and re-crawl intervals (Market._calibrated_change,
    # crawl_interval); False keeps the busy market's.
    calibrated_moves: bool

    def crawl_interval(self, rng: random.Random) -> int:
        """Minutes between two re-crawls of one product (each re-crawl moves lastUpdate)."""
        if not self.calibrated_moves:
            slow = rng.random() < 0.08
            return rng.randint(900, 1800) if slow else rng.randint(420, 700)
        # Keepa re-reads popular products often and others rarely: a mix that gives listed
        # deals a median lastUpdate age of about 90 minutes, a p90 of 300-640 minutes and a
        # few percent older than 12 hours (FIX 2, 3).
        roll = rng.random()
        if roll < 0.45:
            return rng.randint(60, 240)
        if roll < 0.74:
            return rng.randint(200, 800)
        return rng.randint(1000, 3000)


BUSY = Profile(
    name="busy",
    changes_per_minute=40,
    deal_share=0.65,
    used_excludes_shipping=False,
    used_buy_box_prefers_fba=False,
    creation_follows_deal_price=False,
    deal_window=12 * 60,
    offers_fail_rate=0.0,
    omit_empty_deals=False,
    calibrated_moves=False,
)

CALIBRATED = Profile(
    name="calibrated",
    changes_per_minute=15,
    deal_share=0.42,
    used_excludes_shipping=True,
    used_buy_box_prefers_fba=True,
    creation_follows_deal_price=True,
    deal_window=18 * 60,
    offers_fail_rate=0.03,
    omit_empty_deals=True,
    calibrated_moves=True,
)

PROFILES = {p.name: p for p in (CALIBRATED, BUSY)}
DEFAULT = CALIBRATED.name


def get(name: str | Profile) -> Profile:
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}") from None
