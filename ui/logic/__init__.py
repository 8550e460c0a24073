"""Page logic as plain functions: the pages call them, and tests call them without Streamlit."""
