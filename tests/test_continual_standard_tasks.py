"""benchmarks/continual_standard.py: a buffer tuned on its own runs with its changes; the twins keep their rate."""

from dataclasses import replace

from conftest import load_benchmark

from snnrl.continual.experiment import ContinualConfig


def test_a_buffer_tuned_on_its_own_changes_only_its_runs(tmp_path):
    base = ContinualConfig(benchmark="split-mnist", lr=0.05, staer_beta=0.1)
    twin = replace(base, neuron="relu", lr=0.03)
    summary = {"twin_chosen": {"lr": 0.03}, "chosen_by_buffer": {"500": {"lr": 0.1, "staer_beta": 0.3}}}
    tasks = load_benchmark("continual_standard").our_tasks(base, twin, summary, [200, 500], range(1), tmp_path)
    runs = {label: task.config for label, task in tasks}
    assert len(runs) == len(tasks) == 14                      # (naive + 3 strategies x 2 buffers) x (spiking, twin)
    assert runs["staer-b200-lr0.05"].lr == 0.05 and runs["staer-b200-lr0.05"].staer_beta == 0.1
    assert runs["staer-b500-lr0.1-beta0.3"].staer_beta == 0.3
    assert runs["er-b500-lr0.1"].lr == 0.1
    twin_staer = runs["staer-b500-relu-lr0.03-beta0.3"]        # the twin: its own rate, the buffer's STAER weight
    assert twin_staer.lr == 0.03 and twin_staer.neuron == "relu" and twin_staer.staer_beta == 0.3
