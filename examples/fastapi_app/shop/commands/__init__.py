"""The shop's artisan commands (SCHEDULER_COMMANDS=shop.commands)."""
