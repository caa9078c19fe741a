"""``coverage-audit init``: a first service map from what a repository and a running Prometheus
already say (DESIGN 3.6). ``repository`` reads the repository, ``prometheus`` asks the server,
``render`` writes the map with every guess marked; ``settings`` is what to look for (data)."""
