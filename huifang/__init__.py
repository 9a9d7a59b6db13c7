"""The application room: the one place the service is wired (`service.py`), the `huifang`
command line (`cli/`), the supervisors' web console (`web/`), the demo and its citizen
simulator (`demo/`), and the speech evaluation harness (`evaluation/`)."""
