"""The ``goqa`` command line: commands parse arguments, call ``core`` and print.

:mod:`cli.main` builds the parser from the command modules it lists and is the entry point.
"""
