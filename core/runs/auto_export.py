"""Export the winner of a finished autodistill search (core.export: ONNX + predict.py)."""

from __future__ import annotations

import json


def export_winner(store, search_id: int, out, check: int | None = None):
    """Export the winner of a finished search (its trial run's distilled student) to `out`:
    ONNX and predict.py (core.export), checked against Distillery's own scoring."""
    from core.export.exporter import export_model

    path = store.run_dir(search_id, create=False) / "results.json"
    if not path.is_file():
        raise ValueError(f"run {search_id} has no answer yet (not a finished autodistill run)")
    winner = json.loads(path.read_text()).get("winner")
    if not winner:
        raise ValueError(f"run {search_id} found no student under its budget")
    return export_model(store, winner["run"], f"{winner['method']}_distilled", out, check=check)
