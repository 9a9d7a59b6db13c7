"""Defaults the configuration shares with the dialer, in a module that imports nothing,
so that reading the configuration does not load the SIP and media stack."""

# where a number is dialled when nothing is configured: a trunk on this machine
DEFAULT_TARGET = "sip:{number}@127.0.0.1:5080"
