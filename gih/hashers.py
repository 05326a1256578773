"""Django's PBKDF2 password hasher, hashing off the gevent event loop (see gih/offload.py).

Same algorithm name and format as Django's, so every stored hash keeps verifying and
nothing is re-hashed; only where the work runs changes. Login, sign-up, password change
and the dummy hash Django computes for unknown e-mails all go through `encode`.
"""

from django.contrib.auth import hashers

from gih.offload import off_loop


class PBKDF2PasswordHasher(hashers.PBKDF2PasswordHasher):
    def encode(self, password, salt, iterations=None):
        return off_loop(super().encode, password, salt, iterations)
