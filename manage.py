#!/usr/bin/env python
import os
import sys


def main() -> None:
    from tradenet import devenv

    devenv.load()  # .env.development, written by `make run` (DEBUG on, a key of its own)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradenet.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
