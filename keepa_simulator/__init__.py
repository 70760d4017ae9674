"""A local Keepa API over a deterministic, moving market (no key, no network).

Start it with ``python -m keepa_simulator`` or ``python manage.py keepa_simulator``; in
tests, ``SimulatorServer(products=1500).start()``. The wire format is built here, independently
of ``keepa_client``'s parsing code, so that each checks the other. No Django imports.
"""

from __future__ import annotations

from keepa_simulator.server import Simulator, SimulatorServer

__all__ = ["Simulator", "SimulatorServer"]
