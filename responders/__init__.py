"""Responders: acting on what the classifier found. ``responders.open311`` files and follows
service requests; ``responders.replies`` drafts and sends replies."""
