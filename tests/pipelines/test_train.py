"""End to end on shipped candles: development folds, holdout once, rule, final fit, registry.

One module fixture trains BTC three times into an isolated SQLite store with tiny models:
every family and both ensembles on one seed, then a cheap candidate twice more (the third on 100
more candles: the holdout's uses are counted by time overlap, not by data checksum), with the
first version promoted by hand in between (the champion re-score). The seed spread is checked on
an evaluate run of one neural family and LightGBM on two seeds (two seeds of every family would
double the neural fits for nothing more).
"""

from __future__ import annotations

import json
import math

import mlflow
import pandas as pd
import pytest

from mlpkg.config import CANDIDATES, Settings
from mlpkg.data.sources import load_candles
from mlpkg.errors import ModelNotFoundError
from mlpkg.evaluation.metrics import log_losses
from mlpkg.evaluation.promotion import manual_decision
from mlpkg.models.inference import score_latest
from mlpkg.pipelines.evaluate import evaluate_pair
from mlpkg.pipelines.train import train_pair
from mlpkg.tracking import ledger, registry

pytestmark = pytest.mark.slow

NAIVE = ("majority", "always_up", "persistence")
REFERENCES = (*NAIVE, "logistic")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_config):
    """Three trainings of BTC (tiny), the first one made champion by hand before the third."""
    settings = Settings(home=tmp_path_factory.mktemp("train"), pairs=["BTC", "ETH"])
    uri = mlflow.get_tracking_uri()
    first = train_pair(tiny_config(models="all"), settings)
    second = train_pair(tiny_config(models="logistic,lightgbm"), settings)
    registry.promote("BTC", first.version, manual=manual_decision(first.version))
    third = train_pair(tiny_config(models="logistic,lightgbm", max_rows=1600), settings)
    yield settings, first, second, third
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)


def _client(settings: Settings) -> mlflow.MlflowClient:
    uri = settings.resolved_tracking_uri
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def _artifacts(client, run_id, path=None) -> set[str]:
    found: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        found |= _artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def _csv(client, run_id: str, name: str, tmp_path) -> pd.DataFrame:
    local = client.download_artifacts(run_id, name, str(tmp_path))
    return pd.read_csv(local, parse_dates=["open_time"])


def test_every_family_and_ensemble_is_compared_on_the_same_development_folds(trained):
    settings, first, _, _ = trained
    metrics = _client(settings).get_run(first.run_id).data.metrics
    # models="all": every candidate (tests/test_config.py pins what "all" expands to)
    for model in (*CANDIDATES, *REFERENCES):
        assert math.isfinite(metrics[f"dev_{model}_log_loss_mean"]), model
        assert f"dev_{model}_log_loss_std" in metrics
    chosen = first.development.selection.chosen
    scores = first.development.selection.scores
    assert scores[chosen] == min(scores.values())
    assert metrics["dev_selected_log_loss"] == pytest.approx(scores[chosen])


def test_two_seeds_give_the_seeded_families_a_spread_and_logistic_none(trained, tiny_config):
    settings = trained[0]
    config = tiny_config(models="lstm,lightgbm,logistic", n_seeds=2, n_folds=1)
    _, run_id = evaluate_pair(config, settings)
    metrics = _client(settings).get_run(run_id).data.metrics
    # a neural family and LightGBM have a seed spread, logistic (not seeded) has none
    assert metrics["dev_lstm_log_loss_seed_std"] > 0
    assert metrics["dev_lightgbm_log_loss_seed_std"] > 0
    assert metrics["dev_logistic_log_loss_seed_std"] == 0


def test_development_and_holdout_are_logged_separately_and_never_overlap(trained, tmp_path):
    settings, first, _, _ = trained
    client = _client(settings)
    run = client.get_run(first.run_id)
    params, metrics = run.data.params, run.data.metrics
    assert all(k.startswith(("dev_", "holdout_", "final_")) for k in metrics), sorted(metrics)
    holdout_first = pd.Timestamp(params["holdout_first"])
    dev_end = pd.Timestamp(params["dev_end"])
    assert dev_end < holdout_first
    development = _csv(client, first.run_id, "development_predictions.csv", tmp_path)
    holdout = _csv(client, first.run_id, "holdout_predictions.csv", tmp_path)
    assert development["open_time"].max() < dev_end
    assert holdout["open_time"].min() >= holdout_first
    # only the naive references beside the candidate: a holdout score of logistic, a family
    # the folds may select, would be an uncounted use of the holdout
    assert set(holdout["model"]) == {first.bundle.candidate, *NAIVE}
    # a development label (h = 5 candles ahead) never reaches into the holdout
    assert development["open_time"].max() + pd.Timedelta(hours=5) < holdout_first


def test_the_run_holds_reports_procedure_plots_and_the_bundle(trained):
    settings, first, _, _ = trained
    artifacts = _artifacts(_client(settings), first.run_id)
    expected = {
        "config.json",
        "data.json",
        "procedure.json",
        "final_fit.json",
        "promotion.txt",
        "development_report.txt",
        "holdout_report.txt",
        "development_summary.csv",
        "development_predictions.csv",
        "holdout_predictions.csv",
        "development_fits.csv",
        "development_confidence_buckets.csv",
        "holdout_confidence_buckets.csv",
        "plots/dev_equity.png",
    }
    assert expected <= artifacts
    procedure = json.loads(mlflow.artifacts.load_text(f"runs:/{first.run_id}/procedure.json"))
    assert procedure["name"] == first.bundle.candidate
    assert set(procedure["members"]) == set(first.bundle.members)


