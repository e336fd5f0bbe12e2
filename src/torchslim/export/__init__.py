"""Saving, loading and exporting models without unpickling code."""
