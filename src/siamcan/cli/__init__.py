"""The ``siamcan`` command line."""
