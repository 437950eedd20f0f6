"""Benchmarks with printed, side-by-side measurements; results are committed under benchmarks/results/."""
