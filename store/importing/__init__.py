"""Import of units, tickets, evaluations and exclusions from CSV, XLSX and JSON Lines."""
