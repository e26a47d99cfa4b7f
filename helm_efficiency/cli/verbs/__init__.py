"""One module per `helm-efficiency` verb: `register(add)` defines its arguments, `run(args)` calls the library."""

VERBS = ('demo', 'import_megatron', 'calibrate', 'estimate', 'explain', 'tabulate', 'registry', 'random_model', 'local_model_config', 'profile', 'denoise', 'rescore', 'leaderboard', 'schema')
