"""YOLO detector pruning (seed 003), built on Ultralytics.

Ultralytics is AGPL-3.0 and an optional extra (``pip install 'torchslim[yolo]'``): nothing in this
package imports it at module level. Every entry point goes through :func:`offline.ultralytics`,
which makes the import offline and safe first.
"""
