"""Datasets: formats and their detection, the one JSONL reader, upload scans, format checks, token stats, demo data."""
