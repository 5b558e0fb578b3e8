"""A PEP 517 build backend in the standard library, for cairn-client only.

Why not setuptools: Debian 12's python3-setuptools (66) builds wheels only
with the separate `wheel` package, and pip's build isolation would fetch
both from an index, which an offline machine does not have. A pure-Python
package needs no more than this: the package's .py files and three
dist-info files in a zip (the wheel format, PEP 427 / PEP 491).

Reads [project] name, version, description, requires-python and
[tool.cairn-build] packages from pyproject.toml. Hooks: build_wheel,
build_editable (a .pth file pointing at this tree), build_sdist, and the
get_requires_* hooks (nothing is required).
"""
import base64
import hashlib
import io
import os
import tarfile
import tomllib
import zipfile

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A fixed date inside the archives: the same tree builds the same bytes.
_ZIP_DATE = (2026, 1, 1, 0, 0, 0)


def _project():
    with open(os.path.join(_ROOT, "pyproject.toml"), "rb") as f:
        doc = tomllib.load(f)
    project = doc["project"]
    packages = doc.get("tool", {}).get("cairn-build", {}).get("packages", [])
    return project, packages


def _dist_name(project):
    return project["name"].replace("-", "_")


def _metadata(project):
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}",
             f"Version: {project['version']}"]
    if "description" in project:
        lines.append(f"Summary: {project['description']}")
    if "requires-python" in project:
        lines.append(f"Requires-Python: {project['requires-python']}")
    return "\n".join(lines) + "\n"


def _record_hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def _package_files(packages):
    for package in packages:
        base = os.path.join(_ROOT, package)
        for dirpath, dirnames, names in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(names):
                if name.endswith(".py"):
                    full = os.path.join(dirpath, name)
                    yield os.path.relpath(full, _ROOT).replace(os.sep, "/"), full


def _write_wheel(wheel_directory, files):
    """files: [(archive name, bytes)]; adds dist-info and returns the name."""
    project, _ = _project()
    dist = _dist_name(project)
    version = project["version"]
    info = f"{dist}-{version}.dist-info"
    wheel_name = f"{dist}-{version}-py3-none-any.whl"
    files = list(files) + [
        (f"{info}/METADATA", _metadata(project).encode()),
        (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: cairn_build\n"
                          b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
    ]
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files)
    record += f"{info}/RECORD,,\n"
    files.append((f"{info}/RECORD", record.encode()))
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w",
                         zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            entry = zipfile.ZipInfo(name, _ZIP_DATE)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(entry, data)
    return wheel_name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _, packages = _project()
    files = []
    for name, full in _package_files(packages):
        with open(full, "rb") as f:
            files.append((name, f.read()))
    return _write_wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    project, _ = _project()
    pth = f"{_dist_name(project)}.pth"
    return _write_wheel(wheel_directory, [(pth, (_ROOT + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    project, packages = _project()
    base = f"{_dist_name(project)}-{project['version']}"
    names = ["pyproject.toml", "README.md", "pep517/cairn_build.py"]
    names += [name for name, _ in _package_files(packages)]
    path = os.path.join(sdist_directory, base + ".tar.gz")
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        pkg_info = _metadata(project).encode()
        entry = tarfile.TarInfo(f"{base}/PKG-INFO")
        entry.size = len(pkg_info)
        tar.addfile(entry, io.BytesIO(pkg_info))
        for name in names:
            tar.add(os.path.join(_ROOT, name), arcname=f"{base}/{name}", recursive=False)
    return base + ".tar.gz"
