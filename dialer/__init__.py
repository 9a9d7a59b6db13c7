"""SIP signalling and RTP media on Twisted, the channel pool, the campaign scheduler.
The only room with sockets.

Empty until the call-engine issue.
"""
