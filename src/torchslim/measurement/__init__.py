"""Measurements: accuracy, hardware fingerprint (complexity and latency follow)."""
