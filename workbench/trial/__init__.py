"""The trial side: everything that runs inside a trial process, where TensorFlow and Keras
live. Nothing outside this package imports it (an import contract checks this).

``worker`` is the entry point (``python -m workbench.trial.worker``), ``forkserver`` the warm
template it is forked from; ``models``, ``precision``, ``sources`` and ``images``,
``pipelines``, ``drift`` and ``probes`` do the work.
"""
