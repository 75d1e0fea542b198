"""feedguard's benchmarks: python -m bench (make bench)."""
