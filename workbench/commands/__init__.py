"""One module per CLI subcommand: ``prepare_parser(parser)`` and ``run(args) -> int``."""
