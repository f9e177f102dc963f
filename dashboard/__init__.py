"""Tunedeck's Streamlit dashboard."""
