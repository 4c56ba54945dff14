#!/usr/bin/env bash
# Installs the real services that the integration tests start on loopback
# (see tests/support/mod.rs). Idempotent; .ci/run calls it, and a developer
# can run it by hand (as root, for the apt part) to get the same setup.
#
#   - docker-registry (Debian): the CNCF distribution registry, a real OCI
#     registry for the `oci` client tests; /usr/bin/docker-registry.
#   - apache2-utils (Debian): `htpasswd -B`, to write the bcrypt htpasswd file
#     for OciRegistry::start_with_htpasswd.
#   - moto[server] (PyPI, pinned in tests/support/requirements.txt) in a venv
#     at .venv-moto/ in the repository: a fake AWS (ECR, SQS) HTTP server.
#     The same venv has cfn-lint and boto3 (moto's own dependencies), which
#     tests/deploy.rs runs against deploy/aws/ferry.yaml.
#
# Afterwards the tests find the binaries at their default places; .ci/run also
# exports FERRY_MOTO_SERVER and FERRY_DOCKER_REGISTRY.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    apt-get update -q
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

need=()
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
if [ "${#need[@]}" -gt 0 ]; then
  apt_install "${need[@]}"
fi
/usr/bin/docker-registry --version

venv=.venv-moto
req=tests/support/requirements.txt
py="${FERRY_PYTHON:-python3}"
# The stamp records what the venv was built from; a change of either the
# requirements or the interpreter rebuilds it.
want="$(sha256sum "$req" | cut -d' ' -f1) $("$py" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null || echo none)"
if [ -f "$venv/.ferry-stamp" ] && [ "$(cat "$venv/.ferry-stamp")" = "$want" ] \
  && "$venv/bin/python" -c 'import moto.server' >/dev/null 2>&1; then
  echo "moto venv up to date ($venv)"
else
  rm -rf "$venv"
  if ! "$py" -m venv "$venv" 2>/dev/null; then
    # Debian's own python3 needs python3-venv for ensurepip.
    rm -rf "$venv"
    apt_install python3-venv
    py=/usr/bin/python3
    want="$(sha256sum "$req" | cut -d' ' -f1) $("$py" -c 'import sys; print(sys.version.split()[0])')"
    "$py" -m venv "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check --no-input -r "$req"
  echo "$want" > "$venv/.ferry-stamp"
fi
"$venv/bin/python" -c 'import moto, boto3; print("moto", moto.__version__, "boto3", boto3.__version__)'
test -x "$venv/bin/moto_server"
"$venv/bin/cfn-lint" --version
