#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alertum.settings")
    if sys.argv[1:2] == ["up"]:
        # `up` is the embedded default: settings may generate a local SECRET_KEY.
        os.environ.setdefault("ALERTUM_EMBEDDED", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
