"""The edge: the `huifang` command line (and, later, the supervisors' web console)."""
