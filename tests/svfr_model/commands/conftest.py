from fake_hub import _hub_objects, hub, hub_files  # noqa: F401  (fixtures)
