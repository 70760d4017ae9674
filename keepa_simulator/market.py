"""A deterministic, moving Amazon marketplace: products, offers, sellers and their price history.

Everything is drawn from ``random.Random`` instances seeded from the market seed (never the
global generator): the initial catalogue from ``Random(seed)``, and the events of each simulated
minute from a generator seeded with (seed, minute). The market evolves lazily: ``advance_to``
applies every minute's events in order, so the state at a given clock does not depend on how
often anyone looked at it.

This module holds the market's state and its evolution; the catalogue is drawn in ``generate``
and the control API's staged edits are in ``control``.
"""

from __future__ import annotations

import heapq
import math
import random
import threading
from collections.abc import Iterable

from keepa_simulator import generate, profiles
from keepa_simulator.dealview import DealView
from keepa_simulator.generate import DEEP_DROP, USED_CONDITION_WEIGHTS, USED_CONDITIONS, cents
from keepa_simulator.product import Offer, Product, Seller
from keepa_simulator.profiles import Profile
from keepa_simulator.series import NEW, SALES

MAX_LIVE_OFFERS = 25
# Calibrated market: the share of changes to a product out of a deal that make one, and the
# re-crawl interval (minutes) from which a product counts as seldom read.
DEAL_APPEARS = 0.12
SLOW_CRAWL = 1000


