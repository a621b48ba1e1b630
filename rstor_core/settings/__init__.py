"""What a run is told, before any image exists: typed configs and their bounds, the YAML profile loader,
named random streams and atomic file writes. Imports nothing else of rstor_core."""
