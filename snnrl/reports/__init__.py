"""Reports of both sides, above them: tables, JSON (:mod:`~snnrl.reports.schema`), CSV and plots
(:mod:`~snnrl.reports.output`) for conversion sweeps (:mod:`~snnrl.reports.conversion`), per-episode energy
(:mod:`~snnrl.reports.energy`) and continual-learning grids (:mod:`~snnrl.reports.continual`), and NIR graphs of
converted actors and backbones (:mod:`~snnrl.reports.nir_graph`, ``docs/nir.md``).

The submodules are imported on use: ``from snnrl.reports.energy import write_energy_report``.
"""
