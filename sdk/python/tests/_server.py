"""The server the integration tests run against, as cmd/pm/sdk_python_test.go
describes it in PM_SDK_TEST_* variables (see test_client.py); without them
those tests are skipped."""

import datetime as dt
import os
import unittest

URL = os.environ.get("PM_SDK_TEST_URL")
KEY_A = os.environ.get("PM_SDK_TEST_KEY_A")
KEY_B = os.environ.get("PM_SDK_TEST_KEY_B")
KEY_ADMIN = os.environ.get("PM_SDK_TEST_KEY_ADMIN")
DATABASE = os.environ.get("PM_SDK_TEST_DATABASE", "app")
GRANTS = os.environ.get("PM_SDK_TEST_GRANTS") == "true"
TENANT_A = os.environ.get("PM_SDK_TEST_TENANT_A", "ta")
UTC = dt.timezone.utc
C = "notes"


class SharedClients(unittest.TestCase):
    """Opens one sync client per entry of ``CLIENTS`` (attribute name → API
    key) for the whole class and closes them after it."""

    CLIENTS = {}

    @classmethod
    def setUpClass(cls):
        from permission_mongo import PermissionMongo

        for name, key in cls.CLIENTS.items():
            setattr(cls, name, PermissionMongo(URL, key, timeout=20))

    @classmethod
    def tearDownClass(cls):
        for name in cls.CLIENTS:
            getattr(cls, name).close()
