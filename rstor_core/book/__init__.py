"""The book over the library: a chapter's one opening call, the runner (papermill, staging, manifest), the
site build, figures, tables, widgets and the landing page. Nothing below imports it."""
