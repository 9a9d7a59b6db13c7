"""Per-ticket scores, rates, rankings and reports. May import only `store`.

Empty until the scoring issue.
"""
