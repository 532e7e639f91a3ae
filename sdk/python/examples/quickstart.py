"""Quickstart against `make run` (pm dev): export the demo keys it prints,
then: PYTHONPATH=sdk/python python3 sdk/python/examples/quickstart.py"""

import os

from permission_mongo import PermissionDeniedError, PermissionMongo

URL = os.environ.get("PM_URL", "http://127.0.0.1:8080")

# hana is HR at acme: every acme employee, and she may create and delete.
with PermissionMongo(url=URL, api_key=os.environ["KEY_hana"]) as client:
    for e in client.find("employees", {"department": "eng"}, sort=["name"]):
        print(f'{e["_id"]:12} {e["name"]:20} {e["title"]}')

    zoe = client.insert("employees", {"name": "Zoe Zimmer", "owner": "zoe", "title": "Engineer", "public": True})
    print("created", zoe["_id"], "in tenant", zoe["tenant_id"])  # the preset comes from hana's key
    client.update("employees", zoe["_id"], {"$set": {"title": "Staff Engineer"}})
    print("acme employees:", client.count("employees", {}))
    client.delete("employees", zoe["_id"])

# alice is an employee: her salary is deny_write, bob's record is not hers.
with PermissionMongo(url=URL, api_key=os.environ["KEY_alice"]) as alice:
    try:
        alice.update("employees", "emp-alice", {"$set": {"salary": 1}})
    except PermissionDeniedError as e:
        print("refused:", e.message)
    if alice.get("employees", "emp-bob") is None:
        print("emp-bob: not found (or not visible)")
    try:
        alice.delete("employees", "emp-alice")
    except PermissionDeniedError as e:  # the employee role has no delete action
        print("delete:", e.error_code, e.status_code)
    print("alice reads employees where", alice.explain("employees", "read")["filter"])
