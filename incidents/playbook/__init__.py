"""Response playbooks: per-severity steps that remind the incident's role holders what to
do and when (docs/playbooks.md).

- `actions`: arm an incident with its severity's steps, skip them on resolve, fire due
  reminders (the beat tick), e-mail them, mark them done; edit templates.
- `api`, `views`: the REST and htmx doors; `incidents/admin.py` registers the admin.
"""
