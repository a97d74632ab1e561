"""NetworkPolicy analysis: expected reachability, explained, computed offline from the objects.

Pure Python, no cluster and no network. ``validate`` checks policies the way the API server
does; the rest of the package builds the expected reachability matrix (see ``docs/analyze.md``).
"""
