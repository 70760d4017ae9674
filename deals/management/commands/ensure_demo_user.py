from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

PASSWORD_FILE = settings.VAR_DIR / "demo-login.txt"


class Command(BaseCommand):
    help = "Create the local demo login (user 'demo') once and print how to log in."

    def handle(self, *args: object, **options: object) -> None:
        User = get_user_model()
        user = User.objects.filter(username="demo").first()
        if user is None or not PASSWORD_FILE.exists():
            password = secrets.token_urlsafe(12)
            if user is None:
                user = User.objects.create_superuser("demo", "", password)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            PASSWORD_FILE.parent.mkdir(exist_ok=True)
            PASSWORD_FILE.write_text(password + "\n", encoding="utf-8")
            PASSWORD_FILE.chmod(0o600)
        password = PASSWORD_FILE.read_text(encoding="utf-8").strip()
        self.stdout.write(f"Log in as: demo / {password}")