class Market:
    """The simulated marketplace for one domain (amazon.com)."""

    def __init__(
        self,
        *,
        seed: int = 1,
        products: int = 6000,
        changes_per_minute: int = 40,
        genesis: int,
        profile: Profile | str = profiles.DEFAULT,
    ) -> None:
        self.profile = profiles.get(profile)
        self.seed = seed
        self.changes_per_minute = changes_per_minute
        self.genesis = genesis
        self.minute = genesis  # the last minute whose events have been applied
        self.quiet = False
        self.products: list[Product] = []
        self.by_asin: dict[str, Product] = {}
        self.sellers: dict[str, Seller] = {}
        self.seller_pool: list[str] = []  # the sellers generation draws from (not Amazon's)
        self._crawls: list[tuple[int, int]] = []  # (minute of next re-crawl, product index)
        self.products_added = 0
        # Products whose deal view is not built yet; built ahead of requests by warm().
        self.unwarmed: dict[str, Product] = {}
        rng = random.Random(seed)
        generate.make_sellers(self, rng, max(300, products // 15))
        for _ in range(products):
            generate.new_product(self, rng, genesis, fresh=False)

    def shifted(self, genesis: int) -> Market:
        """A copy of this market started at ``genesis`` instead (every time moved alike).

        Generation only ever uses times relative to its start, so this is the market that
        ``Market(..., genesis=genesis)`` would build, only much faster.
        """
        d = genesis - self.genesis
        m = Market.__new__(Market)
        m.seed = self.seed
        m.profile = self.profile
        m.changes_per_minute = self.changes_per_minute
        m.genesis = genesis
        m.minute = self.minute + d
        m.quiet = self.quiet
        m.sellers = {seller_id: s.shifted(d) for seller_id, s in self.sellers.items()}
        m.seller_pool = self.seller_pool[:]
        m.products = [p.shifted(d) for p in self.products]
        m.by_asin = {p.asin: p for p in m.products}
        m._crawls = [(t + d, i) for t, i in self._crawls]  # a uniform shift keeps heap order
        m.products_added = self.products_added
        m.unwarmed = dict(m.by_asin)
        return m

    def ensure_seller(self, seller_id: str) -> Seller:
        seller = self.sellers.get(seller_id)
        if seller is None:
            seller = Seller(seller_id, f"Seller {seller_id[-4:]}", 95, 100, False, self.minute, 1)
            self.sellers[seller_id] = seller
        return seller

    def register(self, product: Product, rng: random.Random, now: int, fresh: bool) -> None:
        """Put a new product on the market and schedule its first re-crawl."""
        index = len(self.products)
        self.products.append(product)
        self.by_asin[product.asin] = product
        self.unwarmed[product.asin] = product
        if self.profile.calibrated_moves:
            if fresh:
                product.crawl_interval = self.profile.crawl_interval(rng)
            first = product.crawl_interval  # new_product drew it and lastUpdate within it
        else:
            product.crawl_interval = self.profile.crawl_interval(rng)
            first = rng.randint(600, 705) if not fresh else product.crawl_interval
        heapq.heappush(self._crawls, (max(now + 1, product.last_update + first), index))

    # --- evolution -------------------------------------------------------------------------

    def advance_to(self, minute: int) -> int:
        """Apply the events of every minute up to ``minute``; return how many were applied."""
        applied = 0
        while self.minute < minute:
            self.minute += 1
            applied += self._run_minute(self.minute)
        return applied

    def _run_minute(self, minute: int) -> int:
        crawls = self._crawls
        events = 0
        while crawls and crawls[0][0] <= minute:
            _, index = heapq.heappop(crawls)
            product = self.products[index]
            if not self.quiet:
                # A re-crawl finds nothing new; it only moves lastUpdate, which is what keeps a
                # product inside /deal's window.
                product.touch(minute)
                self.unwarmed[product.asin] = product
                events += 1
            heapq.heappush(crawls, (minute + product.crawl_interval, index))
        if self.quiet or not self.products:
            return events
        rng = random.Random(self.seed * 1_000_003 + minute)
        spread = max(1, self.changes_per_minute // 4)
        count = max(0, self.changes_per_minute + rng.randint(-spread, spread))
        for _ in range(count):
            if rng.random() < 0.012:
                generate.new_product(self, rng, minute, fresh=True)
            else:
                product = self.products[rng.randrange(len(self.products))]
                # Calibrated: Keepa finds changes when it re-reads a product, so the ones it
                # reads seldom change seldom, and their lastUpdate can age past 12 hours.
                seldom = self.profile.calibrated_moves and product.crawl_interval >= SLOW_CRAWL
                if seldom and rng.random() < 0.85:
                    continue
                self._random_change(rng, product, minute)
                self.unwarmed[product.asin] = product
            events += 1
        return events

    def _random_change(self, rng: random.Random, p: Product, now: int) -> None:
        if self.profile.calibrated_moves:
            self._calibrated_change(rng, p, now)
            return
        ref = p.reference_price
        offers = sorted(p.main_offers(), key=lambda o: (o.landed, o.offer_id))
        main_condition = 1 if p.main_type == NEW else None
        roll = rng.random()
        if not offers:
            # Back in stock: a seller lists again, sometimes cheaply.
            share = rng.uniform(*DEEP_DROP) if roll < 0.5 else rng.uniform(0.9, 1.3)
            self._list_offer(rng, p, main_condition, int(ref * share), now)
        elif p.in_deal():
            lowest = offers[0]
            if roll < 0.2:
                lowest.reprice(*self._recovered(rng, lowest, ref), now)
            elif roll < 0.4:
                p.retire(lowest)  # sold, or withdrawn
            elif roll < 0.6:
                floor = ref * 0.15
                price = max(int(floor), int(lowest.landed * rng.uniform(0.88, 0.97)))
                if rng.random() < 0.5:
                    lowest.reprice(cents(price - lowest.shipping), lowest.shipping, now)
                else:
                    self._list_offer(rng, p, main_condition, price, now)
            elif roll < 0.75 and len(p.live_offers()) < MAX_LIVE_OFFERS:
                self._list_offer(rng, p, main_condition, int(ref * rng.uniform(0.9, 1.6)), now)
            elif roll < 0.88 and len(offers) > 1:
                p.retire(rng.choice(offers[1:]))
            else:
                self._move_rank(rng, p, now)
                return
        elif roll < 0.6:
            # A deal appears: the lowest seller cuts the price, or another seller undercuts.
            price = int(ref * rng.uniform(*DEEP_DROP))
            if rng.random() < 0.4:
                lowest = offers[0]
                lowest.reprice(cents(price - lowest.shipping), lowest.shipping, now)
            else:
                self._list_offer(rng, p, main_condition, price, now)
        elif roll < 0.75 and len(p.live_offers()) < MAX_LIVE_OFFERS:
            self._list_offer(rng, p, main_condition, int(ref * rng.uniform(0.9, 1.6)), now)
        elif roll < 0.88:
            p.retire(rng.choice(offers))
        else:
            self._move_rank(rng, p, now)
            return
        p.refresh_offers(now)

    def _calibrated_change(self, rng: random.Random, p: Product, now: int) -> None:
        """One change of the calibrated market. Unlike the busy market's, a deal mostly moves
        within the deal (small cuts and small rises), fewer products turn into deals, and
        deals end more slowly: about 7-11 % of listed deals get a new used price an hour,
        70-75 % of them drops (FIX 2, 3; docs/keepa.md §11)."""
        ref = p.reference_price
        offers = sorted(p.main_offers(), key=lambda o: (o.landed, o.offer_id))
        main_condition = 1 if p.main_type == NEW else None
        roll = rng.random()
        room = len(p.live_offers()) < MAX_LIVE_OFFERS
        if not offers:
            share = rng.uniform(*DEEP_DROP) if roll < 0.3 else rng.uniform(0.9, 1.3)
            self._list_offer(rng, p, main_condition, int(ref * share), now)
        elif p.in_deal():
            lowest = offers[0]
            if roll < 0.08:
                lowest.reprice(*self._recovered(rng, lowest, ref), now)
            elif roll < 0.16:
                p.retire(lowest)  # sold, or withdrawn
            elif roll < 0.30:
                # The seller nudges the price up a little: still a deal, a rise.
                price = cents(lowest.price * rng.uniform(1.03, 1.12))
                lowest.reprice(price, lowest.shipping, now)
            elif roll < 0.62:
                floor = ref * 0.15
                price = max(int(floor), int(lowest.landed * rng.uniform(0.88, 0.97)))
                if rng.random() < 0.5:
                    lowest.reprice(cents(price - lowest.shipping), lowest.shipping, now)
                else:
                    self._list_offer(rng, p, main_condition, price, now)
            elif roll < 0.75 and room:
                self._list_offer(rng, p, main_condition, int(ref * rng.uniform(0.9, 1.6)), now)
            elif roll < 0.85 and len(offers) > 1:
                p.retire(rng.choice(offers[1:]))
            else:
                self._move_rank(rng, p, now)
                return
        elif roll < DEAL_APPEARS:
            price = int(ref * rng.uniform(*DEEP_DROP))
            if rng.random() < 0.4:
                lowest = offers[0]
                lowest.reprice(cents(price - lowest.shipping), lowest.shipping, now)
            else:
                self._list_offer(rng, p, main_condition, price, now)
        elif roll < 0.5 and room:
            self._list_offer(rng, p, main_condition, int(ref * rng.uniform(0.9, 1.6)), now)
        elif roll < 0.7:
            p.retire(rng.choice(offers))
        else:
            self._move_rank(rng, p, now)
            return
        p.refresh_offers(now)

    @staticmethod
    def _recovered(rng: random.Random, offer: Offer, ref: int) -> tuple[int, int]:
        return cents(ref * rng.uniform(0.9, 1.25) - offer.shipping), offer.shipping

    def _list_offer(
        self, rng: random.Random, p: Product, condition: int | None, landed: int, now: int
    ) -> Offer:
        """A seller without a live offer on ``p`` lists one (reviving its old offer if any)."""
        if condition is None:
            condition = rng.choices(USED_CONDITIONS, USED_CONDITION_WEIGHTS)[0]
        taken = {o.seller_id for o in p.offers if o.live}
        offer = generate.new_offer(self, rng, p, condition, landed, now, taken=taken)
        return offer

    def _move_rank(self, rng: random.Random, p: Product, now: int) -> None:
        rank = p.cur[SALES]
        if rank > 0:
            p.record(
                SALES, max(1, min(5_000_000, int(rank * math.exp(rng.gauss(0, 0.35))))), 0, now
            )
        p.touch(now)

    # --- serving requests ------------------------------------------------------------------

    def refresh(self, p: Product, now: int) -> None:
        """Keepa re-reads the product (the /product ``update`` parameter): nothing changes but
        the update times."""
        for offer in p.offers:
            if offer.live:
                offer.last_seen = now
        p.last_offers_update = now
        p.touch(now)

    def collect_offers(self, p: Product, now: int) -> None:
        """An offers look-up collected the product's offers now: their lastSeen and the
        product's lastOffersUpdate move, nothing else (the next ``update=N`` look-up within N
        hours is served from this collection)."""
        for offer in p.offers:
            if offer.live:
                offer.last_seen = now
        p.last_offers_update = now

    def warm(self, limit: int) -> int:
        """Build the deal views (and their JSON) of up to ``limit`` changed products ahead of
        the requests that will list them; return how many are left."""
        oldest = self.minute - self.profile.deal_window
        for _ in range(min(limit, len(self.unwarmed))):
            _, product = self.unwarmed.popitem()
            if product.last_update >= oldest:
                product.deal_view().json()
        return len(self.unwarmed)

    def listed(self, now: int, window: int | None = None) -> Iterable[DealView]:
        """Deal views of the products updated within the last ``window`` minutes (the
        profile's /deal window by default)."""
        oldest = now - (self.profile.deal_window if window is None else window)
        for p in self.products:
            if p.last_update >= oldest:
                yield p.deal_view()


# Pristine markets by (seed, products, changes per minute, profile). A reset or a clock change
# copies one instead of generating the catalogue again (seconds at 6,000 products). They start
# late enough that every time in them is positive: -1 marks "no time" and must not be shifted.
# Large markets are not kept: a second copy would double the memory of a benchmark run.
_TEMPLATES: dict[tuple[int, int, int, str], Market] = {}
_TEMPLATE_LOCK = threading.Lock()
TEMPLATE_MAX_PRODUCTS = 10_000
TEMPLATE_GENESIS = 10_000_000  # a Keepa minute in 2030


def build_market(
    *,
    seed: int,
    products: int,
    changes_per_minute: int,
    genesis: int,
    again: bool = True,
    profile: Profile | str = profiles.DEFAULT,
) -> Market:
    """The initial market for ``seed``, started at Keepa minute ``genesis``.

    ``again``: expect to build it again (a reset), so keep a pristine copy to build from.
    """
    profile = profiles.get(profile)
    key = (seed, products, changes_per_minute, profile.name)
    with _TEMPLATE_LOCK:
        template = _TEMPLATES.get(key)
        if template is None:
            if products > TEMPLATE_MAX_PRODUCTS or not again:
                return Market(
                    seed=seed,
                    products=products,
                    changes_per_minute=changes_per_minute,
                    genesis=genesis,
                    profile=profile,
                )
            template = Market(
                seed=seed,
                products=products,
                changes_per_minute=changes_per_minute,
                genesis=TEMPLATE_GENESIS,
                profile=profile,
            )
            _TEMPLATES[key] = template
    return template.shifted(genesis)
