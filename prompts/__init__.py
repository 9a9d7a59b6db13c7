"""Prompt texts (the catalog, with ticket fields), normalised for Mandarin speech, rendered by
TTS or taken from recorded overrides into 8 kHz telephone audio, kept in a content-addressed
cache and rendered ahead of dialling in batches. Imports nothing of ours.
"""
