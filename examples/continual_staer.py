"""STAER vs ER on split digits (scikit-learn's 8x8 digits, offline), two seeds, in about a minute on a CPU.

Run: .venv/bin/python examples/continual_staer.py
"""

from snnrl.continual.experiment import ContinualConfig, run_continual

for strategy in ("er", "staer"):
    for seed in (0, 1):
        result = run_continual(ContinualConfig(benchmark="split-digits", strategy=strategy, buffer_size=100, epochs=2,
                                               seed=seed, staer_beta=0.1), progress=False)
        print(f"{strategy} seed {seed}: class-IL {100 * result['class_il_accuracy']:.1f}%, "
              f"task-IL {100 * result['task_il_accuracy']:.1f}%, forgetting {100 * result['class_il_forgetting']:.1f}%")
