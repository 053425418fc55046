"""Distillery's Streamlit dashboard: a client of `core`, with no training logic of its own.

`tables`, `report` and `charts` are plain functions (testable without Streamlit); `widgets` holds
the Streamlit pieces the pages share; `app` is the entry point (`python -m dashboard`).
"""
