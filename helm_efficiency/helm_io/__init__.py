"""Reading HELM's files: the model catalog (HELM's YAML and a suite's prod_env), run folders, the typed request states, typed JSON decoders."""
