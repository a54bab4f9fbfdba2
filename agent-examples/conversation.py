"""Drive one conversation's tool calls through the official Python MCP SDK.

    pip install "mcp==2.3.0"    # the version CI runs it with
    python agent-examples/conversation.py            # uses `paylink` on PATH
    PAYLINK_BIN=./target/debug/paylink python agent-examples/conversation.py

With no Flow credentials paylink uses its built-in offline sandbox, so this runs anywhere.
"""

import asyncio
import json
import os
import tempfile

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def structured(result):
    # The SDK names the field structuredContent or structured_content depending on its version.
    return getattr(result, "structuredContent", None) or getattr(result, "structured_content", None)


async def main() -> None:
    data_dir = tempfile.mkdtemp(prefix="paylink-example-")
    server = StdioServerParameters(
        command=os.environ.get("PAYLINK_BIN", "paylink"),
        args=["serve", "--tool-names", "snake"],
        env={**os.environ, "PAYLINK_DATA_DIR": data_dir, "PAYLINK_LISTEN": "127.0.0.1:0"},
    )
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            print("tools:", [t.name for t in tools.tools])

            # The customer asked to pay for Tuesday's class: CLP 5.000.
            created = await session.call_tool(
                "payment_create",
                {
                    "amount": 5000,
                    "description": "Clase de matemáticas, martes 10:00",
                    "customerEmail": "apoderado@gmail.com",
                    "entityId": "session-42",
                    "idempotencyKey": "session-42-attempt-1",
                },
            )
            payment = structured(created)
            print("give the customer this link:", payment["paymentLinkUrl"])

            # A blind retry of the same call returns the same payment, not a second link.
            again = await session.call_tool(
                "payment_create",
                {
                    "amount": 5000,
                    "description": "Clase de matemáticas, martes 10:00",
                    "customerEmail": "apoderado@gmail.com",
                    "entityId": "session-42",
                    "idempotencyKey": "session-42-attempt-1",
                },
            )
            assert structured(again)["paymentId"] == payment["paymentId"]

            # Later in the conversation: has the customer paid?
            status = await session.call_tool("payment_get_status", {"entityId": payment["paymentId"]})
            print("status:", json.dumps(structured(status), ensure_ascii=False))

            # A mistake the model can act on: 10.5 CLP.
            bad = await session.call_tool(
                "payment_create",
                {"amount": 10.5, "description": "x", "customerEmail": "apoderado@gmail.com"},
            )
            print("error:", structured(bad)["error"]["code"], "-", structured(bad)["error"]["nextStep"])


if __name__ == "__main__":
    asyncio.run(main())
