"""The reporting layer: the PNG/CSV helper and the continual-learning report from synthetic runs."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from snnrl.reports.continual import format_continual_summary, write_continual_reports
from snnrl.reports.output import csv_text, figure_png, pyplot
from snnrl.sweeps.continual import aggregate_runs, continual_grid


def _run(seed: int, strategy: str, accuracy: float) -> dict:
    matrix = np.tril(np.full((3, 3), accuracy)) + np.eye(3) * (1 - accuracy)   # diagonal 1, below: accuracy
    return {"config": {"seed": seed, "benchmark": "split-digits", "strategy": strategy, "buffer_size": 50,
                       "backbone": "mlp"},
            "class_il_matrix": matrix.tolist(), "task_il_matrix": np.tril(np.ones((3, 3))).tolist(),
            "class_il_accuracy": accuracy, "task_il_accuracy": 1.0, "class_il_forgetting": 1 - accuracy,
            "class_il_bwt": accuracy - 1, "task_il_forgetting": 0.0, "wall_s": 2.0 + seed}


def test_csv_text_columns_and_empty_rows():
    rows = [{"a": 1, "b": 2.5}, {"a": 3, "b": None}]
    assert list(csv.DictReader(io.StringIO(csv_text(rows)))) == [{"a": "1", "b": "2.5"}, {"a": "3", "b": ""}]
    assert csv_text(rows, ["b"]).splitlines() == ["b", "2.5", "\"\""]        # named columns, others left out
    assert csv_text([]) == "" and csv_text([], ["x"]).strip() == "x"
    with pytest.raises(ValueError):
        csv_text([{"a": 1}, {"a": 2, "c": 3}])                              # a row with an unknown column


def test_figure_png_decodes_to_the_figure_size(check_png):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
    ax.plot([0, 1, 2], [0, 1, 0], color="tab:red")
    data = figure_png(fig)
    assert not plt.get_fignums()                                            # the figure is closed
    import matplotlib.image as mpimg

    assert mpimg.imread(io.BytesIO(data), format="png").shape[:2] == (300, 400)


def test_aggregate_over_seeds():
    agg = aggregate_runs([_run(0, "er", 0.6), _run(1, "er", 0.8)])
    assert agg["seeds"] == [0, 1] and agg["n_runs"] == 2
    assert agg["class_il_accuracy"]["mean"] == pytest.approx(0.7)
    assert agg["class_il_accuracy"]["std"] == pytest.approx(0.1)
    assert np.allclose(agg["class_il_matrix"]["mean"][2], [0.7, 0.7, 1.0])
    with pytest.raises(ValueError):
        aggregate_runs([])


def test_continual_report_files(tmp_path, check_png):
    groups = {"er-b50": [_run(0, "er", 0.6), _run(1, "er", 0.8)], "naive": [_run(0, "naive", 0.3)]}
    paths = write_continual_reports(tmp_path, groups)
    doc = json.loads(paths["json"].read_text())
    assert doc["kind"] == "snnrl-continual-summary" and set(doc["groups"]) == set(groups)
    assert doc["groups"]["er-b50"]["class_il_accuracy"]["values"] == [0.6, 0.8]
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    assert [r["group"] for r in rows] == ["er-b50", "naive"] and float(rows[0]["class_il_accuracy_mean"]) == 0.7
    for label in groups:
        check_png(paths[f"heatmap-{label}"])
    table = format_continual_summary(groups)
    assert "70.00 ± 10.00" in table and "30.00 ± 0.00" in table


def test_diverged_runs_are_recorded_beside_the_means_not_in_them(tmp_path):
    stop = {"seed": 1, "error": "training diverged: the output is not finite at experience 2", "wall_s": 3.0}
    groups = {"er-b50": [_run(0, "er", 0.6)], "staer-b50": []}
    paths = write_continual_reports(tmp_path, groups, diverged={"er-b50": [stop], "staer-b50": [dict(stop, seed=0)]})
    doc = json.loads(paths["json"].read_text())
    assert doc["groups"]["er-b50"]["class_il_accuracy"]["values"] == [0.6]      # the diverged seed is not a 0
    assert doc["groups"]["er-b50"]["diverged"] == [stop]
    assert doc["groups"]["staer-b50"] == {"n_runs": 0, "diverged": [dict(stop, seed=0)]}
    assert "(diverged)" in format_continual_summary(groups)
    with pytest.raises(ValueError, match="no runs"):
        write_continual_reports(tmp_path / "x", {"naive": []})


def test_continual_grid_rejects_an_empty_axis():
    from snnrl.continual.experiment import ContinualConfig

    with pytest.raises(ValueError, match="at least one"):
        continual_grid(ContinualConfig(), strategies=["er"], buffer_sizes=[200], seeds=[])
