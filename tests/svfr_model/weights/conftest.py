from fake_hub import hub, hub_files  # noqa: F401  (fixtures)
