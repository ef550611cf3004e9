#!/usr/bin/env python
"""Django's command-line utility for Emo7ion."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emo7ion_site.settings.local")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
