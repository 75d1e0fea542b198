"""feedguard's command line: the gate for CI, imports, scans, triage and VEX."""

__version__ = "0.1.0"
