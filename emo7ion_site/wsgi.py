import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emo7ion_site.settings.local")
application = get_wsgi_application()
