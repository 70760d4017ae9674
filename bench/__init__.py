"""Benchmarks: token economy, freshness and speed, measured against the local Keepa simulator.

`python -m bench.run` runs every scenario and writes `bench/RESULTS.md`; see `bench/run.py`.
"""
