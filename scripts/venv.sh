# Sourced by scripts/start and scripts/test: make .venv and install pingtally into it when
# pyproject.toml changed since the last install.
ensure_venv() {
  local extras="$1"
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  local stamp=".venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)${extras}"
  if [ ! -f "$stamp" ]; then
    echo "==> installing pingtally into .venv (one time)" >&2
    .venv/bin/pip install --quiet --disable-pip-version-check -e ".${extras}"
    touch "$stamp"
  fi
}
