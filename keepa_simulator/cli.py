"""Command-line options shared by ``python -m keepa_simulator`` and the
``keepa_simulator`` management command."""

from __future__ import annotations

import argparse
import signal
from typing import Any

from keepa_simulator import profiles
from keepa_simulator.deals import DEAL_ORDERS
from keepa_simulator.server import SimulatorServer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on")
    parser.add_argument("--seed", type=int, default=1, help="market seed (same seed, same market)")
    parser.add_argument("--products", type=int, default=6000, help="products at the start")
    parser.add_argument(
        "--refill-rate", type=int, default=20, help="tokens per minute per key (bucket: 60x)"
    )
    parser.add_argument(
        "--keys", default="demo", help="comma-separated API keys the simulator accepts"
    )
    parser.add_argument(
        "--changes-per-minute",
        type=int,
        default=None,
        help="random market changes per simulated minute (re-crawls come on top; "
        "default: the profile's)",
    )
    parser.add_argument(
        "--deal-order",
        choices=DEAL_ORDERS,
        default="creation",
        help="what /deal's sortType 1 (deal age, newest first) sorts by: creationDate, as "
        "Keepa documents, or lastUpdate",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    # --- market profile -----------------------------------------------------------------
    parser.add_argument(
        "--profile",
        choices=sorted(profiles.PROFILES),
        default=profiles.DEFAULT,
        help="calibrated: the market the real Keepa samples show (default); "
        "busy: the older fast-moving market, for stress",
    )


def build_server(options: dict[str, Any]) -> SimulatorServer:
    """The server the parsed options describe: a new option is one ``add_argument`` above and
    one keyword here, and both commands have it."""
    return SimulatorServer(
        seed=options["seed"],
        products=options["products"],
        refill_rate=options["refill_rate"],
        keys=tuple(k.strip() for k in str(options["keys"]).split(",") if k.strip()),
        changes_per_minute=options["changes_per_minute"],
        host=options["host"],
        port=options["port"],
        verbose=options.get("verbose", False),
        deal_order=options.get("deal_order", "creation"),
        profile=options.get("profile") or profiles.DEFAULT,
    )


def serve(options: dict[str, Any], write: Any = print) -> None:
    """Build the market, print the URL, serve until Ctrl-C."""
    server = build_server(options)
    sim = server.simulator
    write(
        f"Keepa simulator at {server.url} ({sim.profile.name} market, seed {sim.seed}, "
        f"{sim.product_count} products, keys: {', '.join(sim.initial_keys)}); Ctrl-C stops it."
    )
    # honcho (make run) stops its processes with SIGTERM: treat it like Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    server.serve_forever()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m keepa_simulator",
        description="A local Keepa API over a deterministic, moving market.",
    )
    add_arguments(parser)
    serve(vars(parser.parse_args(argv)), write=lambda line: print(line, flush=True))
