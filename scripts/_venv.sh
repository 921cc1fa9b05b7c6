# Sourced by the scripts: make (once) and activate the project's virtual environment,
# and install the project with the given extra. Needs Python 3.11+ and PyPI.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${LEADGRAPH_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[$1]"
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
