"""Type stub of ``mlpkg.models``: the names it exports, each loaded lazily (lazy_loader)."""

from .baselines import (
    NAIVE_BASELINES as NAIVE_BASELINES,
)
from .baselines import (
    REFERENCE_BASELINE as REFERENCE_BASELINE,
)
from .baselines import (
    AlwaysUpBaseline as AlwaysUpBaseline,
)
from .baselines import (
    MajorityClassBaseline as MajorityClassBaseline,
)
from .baselines import (
    PersistenceBaseline as PersistenceBaseline,
)
from .baselines import (
    default_baselines as default_baselines,
)
from .baselines import (
    naive_baselines as naive_baselines,
)
from .cnn import CNNDirectionClassifier as CNNDirectionClassifier
from .cnn import build_cnn as build_cnn
from .ensemble import (
    FIXED_WEIGHTS as FIXED_WEIGHTS,
)
from .ensemble import (
    EnsembleClassifier as EnsembleClassifier,
)
from .ensemble import (
    fit_convex_weights as fit_convex_weights,
)
from .ensemble import (
    fixed_weights as fixed_weights,
)
from .estimator import (
    DirectionClassifier as DirectionClassifier,
)
from .estimator import (
    DirectionEstimator as DirectionEstimator,
)
from .families import (
    ESTIMATORS as ESTIMATORS,
)
from .families import (
    estimator_class as estimator_class,
)
from .families import (
    is_neural as is_neural,
)
from .families import (
    is_seeded as is_seeded,
)
from .families import (
    load_estimator as load_estimator,
)
from .families import (
    make_estimator as make_estimator,
)
from .gru import GRUDirectionClassifier as GRUDirectionClassifier
from .gru import build_gru as build_gru
from .lightgbm import (
    LightGBMDirectionClassifier as LightGBMDirectionClassifier,
)
from .lightgbm import (
    window_summaries as window_summaries,
)
from .logistic import LogisticDirectionClassifier as LogisticDirectionClassifier
from .lstm import LSTMDirectionClassifier as LSTMDirectionClassifier
from .lstm import build_lstm as build_lstm
from .mixture import combine as combine
from .neural import KerasSequenceClassifier as KerasSequenceClassifier
from .registry import FAMILY_TABLE as FAMILY_TABLE
from .registry import FamilySpec as FamilySpec
from .registry import family_spec as family_spec
from .signals import (
    DirectionPrediction as DirectionPrediction,
)
from .signals import (
    describe_prediction as describe_prediction,
)
from .transformer import (
    TransformerDirectionClassifier as TransformerDirectionClassifier,
)
from .transformer import (
    build_transformer as build_transformer,
)
