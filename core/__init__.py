"""goqa's headless core: data, prompts, metric, backends, runner, store and config.

Nothing in this package imports a terminal UI library; scripts, the CLI and the Textual app
all call into it.
"""

__version__ = "0.1.0"
