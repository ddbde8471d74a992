"""``GET /api/features/{pair}``: the feature row the served model scores for the latest candle."""

from __future__ import annotations

from fastapi import APIRouter

from mlpkg.serving.deps import PairDep, StateDep
from mlpkg.serving.errors import SOURCE_ERRORS
from mlpkg.serving.schemas import FeaturesResponse, FeatureValues, now_ms

router = APIRouter(prefix="/api/features", tags=["features"])


@router.get("/{pair}", responses=SOURCE_ERRORS)
def get_features(pair: PairDep, state: StateDep) -> FeaturesResponse:
    """Feature names and values of the pair's latest candle (the served model's config)."""
    features = state.predictor.features(pair)
    # Every value, not only the first ten as in the seed.
    values = FeatureValues.from_object(features, count=len(features.names))
    return FeaturesResponse(pair=features.pair, features=values, timestamp=now_ms())
