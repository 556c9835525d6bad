"""Built-in benchmarks, one module per benchmark (installed as ``evalkit.tasks``)."""
