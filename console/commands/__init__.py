"""The application's artisan commands; every module here is found automatically."""
