"""Seed gpt-image-2 and its default prices (see generations/seed.py)."""

from django.db import migrations

from generations.seed import seed_default_models


def seed(apps, schema_editor):
    seed_default_models(apps.get_model("generations", "ImageModel"), apps.get_model("generations", "ModelPrice"))


class Migration(migrations.Migration):
    dependencies = [("generations", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
