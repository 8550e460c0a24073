"""The Streamlit console: one module per page; page logic in plain functions."""
