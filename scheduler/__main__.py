"""`python -m scheduler`: the artisan command line, for the project in the current
directory (or `$SCHEDULER_ROOT`)."""

from scheduler.cli import console_main

if __name__ == "__main__":
    console_main()
