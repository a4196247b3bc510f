"""Pages that combine several apps (the dashboard, the service, API and team pages with their graph
panels). Views here call the selectors and services of the apps below; no app imports portal."""
