"""Variable trackers: symbolic stand-ins for the Python values a traced frame touches (layer 3).

One file per family. Trackers never import the builder or the interpreter: they get a
narrow context object ``tx`` (see ``base.Tx``) to wrap values, install guards, record
graph operations and inline calls.
"""
