"""Interchange with the wider neuromorphic ecosystem.

* :mod:`snnrl.interop.nir_graph` — NIR graphs of converted actors and continual backbones, read back into our
  modules, and peers' (Norse, snnTorch) re-imports; what NIR cannot express is kept in metadata (``docs/nir.md``).
"""
