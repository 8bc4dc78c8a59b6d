"""The README's result blocks are rendered from committed result files, and stay in sync with them."""

from pathlib import Path

import pytest
from conftest import load_benchmark

ROOT = Path(__file__).resolve().parent.parent


def test_readme_results_blocks_match_the_result_files():
    render = load_benchmark("render_readme")
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- results:zoo -->" in text and "<!-- results:conversion -->" in text
    assert render.render(text) == text, "README out of date: run .venv/bin/python benchmarks/render_readme.py"


def test_renderer_rewrites_a_stale_block_and_rejects_unknown_blocks():
    render = load_benchmark("render_readme")
    stale = "intro\n<!-- results:zoo -->\n| made-up | 1 |\n<!-- /results:zoo -->\nend\n"
    out = render.render(stale)
    assert "made-up" not in out and "td3-invertedpendulum" in out and out.endswith("end\n")
    with pytest.raises(KeyError, match="no renderer"):
        render.render("<!-- results:nope -->\n<!-- /results:nope -->\n")


def test_conversion_blocks_name_a_scaled_calibration():
    render = load_benchmark("render_readme")
    doc = {"config": {"conversion": {"threshold_method": "max"}}}  # files written before threshold_scale existed
    assert render._calibration_label(doc) == ""
    doc["config"]["conversion"]["threshold_scale"] = 0.6
    assert render._calibration_label(doc) == " θ×0.6"


def test_a_buffer_tuned_on_its_own_is_rendered_with_its_winner_in_bold():
    render = load_benchmark("render_readme")
    tuning = {"config": {"stages": 1, "seeds": [0], "buffer500_seeds": [0, 1, 2], "buffer500_rule": "the rule"},
              "raw": {"buffer500_candidates": [{"change": {}, "mean": 0.90},
                                               {"change": {"lr": 0.1}, "mean": 0.92},
                                               {"change": {"buffer_update": "reservoir"}, "mean": 0.91}]}}
    text = render._tuning_stages(tuning)
    assert "Buffer 500 tuned on its own (the rule;" in text
    assert "the choice re-run 90.00; **lr 0.1 92.00**; buffer_update reservoir 91.00." in text
