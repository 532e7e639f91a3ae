"""The async client against `make run`:
PYTHONPATH=sdk/python python3 sdk/python/examples/quickstart_async.py"""

import asyncio
import os

from permission_mongo import AsyncPermissionMongo

URL = os.environ.get("PM_URL", "http://127.0.0.1:8080")


async def main():
    async with AsyncPermissionMongo(url=URL, api_key=os.environ["KEY_hana"]) as client:
        user = await client.insert("employees", {"name": "Async User", "owner": "async", "department": "eng"})
        print("created", user["_id"])

        employees = await client.find("employees", {"department": "eng"}, sort=["name"])
        async for e in employees:  # follows the server's cursor page by page
            print(e["name"])

        # Calls run concurrently over the client's connection pool.
        counts = await asyncio.gather(*(client.count("employees", {"department": d}) for d in ("eng", "ops")))
        print("eng, ops:", counts)
        await client.delete("employees", user["_id"])


asyncio.run(main())
