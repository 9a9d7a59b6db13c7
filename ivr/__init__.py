"""The call flow as a pure state machine and answer understanding. Does no IO.

Empty until the recognition and campaign issues.
"""
