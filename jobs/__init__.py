"""Background work: the arq worker, the send pipeline, pacing, channel adapters."""
