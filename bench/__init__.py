"""Developer tooling: benchmarks, studies, synthetic data, plots; never imported by the service."""
