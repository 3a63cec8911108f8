"""Resume points: ours and Trakt's, looked up when a viewing begins at the start, and the seeks."""
