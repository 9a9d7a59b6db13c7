"""The demo's citizens: personas that answer like people do, and the loopback SIP callee
(`simulator`) that plays them. A test peer for the demo and the tests, not part of the
service."""
