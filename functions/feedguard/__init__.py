"""feedguard: watches the packages of software feeds for known vulnerabilities."""

__version__ = "0.1.0"
