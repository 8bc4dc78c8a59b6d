"""Sweeps over both sides, above them: conversion sweeps of the control side (:mod:`~snnrl.sweeps.jobs`: config,
jobs and their results; :mod:`~snnrl.sweeps.evaluator`: running them; :mod:`~snnrl.sweeps.statistics`: the
per-``T`` summary) and continual-learning grids (:mod:`~snnrl.sweeps.continual`). Their reports live in
:mod:`snnrl.reports`.

The submodules are imported on use (the control side loads stable-baselines3, the continual side Avalanche):
``from snnrl.sweeps.evaluator import run_sweep``.
"""
