"""Bytecode: reading the user's instructions and emitting new code objects (layer 4).

The only package that knows bytecode encoding; it keeps the ``bytecode`` library behind
``instructions.py`` (reading) and ``pycodegen.py`` (emitting).
"""
