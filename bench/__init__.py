"""Benchmarks: `make bench`. Figures go to stdout and to bench/out/results.json."""
