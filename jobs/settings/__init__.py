"""Workspace settings in config.json: notification targets and experiment trackers."""
