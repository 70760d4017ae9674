from __future__ import annotations

from keepa_simulator.cli import main

main()
