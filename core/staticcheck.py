"""Static files gathered for production, checked before serving.

In production, static files are served from what `collectstatic` gathered into STATIC_ROOT,
under names that carry their content hash, looked up in its manifest. Without that manifest (or
with one older than the code), pages that reference a missing file answer 500 (the API docs
first). So the server refuses to start instead, saying what to run; `manage.py check --deploy`
reports the same.
"""

from __future__ import annotations

from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core import checks

HOW_TO_FIX = (
    "Run `python manage.py collectstatic --noinput` with the same settings before starting "
    "the server (deploy/start.sh and the Docker image do), or set DJANGO_DEBUG=1 for local "
    "development, where files are served straight from the apps."
)


def problem() -> str | None:
    """Why static files cannot be served as configured, or None."""
    if not isinstance(staticfiles_storage, ManifestFilesMixin):
        return None
    manifest = staticfiles_storage.read_manifest()
    if manifest is None:
        return (
            f"Static files have not been gathered: no {staticfiles_storage.manifest_name} in "
            f"{staticfiles_storage.location}. {HOW_TO_FIX}"
        )
    gathered, _ = staticfiles_storage.load_manifest()
    missing = sorted(
        path
        for finder in finders.get_finders()
        for path, _ in finder.list(["CVS", ".*", "*~"])
        if path not in gathered
    )
    if missing:
        return (
            f"Static files were gathered by an older version: {len(missing)} missing from the "
            f"manifest (first: {missing[0]}). {HOW_TO_FIX}"
        )
    return None


@checks.register(checks.Tags.staticfiles, deploy=True)
def check_static_files(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    found = problem()
    return [checks.Error(found, id="tradenet.E001")] if found else []
