"""Per-ticket facts and scores, each unit's counts, rates, intervals and rank for a period,
the rules (weights and thresholds) behind them, and the reports in HTML, PDF, XLSX and JSON.
May import only `store`.
"""
