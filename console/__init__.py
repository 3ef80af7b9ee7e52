"""The application's side of the scheduler: its kernel and its artisan commands."""
