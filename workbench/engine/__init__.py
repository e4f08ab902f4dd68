"""The parent side of a sweep: it never imports TensorFlow or Keras.

``runner`` runs trials in their own processes (budgets, timeouts, statuses), ``launcher``
starts those processes (a warm fork server, or a fresh interpreter), ``preflight`` checks the
user's files before any trial, ``prepare`` builds the demo caches in a process of its own,
``search`` finds the largest batch under a budget.
"""
