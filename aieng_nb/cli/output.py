"""CLI output helpers (tables, --json); shared with the notebook displays via aieng_nb.rendering."""

from ..rendering import print_json, text_table

__all__ = ["print_json", "text_table"]
