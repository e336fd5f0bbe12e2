"""Pruning: unstructured magnitude pruning and structured channel pruning (Torch-Pruning)."""
