"""Benchmarks of the migration tool against the lab: overhead over the critical path, and scaling.

Run `python -m bench --help` (or `./run bench`). Nothing here is run by the test suite except
tests/test_bench_smoke.py, which runs the smallest configuration once.
"""
