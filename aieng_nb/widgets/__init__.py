"""Notebook widgets (one module per widget). Front ends only: the core never imports them.

- :mod:`aieng_nb.widgets.training_monitor`: live curves of a run (training or not), left as a
  static SVG/PNG image in the saved notebook.
"""
