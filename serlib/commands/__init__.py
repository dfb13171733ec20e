"""Sub-commands of the serlib command line, one module each."""
