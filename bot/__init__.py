"""newsbot's front ends: the CLI, the terminal REPL and the Telegram bot."""

__version__ = "0.1.0"
