"""One module per family of track kinds; every module here is imported by the registry."""
