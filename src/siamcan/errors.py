"""User-facing errors.

Every problem caused by the user's input (a bad box, a missing file, a config with an
unknown key, weights of the wrong architecture) is raised as :class:`SiamcanError`.
The CLI prints its message on one line and exits with code 2; library users can catch it. A failure of the
environment (a full or read-only disk) stays an OSError: one line and exit code 1.
"""


class SiamcanError(ValueError):
    """An error in the user's input, with a message that names the problem."""
