"""A typed, token-aware client for the Keepa API. Knows nothing of Django."""

from keepa_client.client import KeepaClient
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
from keepa_client.models import Deal, DealPage, Offer, Product, Seller, TokenStatus
from keepa_client.query import InvalidDealQuery, validate_deal_query
from keepa_client.redact import redact

__all__ = [
    "ApiError",
    "BadRequest",
    "Deal",
    "DealPage",
    "InvalidDealQuery",
    "InvalidKey",
    "KeepaClient",
    "KeepaConnectionError",
    "KeepaError",
    "KeepaTimeout",
    "MalformedResponse",
    "Offer",
    "PaymentRequired",
    "Product",
    "Seller",
    "ServerError",
    "TokenStatus",
    "TokensExhausted",
    "redact",
    "validate_deal_query",
]
