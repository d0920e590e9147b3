# Runs inside the Debian root file system of base-python (hack/images/build.sh).
set -eu
# The images' Python: a venv first on PATH (python, pip), as the upstream bases provide one.
python3 -m venv /opt/venv
# Login shells (KubeRay starts Ray with `bash -lc`) keep it first: Debian's /etc/profile resets PATH.
echo 'PATH=/opt/venv/bin:$PATH; export PATH' >/etc/profile.d/00-venv.sh
/opt/venv/bin/python -m pip --version >/dev/null
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log
