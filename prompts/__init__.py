"""Prompt texts, TTS rendering to 8 kHz telephone audio, cache. Imports nothing of ours.

Empty until the prompts issue.
"""
