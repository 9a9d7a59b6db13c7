"""A report written to a file, its format taken from the file's suffix."""

from __future__ import annotations

from pathlib import Path

from scoring.report import Report

FORMATS = (".json", ".xlsx", ".html", ".htm", ".pdf")


def write_report(report: Report, path: Path) -> None:
    """Write `report` to `path` (.json, .xlsx, .html or .pdf); ValueError otherwise."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: unknown report format (use .json, .xlsx, .html or .pdf)")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".json":
        from scoring.export_json import write_json  # noqa: PLC0415 - each format on demand

        write_json(report, str(path))
    elif suffix == ".xlsx":
        from scoring.export_xlsx import write_xlsx  # noqa: PLC0415

        write_xlsx(report, path)
    elif suffix == ".pdf":
        from scoring.export_pdf import write_pdf  # noqa: PLC0415

        write_pdf(report, path)
    else:
        from scoring.export_html import write_html  # noqa: PLC0415

        write_html(report, path)
