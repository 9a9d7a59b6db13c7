"""The call flow as a pure state machine (`flow`), answer understanding from words or DTMF
(`understand`, `intents`, `dtmf`), endpointing and carrier announcements, and the speech
recognisers (PocketSphinx, vosk) behind one interface with their decoding pool.

Does no network IO; may import `prompts`, for types only.
"""
