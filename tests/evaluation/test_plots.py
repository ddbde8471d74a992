from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from mlpkg.errors import MlpkgError
from mlpkg.evaluation.plots import (
    plot_confusion,
    plot_equity,
    plot_reliability,
    plot_training_curves,
)


@pytest.fixture(scope="module")
def predictions():
    rng = np.random.default_rng(0)
    frames = []
    for fold in range(2):
        index = pd.date_range(f"2024-0{fold + 1}-01", periods=120, freq="h", tz="UTC")
        y = rng.integers(0, 2, 120).astype(float)
        for model, proba in {"lstm": 0.5 + 0.3 * (y - 0.5), "majority": np.full(120, 0.52)}.items():
            frames.append(
                pd.DataFrame(
                    {
                        "fold": fold,
                        "cutoff": index[0],
                        "open_time": index,
                        "model": model,
                        "proba_up": proba,
                        "y_true": y,
                        "future_return": rng.normal(0, 0.01, 120),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def _renders(fig: Figure) -> bool:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getbuffer().nbytes > 1000


def test_reliability_plots_observed_frequency_against_the_diagonal(predictions):
    fig = plot_reliability(predictions, "lstm")

    assert isinstance(fig, Figure) and len(fig.axes) == 2
    curve = fig.axes[0].lines[1]
    np.testing.assert_allclose(curve.get_ydata(), [0.0, 1.0])  # p=0.35 -> down, p=0.65 -> up
    assert _renders(fig)


def test_confusion_annotates_the_counts(predictions):
    fig = plot_confusion(predictions, "majority")
    texts = [t.get_text() for t in fig.axes[0].texts]

    rows = predictions[predictions["model"] == "majority"]
    n_up = int(rows["y_true"].sum())
    assert f"{n_up}\n100%" in texts and f"{len(rows) - n_up}\n100%" in texts
    assert _renders(fig)


def test_equity_has_one_curve_per_model_and_buy_and_hold(predictions):
    fig = plot_equity(predictions, fee_bps=10, horizon=2)
    labels = [line.get_label() for line in fig.axes[0].lines]

    assert labels[:3] == ["lstm", "majority", "buy & hold"]
    assert len(fig.axes[0].lines[0].get_xdata()) == 2 * 60  # a trade every 2 rows, 2 folds
    assert _renders(fig)


def test_training_curves_mark_the_best_epoch():
    history = {
        "loss": [0.7, 0.6, 0.65],
        "val_loss": [0.71, 0.69, 0.7],
        "accuracy": [0.5, 0.55, 0.56],
        "val_accuracy": [0.5, 0.52, 0.5],
    }
    fig = plot_training_curves(history)

    assert len(fig.axes) == 2
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["loss", "val_loss", "best epoch 2"]
    assert _renders(fig)


def test_plotting_an_unknown_model_is_refused(predictions):
    with pytest.raises(MlpkgError, match="'gru'"):
        plot_reliability(predictions, "gru")
