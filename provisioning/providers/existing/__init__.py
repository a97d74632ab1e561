"""Provider ``existing``: run a lab on a cluster the user already has (issue 10)."""
