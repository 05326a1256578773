"""Benchmarks: `make bench` (bench/run.py) starts the hub as the Procfile does and prints figures with references."""
