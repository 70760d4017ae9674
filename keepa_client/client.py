"""KeepaClient: every call to the Keepa API goes through here.

It waits for token refills the way Keepa announces them (docs/keepa.md §2.1), retries transient
failures with jittered exponential backoff, maps HTTP statuses to exceptions, and keeps the
API key out of every message, log line and repr.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from keepa_client.errors import (
    ApiError,
    BadRequest,
    InvalidKey,
    KeepaConnectionError,
    KeepaError,
    KeepaTimeout,
    MalformedResponse,
    PaymentRequired,
    ServerError,
    TokensExhausted,
)
from keepa_client.models import DealPage, Products, Seller, TokenStatus
from keepa_client.records import clean_seller_id
from keepa_client.redact import redact, strip_urls

log = logging.getLogger("keepa_client")

DEFAULT_BASE_URL = "https://api.keepa.com"
MAX_ASINS_PER_REQUEST = 100
MAX_SELLERS_PER_REQUEST = 100
# Keepa serves at most 10,000 results per deal query: pages 0..66 (67 x 150 >= 10,000).
LAST_DEAL_PAGE = 66
DEAL_PAGE_COST = 5
OFFERS_PAGE_COST = 6
MIN_OFFERS, MAX_OFFERS = 20, 100
# Keepa's own Python client adds one second to the announced refill time.
TOKEN_WAIT_MARGIN_S = 1.0
# A 429 without a readable envelope: one refill tick is at most a minute away.
UNKNOWN_REFILL_WAIT_S = 60.0
MAX_BACKOFF_S = 30.0

# requests exceptions whose message is nothing but the URL they could not use.
_BAD_URL_ERRORS = (
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidURL,
    requests.exceptions.URLRequired,
)


@dataclass
class _WaitBudget:
    """Seconds a single public call may still spend waiting for tokens."""

    remaining_s: float


@dataclass(frozen=True)
class _Failure:
    kind: type[KeepaError]
    text: str
    retryable: bool


class KeepaClient:
    """A synchronous Keepa API client. Not thread-safe: use one per thread."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        domain: int = 1,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        *,
        max_retries: int = 3,
        max_token_wait_s: float = 60.0,
        backoff_base_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not api_key:
            raise ValueError("KeepaClient needs an API key")
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.domain = domain
        self.timeout = timeout
        self.session = session or requests.Session()
        self.max_retries = max_retries
        self.max_token_wait_s = max_token_wait_s
        self.backoff_base_s = backoff_base_s
        self.sleep = sleep
        self.clock = clock
        self.tokens: TokenStatus | None = None
        _mask_keys_in_urllib3_logs()

    def __repr__(self) -> str:
        return f"KeepaClient(base_url={self.base_url!r}, domain={self.domain})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> KeepaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Endpoints

    def deals(self, selection: Mapping[str, Any], page: int = 0) -> DealPage:
        """Fetch one page (≤150 deals) of a /deal query; costs 5 tokens."""
        query = {"domainId": self.domain, **selection, "page": page}
        body = self._request("POST", "deal", json_body=query)
        return self._parse("/deal", DealPage.from_json, body, page)

    def iter_deal_pages(
        self, selection: Mapping[str, Any], start_page: int = 0, max_pages: int | None = None
    ) -> Iterator[DealPage]:
        """Yield pages until one is short, Keepa's 10,000-result cap is reached, or max_pages."""
        page = start_page
        fetched = 0
        while page <= LAST_DEAL_PAGE and (max_pages is None or fetched < max_pages):
            result = self.deals(selection, page)
            fetched += 1
            yield result
            if result.is_last:
                return
            page += 1

    def products(
        self,
        asins: Iterable[str],
        *,
        offers: int | None = None,
        only_live_offers: bool = False,
        stats: int | str | None = None,
        history: bool = True,
        days: int | None = None,
        buybox: bool = False,
        rating: bool = False,
        update: int | None = None,
    ) -> Products:
        """Fetch products, 100 ASINs per request. See estimate_product_cost for the price.

        Records dropped as malformed (keepa_client/records.py) are listed in `.rejected`."""
        _check_offers(offers)
        params: dict[str, Any] = {"domain": self.domain}
        if offers is not None:
            params["offers"] = offers
        if only_live_offers:
            params["only-live-offers"] = 1
        if stats is not None:
            params["stats"] = stats
        params["history"] = 1 if history else 0
        if days is not None:
            params["days"] = days
        if buybox:
            params["buybox"] = 1
        if rating:
            params["rating"] = 1
        if update is not None:
            params["update"] = update

        budget = _WaitBudget(self.max_token_wait_s)
        products = Products()
        for chunk in _chunks(_unique(asins), MAX_ASINS_PER_REQUEST):
            body = self._request("GET", "product", {**params, "asin": ",".join(chunk)}, budget)
            products.extend_with(self._parse("/product", Products.from_json, body))
        return products

    def sellers(self, seller_ids: Iterable[str]) -> dict[str, Seller]:
        """Fetch seller objects by id, 100 per request; 1 token per seller found."""
        budget = _WaitBudget(self.max_token_wait_s)
        sellers: dict[str, Seller] = {}
        for chunk in _chunks(_unique(seller_ids), MAX_SELLERS_PER_REQUEST):
            params = {"domain": self.domain, "seller": ",".join(chunk)}
            body = self._request("GET", "seller", params, budget)
            sellers.update(self._parse("/seller", _sellers_from, body))
        return sellers

    def token_status(self) -> TokenStatus:
        """Ask Keepa for the token bucket; free."""
        body = self._request("GET", "token")
        return self._parse("/token", TokenStatus.from_envelope, body)

    # Pricing, so callers can keep within a token budget.

    @staticmethod
    def estimate_deal_cost(pages: int = 1) -> int:
        return DEAL_PAGE_COST * pages

    @staticmethod
    def estimate_product_cost(
        count: int,
        *,
        offers: int | None = None,
        buybox: bool = False,
        rating: bool = False,
        update: int | None = None,
    ) -> int:
        """Upper-bound token cost of products(count ASINs, ...).

        With `offers`, Keepa charges 6 tokens per page of 10 offers it actually finds (instead of
        the 1 token per product), so this assumes every requested offer exists. `rating` costs
        at most 1; `buybox` is ignored by Keepa when offers are requested.
        """
        _check_offers(offers)
        per_product = OFFERS_PAGE_COST * math.ceil(offers / 10) if offers else 1
        if buybox and not offers:
            per_product += 2
        if rating:
            per_product += 1
        if update == 0:
            per_product += 1
        return per_product * count

    @staticmethod
    def estimate_seller_cost(count: int) -> int:
        return count

    # Transport

    def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        budget: _WaitBudget | None = None,
        *,
        json_body: Any = None,
    ) -> dict[str, Any]:
        endpoint = f"/{path}"
        url = f"{self.base_url}/{path}"
        query = {"key": self._api_key, **(params or {})}
        budget = budget or _WaitBudget(self.max_token_wait_s)
        failures = 0
        while True:
            sent = self._send(method, url, query, json_body)
            if isinstance(sent, _Failure):
                log.debug("Keepa %s %s -> %s", method, endpoint, sent.text)
                if sent.retryable and failures < self.max_retries:
                    failures += 1
                    self._back_off(failures, endpoint, sent.text)
                    continue
                raise sent.kind(
                    f"Keepa {endpoint} failed after {failures + 1} attempt(s): {sent.text}",
                    endpoint=endpoint,
                    tokens=self.tokens,
                    secret=self._api_key,
                )

            status = sent.status_code
            body = _json_or_none(sent)
            tokens = _envelope(body)
            if tokens is not None:
                self.tokens = tokens
            log.debug(
                "Keepa %s %s -> HTTP %s tokensConsumed=%s tokensLeft=%s",
                method,
                endpoint,
                status,
                tokens.tokens_consumed if tokens else None,
                tokens.tokens_left if tokens else None,
            )

            if status == 429:
                wait_s = self._token_wait_s(tokens)
                if wait_s <= budget.remaining_s:
                    log.info(
                        "Keepa %s: out of tokens, waiting %.1f s for the refill", endpoint, wait_s
                    )
                    budget.remaining_s -= wait_s
                    self.sleep(wait_s)
                    continue
                left = tokens.tokens_left if tokens else "unknown"
                raise TokensExhausted(
                    f"Keepa {endpoint}: not enough tokens (tokensLeft={left}); Keepa accepts "
                    f"requests again in {wait_s:.0f} s, more than the {budget.remaining_s:.0f} s "
                    "left to wait",
                    endpoint=endpoint,
                    status=status,
                    tokens=tokens,
                    wait_s=wait_s,
                    secret=self._api_key,
                )
            if status >= 500:
                if failures < self.max_retries:
                    failures += 1
                    self._back_off(failures, endpoint, f"HTTP {status}")
                    continue
                raise ServerError(
                    f"Keepa {endpoint} returned HTTP {status} on {failures + 1} attempt(s)",
                    endpoint=endpoint,
                    status=status,
                    tokens=tokens,
                    secret=self._api_key,
                )
            if status != 200:
                raise _status_error(endpoint, status, body, tokens, self._api_key)
            if not isinstance(body, dict):
                raise MalformedResponse(
                    f"Keepa {endpoint} returned malformed JSON (HTTP {status})",
                    endpoint=endpoint,
                    status=status,
                    tokens=self.tokens,
                    secret=self._api_key,
                )
            error = body.get("error")
            if error:
                raise _error_object(ApiError, endpoint, status, error, tokens, self._api_key)
            return body

    def _send(
        self, method: str, url: str, query: Mapping[str, Any], json_body: Any
    ) -> requests.Response | _Failure:
        # requests puts the whole URL, key included, into its messages: describe them without
        # it here and return instead of raising, so the requests exception never becomes a
        # __context__. Redirects are not followed: Keepa's API does not redirect, and following
        # one would send the key (it is in the query string) to wherever Location points.
        try:
            return self.session.request(
                method,
                url,
                params=query,
                json=json_body,
                headers={"Accept-Encoding": "gzip"},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            return _Failure(KeepaTimeout, self._describe(exc), retryable=True)
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            return _Failure(KeepaConnectionError, self._describe(exc), retryable=True)
        except requests.exceptions.ContentDecodingError as exc:
            return _Failure(MalformedResponse, self._describe(exc), retryable=False)
        except requests.RequestException as exc:
            return _Failure(KeepaError, self._describe(exc), retryable=False)

    def _describe(self, exc: BaseException) -> str:
        """Name the failure without the URL: the key is in its query string, in some case."""
        name = type(exc).__name__
        if isinstance(exc, _BAD_URL_ERRORS):
            # Their whole message is the URL (lower-cased in part by requests).
            return f"{name}: requests refused the request URL; check the client's base URL"
        return redact(f"{name}: {strip_urls(str(exc))}", self._api_key)

    def _parse(self, endpoint: str, build: Callable[..., Any], *args: Any) -> Any:
        try:
            return build(*args)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # The parser's message quotes server text; it is redacted, and the parser's
            # exception is not chained, so no unredacted copy travels with the error.
            reason = f"{type(exc).__name__}: {exc}"
        raise MalformedResponse(
            f"Keepa {endpoint} returned JSON of an unexpected shape ({reason})",
            endpoint=endpoint,
            status=200,
            secret=self._api_key,
        )

    def _back_off(self, failures: int, endpoint: str, reason: str) -> None:
        # Full jitter: many workers hitting a failing Keepa at once spread out.
        cap = min(MAX_BACKOFF_S, self.backoff_base_s * 2 ** (failures - 1))
        delay = random.uniform(0, cap)
        log.warning(
            "Keepa %s: %s; retry %d/%d in %.2f s",
            endpoint,
            reason,
            failures,
            self.max_retries,
            delay,
        )
        self.sleep(delay)

    def _token_wait_s(self, tokens: TokenStatus | None) -> float:
        """Seconds until Keepa will accept a request again, per the 429's envelope."""
        if tokens is None:
            return UNKNOWN_REFILL_WAIT_S + TOKEN_WAIT_MARGIN_S
        if tokens.refill_rate <= 0:
            return math.inf
        refill_in_s = tokens.refill_in_ms / 1000
        until_refill_s = tokens.timestamp.timestamp() + refill_in_s - self.clock()
        # The refill cannot be further than refillIn away, nor already past when Keepa just
        # said 429; outside that window our clock disagrees with Keepa's, and trusting it
        # would mean hammering (wait 0) or stalling, so use Keepa's relative refillIn.
        if not 0 < until_refill_s <= refill_in_s:
            until_refill_s = refill_in_s
        deficit_s = 0.0
        if tokens.tokens_left < 0:
            deficit_s = abs(tokens.tokens_left) / tokens.refill_rate * 60
        return until_refill_s + deficit_s + TOKEN_WAIT_MARGIN_S


def _check_offers(offers: int | None) -> None:
    # Keepa answers offers=10 with HTTP 200 and an error object, after a round trip.
    if offers is not None and not MIN_OFFERS <= offers <= MAX_OFFERS:
        raise ValueError(f"offers must be None or between 20 and 100, not {offers}")


def _unique(values: Iterable[str]) -> list[str]:
    if isinstance(values, str):
        values = [values]
    return list(dict.fromkeys(v.strip() for v in values if v and v.strip()))


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _envelope(body: Any) -> TokenStatus | None:
    if not isinstance(body, dict):
        return None
    try:
        return TokenStatus.from_envelope(body)
    except (KeyError, TypeError, ValueError):
        return None


def _sellers_from(body: dict[str, Any]) -> dict[str, Seller]:
    # Sellers Keepa does not know come back as null (or, since Keepa omits nulls, not at all).
    found = body.get("sellers") or {}
    return {
        seller_id: Seller.from_json(obj)
        for seller_id, obj in found.items()
        if obj and clean_seller_id(seller_id)
    }


def _error_object(
    kind: type[BadRequest | InvalidKey | ApiError],
    endpoint: str,
    status: int,
    error: Any,
    tokens: TokenStatus | None,
    secret: str,
) -> KeepaError:
    error = error if isinstance(error, dict) else {}
    message = error.get("message")
    details = error.get("details")
    text = f"Keepa {endpoint} returned HTTP {status}"
    if message:
        text += f": {message}"
    if details:
        text += f" (details: {details})"
    return kind(
        text,
        endpoint=endpoint,
        status=status,
        tokens=tokens,
        error_type=error.get("type"),
        keepa_message=message,
        details=details,
        secret=secret,
    )


def _says_key_is_invalid(error: Any) -> bool:
    if not isinstance(error, dict):
        return False
    # Keepa's real bad-key body is unconfirmed (docs/keepa.md §1.3); match a type or message that
    # names the key, and leave every other 400 a BadRequest.
    if "key" in str(error.get("type") or "").lower():
        return True
    text = f"{error.get('message') or ''} {error.get('details') or ''}".lower()
    return "key" in text and any(word in text for word in ("invalid", "unknown", "wrong"))


def _status_error(
    endpoint: str, status: int, body: Any, tokens: TokenStatus | None, secret: str
) -> KeepaError:
    error = body.get("error") if isinstance(body, dict) else None
    if status == 401 or (status == 400 and _says_key_is_invalid(error)):
        return _error_object(InvalidKey, endpoint, status, error, tokens, secret)
    if status == 400:
        return _error_object(BadRequest, endpoint, status, error, tokens, secret)
    if status == 402:
        return PaymentRequired(
            f"Keepa {endpoint} returned HTTP 402: the key has no active subscription",
            endpoint=endpoint,
            status=status,
            tokens=tokens,
        )
    text = f"Keepa {endpoint} returned HTTP {status}"
    if 300 <= status < 400:
        # Location is deliberately left out: it is server text and may carry the key.
        text += ", a redirect, which the client does not follow"
    return KeepaError(text, endpoint=endpoint, status=status, tokens=tokens)


class _MaskKeys(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True  # leave a broken record to the handler's own error reporting
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


def _mask_keys_in_urllib3_logs() -> None:
    # urllib3 logs every request line, query string and so the key included, at DEBUG.
    pool_log = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _MaskKeys) for f in pool_log.filters):
        pool_log.addFilter(_MaskKeys())
