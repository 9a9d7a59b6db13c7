"""The ticket store: models, migrations, repositories, import and export.

This room imports nothing of ours (DESIGN.md §3).
"""
