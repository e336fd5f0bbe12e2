"""Adapters over third-party internals: the only modules that reach into Torch-Pruning or Brevitas."""
