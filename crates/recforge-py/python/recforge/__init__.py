"""recforge: recommender systems the way production teams build them, in Rust, from Python.

Five lines from data to scores::

    import recforge
    run = recforge.train("configs/quickstart/ml100k_mlp.toml", seed=1, train__epochs=3)
    print(run.metrics["auc"])
    scores = run.predict("new_rows.csv")          # or a pandas DataFrame / pyarrow Table
    run.export("model-v1")                        # a self-contained folder `recforge serve` reads

Modules: :mod:`recforge.data` (inspect, prepare), :mod:`recforge.ope` (off-policy evaluation
with OBP's array conventions), :mod:`recforge.bandit` (an HTTP client for the bandit service).
Every error is a :class:`RecforgeError` carrying the message the ``recforge`` CLI prints.
Long work releases the GIL, shows a progress bar (``progress=False`` hides it) and stops
cleanly on Ctrl-C.
"""

from ._native import RecforgeError, __version__
from ._run import Run, train
from ._select import select
from ._serve import Server, serve
from . import bandit, data, ope

__all__ = [
    "RecforgeError",
    "Run",
    "Server",
    "__version__",
    "bandit",
    "data",
    "ope",
    "select",
    "serve",
    "train",
]
