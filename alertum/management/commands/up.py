"""`manage.py up`: the embedded default in one command.

Migrates, loads demo data once, then starts and supervises daphne (HTTP and
WebSockets), one celery worker and celery beat, and prints the URL and a login.
If any of them exits, the others are stopped and the command exits non-zero.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from alertum.core.models import User


class Command(BaseCommand):
    help = "Start the whole portal (web, worker, beat) on the embedded default."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-demo", action="store_true", help="do not load demo data")

    def handle(self, *args, host, port, no_demo, **options):
        if not os.environ.get("ALERTUM_BASE_URL"):
            # Links in notifications, and the demo monitors that watch this portal, need the
            # address it really listens on; the children read it from the environment.
            base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
            os.environ["ALERTUM_BASE_URL"] = base
            settings.BASE_URL = settings.ONCALL_BASE_URL = base
            if not os.environ.get("STATUSPAGES_BASE_URL"):
                settings.STATUSPAGES_BASE_URL = base
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database ready: " + str(settings.DATABASES["default"]["NAME"]))
        if not no_demo and not User.objects.exists():
            call_command("seed_demo")
        login = _saved_demo_login()

        env = {**os.environ, "ALERTUM_EMBEDDED": "1", "PYTHONUNBUFFERED": "1"}
        python = sys.executable
        commands = {
            "web": [python, "-m", "daphne", "-b", host, "-p", str(port), "alertum.asgi:application"],
            "worker": [python, "-m", "celery", "-A", "alertum", "worker", "-l", "warning", "--concurrency", "2",
                       "-Q", "celery,paging", "-n", "embedded@%h"],
            "beat": [python, "-m", "celery", "-A", "alertum", "beat", "-l", "warning",
                     "-s", str(settings.VAR_DIR / "celerybeat-schedule")],
        }
        children = {name: subprocess.Popen(cmd, env=env, cwd=settings.BASE_DIR) for name, cmd in commands.items()}

        def stop(*_):
            for child in children.values():
                if child.poll() is None:
                    child.terminate()
            for child in children.values():
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()

        signal.signal(signal.SIGTERM, lambda *a: (stop(), sys.exit(0)))
        url = f"http://{host}:{port}/"
        self.stdout.write(self.style.SUCCESS(f"\nAlertum is starting on {url}  (web, worker and beat)"))
        if login:
            self.stdout.write(self.style.SUCCESS(f"Sign in as {login[0]} / {login[1]}"))
        self.stdout.write("Admin: " + url + "admin/   API docs: " + url + "api/docs/   Ctrl-C stops everything.\n")
        try:
            while True:
                for name, child in children.items():
                    code = child.poll()
                    if code is not None:
                        self.stderr.write(f"{name} exited with code {code}; stopping the portal")
                        stop()
                        sys.exit(code or 1)
                time.sleep(0.5)
        except KeyboardInterrupt:
            stop()


def _saved_demo_login():
    path = settings.VAR_DIR / "demo_login"
    if path.exists():
        user, _, password = path.read_text().strip().partition(" ")
        return user, password
    return None
