"""Helpers shared by the tests and the benchmarks (bench/): servers, git, apps, wheels, /proc."""
