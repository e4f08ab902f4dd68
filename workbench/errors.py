"""The workbench's own error types (no TensorFlow here)."""


class WorkbenchError(Exception):
    """Base class: a problem the user can fix, reported as one line (no traceback)."""


class ConfigError(WorkbenchError, ValueError):
    """A configuration value is invalid; the message names the problem and the fix."""
