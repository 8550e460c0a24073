"""Pieces of pages that several pages share (the post view's composer and case actions)."""
