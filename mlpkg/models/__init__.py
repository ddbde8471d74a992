"""Models: six families, naive baselines and ensembles, all scikit-learn estimators; signals.

Importing this package imports nothing heavy: every name it exports (listed once, in
``__init__.pyi``) is loaded from its module on first access by ``lazy_loader.attach_stub``, so
``import mlpkg.models.signals`` or ``mlpkg.models.mixture`` (what the prediction server needs)
does not pull in scikit-learn, SciPy's optimiser, TensorFlow or LightGBM. Keras and LightGBM
themselves load on the first build/fit/load of a family.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