def test_the_holdout_budget_counts_every_candidate_scored_on_it(trained):
    settings, first, second, third = trained
    assert (first.holdout.uses, second.holdout.uses, third.holdout.uses) == (1, 2, 3)
    assert third.holdout.alpha == pytest.approx(0.05 * 6 / (math.pi**2 * 9))
    metrics = _client(settings).get_run(third.run_id).data.metrics
    assert metrics["holdout_uses"] == 3
    assert metrics["holdout_alpha"] == pytest.approx(third.holdout.alpha)
    assert "candidates that scored rows of this holdout: 3" in third.text
    assert "alpha_3 = 0.00338" in third.text


def test_the_first_training_run_records_the_holdout_every_later_run_reads(trained):
    settings, first, second, third = trained
    book = ledger.read_ledger("BTC", settings)
    assert [entry.how for entry in book.entries] == ["first-train"]
    start = book.current.start
    # the first run placed it from its candle times: the last 25 % of the 1,500 candles' span
    times = load_candles("BTC", "shipped", settings).index[-1500:]
    assert start == times[times >= times[0] + (times[-1] - times[0]) * 0.75][0]
    # the third run read 100 more candles (another default start) but kept the recorded one
    assert first.holdout.start == second.holdout.start == third.holdout.start == start
    assert book.seen_until == times[-1]


def test_the_naive_reference_of_the_rule_is_chosen_on_development(trained):
    _, _, second, _ = trained
    base = second.development.base_predictions
    losses = {
        name: log_losses(rows["y_true"], rows["proba_up"]).mean()
        for name, rows in base[base["model"].isin(NAIVE)].groupby("model")
    }
    assert second.holdout.baseline == min(losses, key=losses.get)
    assert f"over {second.holdout.baseline} (chosen on development" in second.text


def test_evaluate_explores_the_development_folds_without_spending_the_holdout(trained):
    settings, first, _, _ = trained
    config = first.bundle.run_config.model_copy(update={"models": ("logistic",)})
    development, run_id = evaluate_pair(config, settings)
    run = _client(settings).get_run(run_id)
    assert not any(k.startswith("holdout_") for k in run.data.metrics)
    assert "mlpkg.holdout_scored" not in run.data.tags
    assert development.selection.chosen == "logistic"
    assert development.split.start_time == first.development.split.start_time
    assert run.data.tags["holdout_source"] == "ledger"


def test_the_champion_is_re_scored_on_the_same_holdout_rows(trained):
    _, first, second, third = trained
    assert [c.name for c in second.decision.conditions] == [
        "beats_naive",
        "wins_blocks",
        "not_worse_than_champion",
    ]
    assert second.decision.conditions[2].detail == "no champion yet"
    detail = third.decision.conditions[2].detail
    assert f"champion v{first.version}" in detail
    assert "refit on this development period" in detail
    # the alias says what the rule decided (the registry's state, not the decision's own list)
    champion = registry.alias_version("BTC", registry.CHAMPION)
    assert champion.version == (third.version if third.decision.promote else first.version)


def test_the_deployed_model_is_refit_on_every_labelled_row(trained):
    settings, first, _, _ = trained
    # from the raw candles, not the dataset's own mask: the last 1,500 candles (no gap there),
    # the feature warm-up before the first row, the 5-candle unknown future after the last
    times = load_candles("BTC", "shipped", settings).index[-1500:]
    dataset = first.development.dataset
    seen = first.bundle.trained_on
    first_row = times[dataset.warmup_rows]
    assert seen["last_open_time"] == str(times[-1 - 5])
    assert seen["first_open_time"] == str(first_row)
    assert seen["rows"] == len(times[(times >= first_row) & (times <= times[-1 - 5])])
    for name, member in first.bundle.members.items():
        budget = first.development.procedure.budgets.get(name)
        if budget:
            assert member.stopping_point_ == next(iter(budget.values()))  # no early stopping


def test_versions_carry_the_candidate_and_the_decision(trained):
    settings, first, second, third = trained
    client = _client(settings)
    versions = {r.version: client.get_model_version("mlpkg-BTC", r.version) for r in trained[1:]}
    for result in (first, second, third):
        assert versions[result.version].tags["candidate"] == result.bundle.candidate
    # the first was promoted by hand: the manual decision replaced the rule's tags
    assert versions[first.version].tags["decision"] == "manual"
    assert f"manual promotion of version {first.version}" in versions[first.version].tags["reason"]
    for result in (second, third):  # the rule's outcome, as the pipeline returned it
        tags = versions[result.version].tags
        assert tags["decision"] == ("promoted" if result.decision.promote else "rejected")
        assert tags["reason"] == result.decision.reason
    candidate = client.get_model_version_by_alias("mlpkg-BTC", "candidate")
    assert str(candidate.version) == third.version


def test_loading_the_registered_model_predicts_like_the_trained_one(trained, tmp_path):
    settings, first, _, _ = trained
    bundle, info = registry.load_model("BTC", registry.CHAMPION, tmp_path)
    assert (info.version, info.run_id) == (first.version, first.run_id)
    candles = load_candles("BTC", "shipped", settings).iloc[-bundle.history_rows - 10 :]
    loaded = score_latest(bundle, candles)
    original = score_latest(first.bundle, candles)
    assert loaded.probability == pytest.approx(original.probability, abs=1e-6)
    assert loaded.individual == pytest.approx(original.individual, abs=1e-6)
    assert loaded.confidence == pytest.approx(abs(loaded.probability - 0.5) * 2)
    assert loaded.feature_count == len(bundle.feature_names)


def test_loading_a_pair_without_a_model_says_how_to_train_one(trained, tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"mlpkg train --pair ETH"):
        registry.load_model("ETH", registry.CHAMPION, tmp_path)
