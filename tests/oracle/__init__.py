"""The sync rules as a model over plain values, which the tests hold the reconciler to. Never imported by
production code: the reconciler decides each rule once, in SQL or in Python, and this model predicts what it
does."""
