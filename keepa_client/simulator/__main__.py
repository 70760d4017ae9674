from __future__ import annotations

from keepa_client.simulator.cli import main

main()
