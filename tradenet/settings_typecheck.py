"""Settings for mypy (pyproject.toml's `[tool.django-stubs]`): the test settings, with a
database that is never connected to. The django-stubs plugin runs `django.setup()` to read the
models, and without DATABASE_URL the settings would start the embedded PostgreSQL; type
checking needs neither a database nor the environment of the shell it runs in."""

import os

os.environ["DATABASE_URL"] = "postgres://typecheck@127.0.0.1:1/never-connected"

from tradenet.settings_test import *  # noqa: F403
