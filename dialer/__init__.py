"""SIP signalling (messages, SDP, digest, REGISTER, the call's state machine) and RTP media
on Twisted; the trunk with its channel pool, calling windows and thread pools; and the
campaign scheduler that picks due callbacks, drives each call and saves what it heard.
The only room with sockets; may import `ivr`, `prompts` and `store`.
"""
