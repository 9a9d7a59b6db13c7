"""`huifang asr-eval`: a labelled corpus, the telephone channel, and the measures."""
