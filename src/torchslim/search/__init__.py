"""``torchslim search``: the best deployable chain within an accuracy budget, found by Optuna.

``space`` draws a trial's chain, ``trials`` runs and judges trials as ordinary torchslim tasks,
``study`` keeps Optuna's SQLite study beside the results store (a killed search resumes), and
``outputs`` writes the Pareto front, the pick's artifact and a recipe that reproduces it.
"""
