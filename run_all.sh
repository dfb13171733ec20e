#!/usr/bin/env bash
# Run the whole study: ./run_all.sh [PROFILE] [--from NN] [--only NN]
# Executes notebooks/NN_*.ipynb in order with papermill and the profile's parameters, writing the
# executed copies to results/<PROFILE>/notebooks/. Stops at the first failing notebook.
set -euo pipefail
cd "$(dirname "$0")"
if [ -x .venv/bin/python ]; then
    python=.venv/bin/python
else
    python=python3
fi
exec "$python" -m serlib.cli.run_all "$@"
